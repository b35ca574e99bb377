"""Model versions: publish, promote, roll back, list — each one pointer replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from retain.artifacts import current_version, list_versions, promote, prune, publish, rollback
from retain.errors import NotFoundError


def _write(text: str):  # type: ignore[no-untyped-def]
    return lambda folder: (folder / "model.txt").write_text(text)


def test_promote_and_rollback_walk_the_history(tmp_path: Path) -> None:
    a = publish(tmp_path, "demo", _write("a"))
    b = publish(tmp_path, "demo", _write("b"))
    assert current_version(tmp_path, "demo") == b
    assert rollback(tmp_path, "demo") == a
    assert current_version(tmp_path, "demo") == a
    assert promote(tmp_path, "demo", b) == b
    assert current_version(tmp_path, "demo") == b
    versions = list_versions(tmp_path, "demo")
    assert {v.version for v in versions} == {a, b}
    assert [v.version for v in versions if v.current] == [b]


def test_the_same_content_publishes_the_same_version(tmp_path: Path) -> None:
    assert publish(tmp_path, "demo", _write("x")) == publish(tmp_path, "demo", _write("x"))
    assert len(list_versions(tmp_path, "demo")) == 1


def test_promote_refuses_a_version_that_is_not_stored(tmp_path: Path) -> None:
    a = publish(tmp_path, "demo", _write("a"))
    with pytest.raises(NotFoundError, match="no demo model version nope"):
        promote(tmp_path, "demo", "nope")
    assert current_version(tmp_path, "demo") == a


def test_rollback_with_nothing_earlier_says_so(tmp_path: Path) -> None:
    publish(tmp_path, "demo", _write("a"))
    with pytest.raises(NotFoundError, match="no earlier demo version"):
        rollback(tmp_path, "demo")
    with pytest.raises(NotFoundError):
        rollback(tmp_path, "never-trained")


def test_a_failed_write_leaves_the_current_version_alone(tmp_path: Path) -> None:
    a = publish(tmp_path, "demo", _write("a"))

    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish(tmp_path, "demo", broken)
    assert current_version(tmp_path, "demo") == a
    assert [v.version for v in list_versions(tmp_path, "demo")] == [a]


def test_prune_keeps_the_current_version_and_the_newest_others(tmp_path: Path) -> None:
    import os

    made = [publish(tmp_path, "demo", _write(text)) for text in ("a", "b", "c")]
    for age, version in enumerate(made):  # distinct creation times, oldest first
        os.utime(tmp_path / "demo" / version, (1_000_000 + age, 1_000_000 + age))
    promote(tmp_path, "demo", made[0])
    assert prune(tmp_path, "demo", keep=1) == [made[1]]
    assert {v.version for v in list_versions(tmp_path, "demo")} == {made[0], made[2]}
    assert prune(tmp_path, "demo") == [made[2]]
    assert [v.version for v in list_versions(tmp_path, "demo")] == [made[0]]
    with pytest.raises(ValueError, match="keep must be"):
        prune(tmp_path, "demo", keep=-1)
