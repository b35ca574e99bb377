"""A live model says which version it is loading while it still serves the old one."""

from __future__ import annotations

import threading
from pathlib import Path

from retain.artifacts import publish
from retain.serve.live import LiveModel


def test_loading_names_the_version_under_way_and_clears_when_it_serves(tmp_path: Path) -> None:
    first = publish(tmp_path, "demo", lambda folder: (folder / "v").write_text("1"))
    release = threading.Event()

    def load(folder: Path) -> str:
        if folder.name != first:
            release.wait(timeout=30)  # the second version loads slowly
        return (folder / "v").read_text()

    live = LiveModel(tmp_path, "demo", load)
    assert live.poll() and live.loading is None and live.serving == (first, "1")
    second = publish(tmp_path, "demo", lambda folder: (folder / "v").write_text("2"))
    poller = threading.Thread(target=live.poll)
    poller.start()
    try:
        for _ in range(300):
            if live.loading is not None:
                break
            threading.Event().wait(0.01)
        assert live.loading == second and live.serving == (first, "1")
    finally:
        release.set()
        poller.join(timeout=30)
    assert live.loading is None and live.serving == (second, "2") and live.swaps == 2
