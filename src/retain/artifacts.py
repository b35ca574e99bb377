"""Versioned model folders with an atomic "current" pointer.

A capability saves a trained model into a fresh folder; :func:`publish` moves
it under ``<root>/<kind>/<version>`` and then replaces the ``CURRENT`` file
with one ``os.replace``, so a reader (the service, a scoring job) always loads
either the previous complete model or the new complete one, never a folder
that is still being written. Old versions stay for roll-back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from retain.errors import NotFoundError

__all__ = ["content_version", "current_version", "publish", "version_path"]

_POINTER = "CURRENT"


def content_version(folder: Path) -> str:
    """A short hash of every file's name and bytes: equal models get equal versions."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def publish(root: Path, kind: str, write: Callable[[Path], None]) -> str:
    """Run ``write(folder)`` into a temporary folder, then make it the current version.

    Returns:
        The new version (a content hash).
    """
    home = root / kind
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
    try:
        write(staging)
        version = content_version(staging)
        target = home / version
        if target.exists():
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    pointer = home / f".{_POINTER}.tmp"
    pointer.write_text(version + "\n", encoding="utf-8")
    os.replace(pointer, home / _POINTER)
    return version


def current_version(root: Path, kind: str) -> str:
    """The version ``CURRENT`` names.

    Raises:
        NotFoundError: nothing of this kind has been published.
    """
    pointer = root / kind / _POINTER
    if not pointer.is_file():
        raise NotFoundError(
            f"no trained {kind} model under {root}; train one first (retain train {kind})"
        )
    return pointer.read_text(encoding="utf-8").strip()


def version_path(root: Path, kind: str, version: str | None = None) -> Path:
    """The folder of ``version`` (default: the current one)."""
    chosen = version or current_version(root, kind)
    folder = root / kind / chosen
    if not folder.is_dir():
        raise NotFoundError(f"no {kind} model version {chosen} under {root / kind}")
    return folder
