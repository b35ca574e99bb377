"""The serving cache of recommendation answers.

Computing a user's list takes a millisecond or two (a transformer pass and
the blend); most storefront requests repeat a question whose answer has not
changed. The cache keeps whole answers, per model version and per user, and
forgets a user's answers the moment anything about that user changes (an
event through ``POST /v1/events``, an erase request), so it never serves a
list the model would not give now. A promoted model starts an empty cache.
Bounded: past ``max_users`` the least recently asked users go first.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from retain.recommend.recommender import RecommendationList

__all__ = ["AnswerCache", "plain_k", "recommendation_question", "recommendations_json"]


class AnswerCache:
    """Answers by (model version, user, question); thread-safe, LRU by user.

    Answers for a version about to be promoted can be filled in ahead
    (:meth:`warm`), so the first requests after a hot swap do not all miss.
    """

    def __init__(self, max_users: int = 200_000) -> None:
        self.max_users = max_users
        self._lock = threading.Lock()
        self._current: str | None = None
        self._versions: dict[str, OrderedDict[str, dict[Hashable, Any]]] = {}
        self._forgets = 0

    def ticket(self) -> int:
        """Take before computing an answer; :meth:`put` drops it if a user was forgotten since."""
        return self._forgets

    def get(self, version: str, user: str, question: Hashable) -> Any | None:
        with self._lock:
            if version != self._current:
                # The serving model changed: keep only its answers.
                self._versions = {version: self._versions.get(version, OrderedDict())}
                self._current = version
            users = self._versions[version]
            answers = users.get(user)
            found = answers.get(question) if answers is not None else None
            if found is not None:
                users.move_to_end(user)
            return found

    def get_or_compute(
        self, version: str, user: str, question: Hashable, compute: Callable[[], Any]
    ) -> Any:
        """The cached answer, else ``compute()``'s, kept unless an event arrived meanwhile."""
        found = self.get(version, user, question)
        if found is None:
            ticket = self.ticket()
            found = compute()
            self.put(version, user, question, found, ticket)
        return found

    def put(self, version: str, user: str, question: Hashable, answer: Any, ticket: int) -> None:
        with self._lock:
            if version != self._current or ticket != self._forgets:
                return  # computed on a swapped-out model, or before an event arrived
            self._store(self._versions[version], user, question, answer)

    def _store(
        self,
        users: OrderedDict[str, dict[Hashable, Any]],
        user: str,
        question: Hashable,
        answer: Any,
    ) -> None:
        users.setdefault(user, {})[question] = answer
        users.move_to_end(user)
        while len(users) > self.max_users:
            users.popitem(last=False)

    def recent_questions(self, limit: int) -> list[tuple[str, Hashable]]:
        """The serving version's most recently asked (user, question) pairs, newest first."""
        with self._lock:
            users = self._versions.get(self._current or "", OrderedDict())
            pairs = [(u, q) for u in reversed(users) for q in users[u]]
        return pairs[:limit]

    def warm(self, version: str, answers: Sequence[tuple[str, Hashable, Any]], ticket: int) -> None:
        """Fill in answers of a version that is not serving yet (dropped if an event came)."""
        with self._lock:
            if ticket != self._forgets or version == self._current:
                return
            users = self._versions.setdefault(version, OrderedDict())
            for user, question, answer in answers:
                self._store(users, user, question, answer)

    def forget(self, user: str) -> None:
        """Drop every answer for ``user`` (their history or data changed)."""
        with self._lock:
            for users in self._versions.values():
                users.pop(user, None)
            self._forgets += 1


def recommendation_question(
    k: int,
    categories: Sequence[str] | None = None,
    recent: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The cache key of a recommendation request (besides its user and version)."""
    return (k, tuple(categories) if categories is not None else None, tuple(recent), tuple(exclude))


def plain_k(question: Hashable) -> int | None:
    """``k`` when ``question`` asks for a user's top ``k`` with no filters, else None."""
    if not (isinstance(question, tuple) and question and isinstance(question[0], int)):
        return None
    return question[0] if question == recommendation_question(question[0]) else None


def recommendations_json(answer: RecommendationList, version: str) -> bytes:
    """An answer as the API sends it (and the cache keeps it): UTF-8 JSON bytes."""
    body = {
        "user_id": answer.user_id,
        "model_version": version,
        "items": [
            {
                "item_id": r.item_id,
                "score": r.score if math.isfinite(r.score) else 0.0,
                "reason": r.reason,
                "source": r.source,
                "promoted": r.promoted,
            }
            for r in answer.items
        ],
        "unknown_items": answer.unknown_items,
        "cold_start": answer.cold_start,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
