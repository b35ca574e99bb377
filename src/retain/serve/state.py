"""What one service process holds: the store openers, live models, keys and limits.

The dashboard pages and the ``/v1`` API share one :class:`ServiceState`, so a
chat turn on a customer page and ``POST /v1/chat`` run the same assistant,
and both see a promoted model at the same moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.assistant.gaps import group_questions, wording_only
from retain.assistant.intents import IntentClassifier
from retain.assistant.responder import LLMBackend
from retain.assistant.service import MODEL_KIND as ASSISTANT_KIND
from retain.assistant.service import load_assistant_parts
from retain.assistant.tools import AssistantTables, EmbeddedAssistantTables
from retain.config import Settings
from retain.data.store import Store
from retain.errors import InvalidInputError, StoreError
from retain.predict.standing import customer_standing
from retain.privacy import erase_user
from retain.recommend.recommender import Recommender
from retain.recommend.scoring import MODEL_KIND as RECOMMEND_KIND
from retain.sentiment.model import SentimentModel
from retain.sentiment.service import MODEL_KIND as SENTIMENT_KIND
from retain.serve.cache import (
    AnswerCache,
    plain_k,
    recommendation_question,
    recommendations_json,
)
from retain.serve.keys import ApiKey, KeyReader, KeyRing, key_reader, load_secret
from retain.serve.live import LiveModel, ModelWatcher
from retain.serve.metrics import Metrics
from retain.serve.operational import ErasureListener, PostgresStore

__all__ = ["RateLimiter", "ReplicaFeed", "ServiceState"]
_log = logging.getLogger("retain.serve")

# One process cannot hold the DuckDB file read-only and writable at once, so
# every store access in the service takes this lock.
_STORE_LOCK = threading.Lock()


class RateLimiter:
    """A token bucket per API key: ``rate`` requests a second, bursts of two seconds' worth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key_id: str, rate: float) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic()
        burst = max(2.0 * rate, 1.0)
        with self._lock:
            tokens, last = self._buckets.get(key_id, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


@dataclass
class ServiceState:
    """Everything the routes need; built once per process by :meth:`create`."""

    config: Settings
    metrics: Metrics
    keys: KeyRing
    limiter: RateLimiter
    secret: bytes
    recommender: LiveModel[Recommender]
    sentiment: LiveModel[SentimentModel]
    assistant: LiveModel[Any]
    watcher: ModelWatcher
    llm: LLMBackend | None
    answers: AnswerCache
    fed: FedEvents
    ops: PostgresStore | None
    replica: ReplicaFeed | None = None

    def feed(self, events: list[tuple[str, str | None, str]]) -> None:
        """Give newly stored events to the serving recommender and drop stale answers."""
        with self.recommender.held() as live:
            for user_id, item_id, event_type in events:
                if live is not None and item_id is not None:
                    live[1].observe(user_id, item_id, event_type)
                self.answers.forget(user_id)
            self.fed.add(events)

    def forget_user(self, user_id: str) -> None:
        """Drop ``user_id`` from the serving recommender, the replay log and the cache."""
        with self.recommender.held() as live:
            if live is not None:
                live[1].forget(user_id)
            self.fed.forget(user_id)
            self.answers.forget(user_id)

    @classmethod
    def create(cls, config: Settings) -> ServiceState:
        """Load what is published now; the watcher picks up later promotions."""
        root = config.models_dir

        def assistant_parts(folder: Path) -> Any:
            with _open(config, read_only=True) as store:
                return load_assistant_parts(
                    store,
                    IntentClassifier.load(folder),
                    config.assistant.knowledge_encoder,
                    config.assistant.knowledge_language_encoders,
                )

        answers = AnswerCache()
        fed = FedEvents()
        models: list[LiveModel[Any]] = [
            LiveModel(
                root,
                RECOMMEND_KIND,
                Recommender.load,
                lambda m: m.recommend(k=1),
                prepare=lambda version, new: _bring_up_to_date(answers, fed, version, new),
            ),
            LiveModel(root, SENTIMENT_KIND, SentimentModel.load, lambda m: m.score(["ok"])),
            LiveModel(root, ASSISTANT_KIND, assistant_parts),
        ]
        url = config.service.operational_url
        ops = PostgresStore(url.get_secret_value()) if url is not None else None
        keys = KeyRing(
            _operational_keys(ops) if ops else key_reader(lambda: _open(config, read_only=True))
        )
        watcher = ModelWatcher(models, config.service.model_poll_seconds, [keys.refresh_if_due])
        secret = config.service.secret
        state = cls(
            config=config,
            metrics=Metrics(),
            keys=keys,
            limiter=RateLimiter(),
            secret=load_secret(config.data_dir, secret.get_secret_value() if secret else None),
            recommender=models[0],
            sentiment=models[1],
            assistant=models[2],
            watcher=watcher,
            llm=LLMBackend.from_config(config.assistant),
            answers=answers,
            fed=fed,
            ops=ops,
        )
        if ops is not None:
            state.replica = ReplicaFeed(ops, state)
            watcher.also.append(state.replica.poll)
        return state

    def start(self) -> None:
        """Load the current models, then watch for new ones."""
        self.watcher.poll_all()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        if self.replica is not None:
            self.replica.close()

    @contextmanager
    def read_store(self) -> Iterator[Store]:
        """The store, read-only, for one request (``retain train`` may write between)."""
        with _open(self.config, read_only=True) as store:
            yield store

    @contextmanager
    def write_store(self) -> Iterator[Store]:
        """The store, writable, for one request."""
        with _open(self.config, read_only=False) as store:
            yield store

    @contextmanager
    def assistant_tables(self) -> Iterator[AssistantTables]:
        """Where the assistant's conversations and hand-offs live, for one request: the
        operational PostgreSQL when configured (shared by replicas), else the store."""
        if self.ops is not None:
            with self.ops.assistant_tables() as tables:
                yield tables
            return
        with self.write_store() as store:
            yield EmbeddedAssistantTables(store)

    def unanswered_questions(self, limit: int, *, days: int | None = None) -> list[dict[str, Any]]:
        """What the knowledge base could not answer, grouped by meaning with the serving
        assistant's encoders (:mod:`retain.assistant.gaps`; by wording alone while no
        assistant model is loaded)."""
        with self.assistant_tables() as tables:
            rows = tables.unanswered(max(limit * 20, 1_000), days=days)
        current = self.assistant.serving
        knowledge = current[1].knowledge if current is not None else None
        return group_questions(
            rows, knowledge.encoder_for if knowledge is not None else wording_only, limit
        )

    def handoff_queue(
        self, limit: int, *, include_closed: bool = False, urgent_first: bool = False
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` hand-offs, each with its customer's standing.

        ``urgency`` is 1 for a valuable customer plus 0.5 for one at risk of
        leaving (``user_scores``; 0 when unscored) and ``standing`` says so in
        words. ``urgent_first`` sorts by it, newest first within a level.
        """
        with self.assistant_tables() as tables:
            rows = tables.handoffs(limit, include_closed=include_closed)
        if not rows:
            return rows
        with self.read_store() as store:  # after the tables: the store lock is not reentrant
            standing = customer_standing(store)
        for row in rows:
            customer = standing.get(row["user_id"]) if row["user_id"] else None
            row["urgency"] = customer.urgency if customer else 0.0
            row["standing"] = customer.reasons(self.config.currency) if customer else []
        return sorted(rows, key=lambda r: -r["urgency"]) if urgent_first else rows


def _operational_keys(ops: PostgresStore) -> KeyReader:
    def read() -> dict[str, tuple[str, ApiKey]] | None:
        try:
            return ops.live_keys()
        except StoreError:
            return None  # keep the keys read last time while PostgreSQL is away

    return read


class ReplicaFeed:
    """What the other replicas accepted or erased, brought to this replica's serving model.

    With an operational PostgreSQL every replica takes events; each polls
    the events committed since its cursor (``accepted_seq`` order is commit
    order, see :mod:`retain.serve.operational`) and feeds those it did not
    accept itself: its own were fed when it stored them, and claimed before
    their commit so the poll can never see one unclaimed. Erasures arrive by
    ``LISTEN``. The watcher calls :meth:`poll` every ``model_poll_seconds``,
    so another replica's event changes this one's answers within about that.

    The cursor starts at the newest event when the process starts: a replica
    that was down serves what its model was trained on, as a restarted
    single process does.
    """

    _BATCH = 10_000

    def __init__(self, ops: PostgresStore, state: ServiceState) -> None:
        self._ops = ops
        self._state = state
        self._listener = ErasureListener(ops.url)
        self._cursor: int | None = None
        self._claimed: set[int] = set()
        self._erased_here: set[str] = set()
        self._to_erase: list[str] = []
        self._lock = threading.Lock()
        self._failing = False

    def claim(self, seqs: list[int]) -> None:
        """Mark events this replica stored (and feeds itself)."""
        with self._lock:
            self._claimed.update(seqs)

    def claim_erasure(self, user_id: str) -> None:
        """Mark an erasure this replica is making itself (before it is announced)."""
        with self._lock:
            self._erased_here.add(user_id)

    def poll(self) -> int:
        """Feed other replicas' new events and apply their erasures; returns events fed."""
        state = self._state
        try:
            self._listener.start()  # before the cursor, so no erasure falls in between
            if self._cursor is None:
                self._cursor = self._ops.latest_seq()
            for user_id in self._listener.drain():
                with self._lock:
                    if user_id in self._erased_here:
                        self._erased_here.discard(user_id)
                        continue
                state.forget_user(user_id)
                self._to_erase.append(user_id)
                state.metrics.add("retain_replica_erasures_total")
            self._erase_locally()
            fed = 0
            while True:
                found = self._ops.events_since(self._cursor, self._BATCH)
                if not found:
                    break
                with self._lock:
                    others = [e for e in found if e[0] not in self._claimed]
                    self._cursor = found[-1][0]
                    self._claimed = {s for s in self._claimed if s > self._cursor}
                state.feed([(u, i, t) for _, u, i, t in others])
                fed += len(others)
        except StoreError as exc:
            if not self._failing:  # say it once per outage, not every second
                _log.warning("replica feed paused: %s", exc)
            self._failing = True
            return 0
        if self._failing:
            _log.info("replica feed resumed")
        self._failing = False
        state.metrics.add("retain_replica_events_total", fed)
        return fed

    def _erase_locally(self) -> None:
        """Erase announced customers from this replica's embedded store too.

        Kept for the next poll while that store is busy (a training run
        holds it), so an erasure is never dropped by a locked file.
        """
        while self._to_erase:
            try:
                with self._state.write_store() as store:
                    erase_user(store, self._to_erase[0])
            except StoreError:
                return  # busy: the next poll tries again
            except InvalidInputError:
                pass  # not an id this store could hold
            self._to_erase.pop(0)

    def close(self) -> None:
        self._listener.close()


class FedEvents:
    """The events fed to the serving recommender since it was loaded.

    A model trained before they arrived does not know them; they are replayed
    into its successor before the swap, so a promotion never forgets a
    purchase the service has already acted on. (One that was also in the new
    model's training data is then counted twice in that user's history: the
    lesser harm.) Bounded; the oldest go first.
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self._events: deque[tuple[str, str | None, str]] = deque(maxlen=limit)

    def add(self, events: list[tuple[str, str | None, str]]) -> None:
        self._events.extend(events)

    def forget(self, user_id: str) -> None:
        kept = [e for e in self._events if e[0] != user_id]
        self._events.clear()
        self._events.extend(kept)

    def take(self) -> list[tuple[str, str | None, str]]:
        """Everything fed so far, leaving the log empty for the next model."""
        taken = list(self._events)
        self._events.clear()
        return taken


#: Answers recomputed ahead of a hot swap (the most recent first).
_WARM_QUESTIONS = 5_000


def _bring_up_to_date(
    answers: AnswerCache, fed: FedEvents, version: str, model: Recommender
) -> None:
    """Replay fed events into ``model`` and warm its answers (runs before the swap)."""
    for user_id, item_id, event_type in fed.take():
        if item_id is not None:
            model.observe(user_id, item_id, event_type)
    ticket = answers.ticket()
    by_k: dict[int, list[str]] = {}
    for user, question in answers.recent_questions(_WARM_QUESTIONS):
        # Only the plain question (k items, no filters) is warmed, in batches.
        k = plain_k(question)
        if k is not None and user in model.histories:
            by_k.setdefault(k, []).append(user)
    warmed: list[tuple[str, Hashable, bytes]] = []
    for k, users in by_k.items():
        for answer in model.recommend_many(users, k=k):
            body = recommendations_json(answer, version)
            warmed.append((str(answer.user_id), recommendation_question(k), body))
    answers.warm(version, warmed, ticket)


@contextmanager
def _open(config: Settings, *, read_only: bool) -> Iterator[Store]:
    with _STORE_LOCK, Store.open(config.resolved_store_url, read_only=read_only) as store:
        yield store
