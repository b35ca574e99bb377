"""Models as the service serves them: loaded once, swapped whole when a new version is promoted.

A :class:`LiveModel` holds one capability's ``(version, model)`` pair. A
watcher thread reads each kind's ``CURRENT`` pointer every poll interval;
when it names a new version, the watcher loads it beside the serving one,
checks it with a probe call, and only then replaces the pair in one
assignment. Requests that started on the old model finish on it; the next
ones get the new one; none waits for the load. A version that fails to load
or to answer the probe (a corrupt file, an incompatible format) is refused:
the old model keeps serving and the failure is reported in ``/v1/models``
and ``/metrics``. A refused version is not retried until the pointer moves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from retain.artifacts import current_version, version_path
from retain.errors import NotFoundError

__all__ = ["LiveModel", "ModelWatcher", "Refusal"]

T = TypeVar("T")
_log = logging.getLogger("retain.serve")


@dataclass(frozen=True)
class Refusal:
    """A version the service would not serve, and why."""

    version: str
    reason: str


class LiveModel(Generic[T]):
    """The serving version of one kind of model.

    Args:
        root: The models folder (``<data_dir>/models``).
        kind: ``recommend``, ``sentiment``, ...
        load: Reads a version folder into a model.
        probe: Called on a freshly loaded model; raising refuses the version.
        prepare: Called with ``(version, model, serving)`` after the probe and
            before the swap, to bring the new model up to date (replay
            events the old one saw) and warm caches; raising refuses it.
    """

    def __init__(
        self,
        root: Path,
        kind: str,
        load: Callable[[Path], T],
        probe: Callable[[T], Any] | None = None,
        prepare: Callable[[str, T], Any] | None = None,
    ) -> None:
        self.root = root
        self.kind = kind
        self._load = load
        self._probe = probe
        self._prepare = prepare
        self._swap_lock = threading.Lock()
        self._serving: tuple[str, T] | None = None
        self.refused: Refusal | None = None
        self.swaps = 0
        #: The version being loaded now, if any (it serves the old one meanwhile).
        self.loading: str | None = None
        #: Seconds each recent swap took, from reading the pointer to serving (newest last).
        self.load_seconds: deque[float] = deque(maxlen=20)
        self._lock = threading.Lock()

    @property
    def serving(self) -> tuple[str, T] | None:
        """``(version, model)`` now serving, or None when nothing could be loaded yet.

        The first use loads the current version, so a process that never
        started the watcher (a test client, a script) still serves models.
        """
        if self._serving is None:
            self.poll()
        return self._serving

    @contextmanager
    def held(self) -> Iterator[tuple[str, T] | None]:
        """The serving ``(version, model)``, with no swap possible until the block ends.

        For feeding events to the serving model: a swap cannot slip in
        between, so no event is fed to a model on its way out and missed by
        its successor's replay. The first version is loaded before the lock
        is taken, because a load takes it too.
        """
        _ = self.serving
        with self._swap_lock:
            yield self._serving

    def poll(self) -> bool:
        """Load the version ``CURRENT`` names if it is new; returns whether it swapped."""
        with self._lock:  # one load at a time per kind
            try:
                wanted = current_version(self.root, self.kind)
            except NotFoundError:
                return False
            if self._serving is not None and self._serving[0] == wanted:
                return False
            if self.refused is not None and self.refused.version == wanted:
                return False
            started = time.perf_counter()
            self.loading = wanted
            try:
                model = self._load(version_path(self.root, self.kind, wanted))
                if self._probe is not None:
                    self._probe(model)
                with self._swap_lock:
                    if self._prepare is not None:
                        self._prepare(wanted, model)
                    self._serving = (wanted, model)
            except Exception as exc:  # any failure to load means: do not serve it
                self.refused = Refusal(wanted, f"{type(exc).__name__}: {exc}"[:500])
                _log.error("refused %s model %s: %s", self.kind, wanted, self.refused.reason)
                return False
            finally:
                self.loading = None
            self.refused = None
            self.swaps += 1
            self.load_seconds.append(round(time.perf_counter() - started, 3))
            _log.info("serving %s model %s", self.kind, wanted)
            return True


class ModelWatcher:
    """A daemon thread that polls every live model (and runs ``also`` tasks, such as
    re-reading API keys) so that no request waits for a store read or a load."""

    def __init__(
        self,
        models: Iterable[LiveModel[Any]],
        interval: float,
        also: Iterable[Callable[[], Any]] = (),
    ) -> None:
        self.models = list(models)
        self.interval = interval
        self.also = list(also)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retain-model-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def poll_all(self) -> None:
        for model in self.models:
            model.poll()
        for task in self.also:
            task()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_all()
            except Exception:  # the watcher must outlive any one bad poll
                _log.exception("model poll failed")
