"""Versioned model folders with an atomic "current" pointer.

A capability saves a trained model into a fresh folder; :func:`publish` moves
it under ``<root>/<kind>/<version>`` and then replaces the ``CURRENT`` file
with one ``os.replace``, so a reader (the service, a scoring job) always loads
either the previous complete model or the new complete one, never a folder
that is still being written. Old versions stay for roll-back: :func:`promote`
points ``CURRENT`` at any stored version and :func:`rollback` at the one
promoted before, each with the same single ``os.replace``. Every pointer
change is appended to ``HISTORY`` (time, version, how), which is what a
roll-back walks back through.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retain.errors import InvalidInputError, NotFoundError

__all__ = [
    "StoredVersion",
    "content_version",
    "current_version",
    "list_versions",
    "promote",
    "prune",
    "publish",
    "rollback",
    "version_path",
]

_POINTER = "CURRENT"
_HISTORY = "HISTORY"


@dataclass(frozen=True)
class StoredVersion:
    """One stored model version of a kind."""

    version: str
    created_at: dt.datetime
    current: bool


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
    _point(home, version, "publish")
    return version


def _point(home: Path, version: str, how: str) -> None:
    """Make ``version`` current (one ``os.replace``) and record it in the history."""
    pointer = home / f".{_POINTER}.tmp"
    pointer.write_text(version + "\n", encoding="utf-8")
    os.replace(pointer, home / _POINTER)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with (home / _HISTORY).open("a", encoding="utf-8") as log:
        log.write(f"{stamp}\t{version}\t{how}\n")


def promote(root: Path, kind: str, version: str) -> str:
    """Make a stored ``version`` of ``kind`` the current one (a roll-forward or back).

    Raises:
        NotFoundError: no such version is stored.
    """
    version_path(root, kind, version)
    _point(root / kind, version, "promote")
    return version


def rollback(root: Path, kind: str) -> str:
    """Point ``CURRENT`` back at the version that was current before this one.

    Raises:
        NotFoundError: nothing is published, or no earlier version differs
            from the current one (or it has been deleted).
    """
    current = current_version(root, kind)
    history = root / kind / _HISTORY
    lines = history.read_text(encoding="utf-8").splitlines() if history.is_file() else []
    earlier = [line.split("\t")[1] for line in lines if line.count("\t") >= 2]
    # Walk back past every entry that is the current version itself.
    while earlier and earlier[-1] == current:
        earlier.pop()
    for version in reversed(earlier):
        if version != current and (root / kind / version).is_dir():
            _point(root / kind, version, "rollback")
            return version
    raise NotFoundError(f"no earlier {kind} version to roll back to (current: {current})")


def list_versions(root: Path, kind: str) -> list[StoredVersion]:
    """Every stored version of ``kind``, newest first."""
    home = root / kind
    if not home.is_dir():
        return []
    pointer = home / _POINTER
    current = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    found = [
        StoredVersion(
            folder.name,
            dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC),
            folder.name == current,
        )
        for folder in home.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
    ]
    return sorted(found, key=lambda v: v.created_at, reverse=True)


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


def prune(root: Path, kind: str, keep: int = 0) -> list[str]:
    """Delete stored versions of ``kind`` except the current one and the ``keep`` newest others.

    After an erase request, ``prune(..., keep=0)`` once the retrained version
    is current removes every model file that was trained on the erased data.

    Returns:
        The deleted versions.
    """
    if keep < 0:
        raise InvalidInputError(f"keep must be >= 0, got {keep}")
    others = [v for v in list_versions(root, kind) if not v.current]
    doomed = [v.version for v in others[keep:]]
    for version in doomed:
        shutil.rmtree(root / kind / version)
    return doomed
