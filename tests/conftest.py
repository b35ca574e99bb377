"""Shared fixtures: a fresh store per test, and the public datasets when present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retain.data import Store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "retain.duckdb") as s:
        yield s


@pytest.fixture
def shared_data() -> Path:
    """The public datasets folder; tests using it skip with a reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public datasets not found at {SHARED_DATA} (they live in ../shared/data)")
    return SHARED_DATA


def write(path: Path, text: str | bytes) -> Path:
    """Write a small fixture file and return its path."""
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
