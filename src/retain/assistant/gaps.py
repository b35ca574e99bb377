"""Unanswered questions grouped by meaning: what the knowledge base lacks.

Customers ask the same missing thing in many words ("do you ship to
Canada", "can I get delivery in Canada?"). Grouping the unanswered list by
exact wording leaves almost every question alone (on Bitext's unanswerable
intents: 706 groups for 720 questions), so the shop cannot see which
missing article matters most. Here questions are grouped by their sentence
embeddings: each question joins the group whose centroid it is most similar
to when that similarity reaches the encoder's bar, or starts a group.
Questions are visited most asked first (newest first among equals), so a
group is named by its most asked wording. Only questions in the same
language and with the same off-topic verdict share a group.

The bars were chosen on the development file of ``retain bench assistant``
(Bitext cs-20k, the unanswerable intents, in random order) as the best
adjusted Rand index against Bitext's intents: MiniLM 0.65 (50 groups for 12
intents, 92% of questions in a group whose commonest intent is theirs), E5
0.92. An encoder without a bar here is not used for grouping (exact wording
only): its scale is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from retain.text.encoder import DEFAULT_MODEL, MULTILINGUAL_MODEL, TextEncoder

__all__ = ["GROUP_BARS", "cluster_questions", "group_questions", "wording_only"]

#: Cosine to a group's centroid needed to join it, per encoder.
GROUP_BARS = {DEFAULT_MODEL: 0.65, MULTILINGUAL_MODEL: 0.92}

#: How many other wordings of a group to show.
MAX_VARIANTS = 5


def wording_only(language: str | None) -> TextEncoder | None:
    """No encoder for any language: group by exact wording alone."""
    return None


def group_questions(
    rows: Sequence[dict[str, Any]],
    encoder_for: Callable[[str | None], TextEncoder | None],
    limit: int,
) -> list[dict[str, Any]]:
    """Merge exact-wording groups (as ``AssistantTables.unanswered`` returns them,
    with ``user_ids``) into groups by meaning; most asked first, off-topic last.

    Each group has the most asked wording as ``question``, the others (up to
    five, most asked first) as ``variants``, ``wordings`` (how many distinct
    wordings), ``asked``, ``customers`` (distinct, across the wordings),
    ``language``, ``off_topic`` and ``last_asked``.
    """
    groups = [_merge(cluster) for cluster in cluster_questions(rows, encoder_for)]
    groups.sort(key=lambda g: (g["off_topic"], -g["asked"], _newest(g)))
    return groups[:limit]


def cluster_questions(
    rows: Sequence[dict[str, Any]],
    encoder_for: Callable[[str | None], TextEncoder | None],
) -> list[list[dict[str, Any]]]:
    """The rows partitioned by meaning, each part most asked first (see the module doc)."""
    ordered = sorted(rows, key=lambda r: (bool(r["off_topic"]), -r["asked"], _newest(r)))
    by_kind: dict[tuple[str | None, bool], list[dict[str, Any]]] = {}
    for row in ordered:
        by_kind.setdefault((row["language"], bool(row["off_topic"])), []).append(row)
    out: list[list[dict[str, Any]]] = []
    for (language, _), members in by_kind.items():
        encoder = encoder_for(language)
        bar = GROUP_BARS.get(encoder.name) if encoder is not None else None
        if encoder is None or bar is None:
            labels = list(range(len(members)))
        else:
            labels = _centroid_groups(encoder.encode([m["question"] for m in members]), bar)
        clusters: dict[int, list[dict[str, Any]]] = {}
        for label, member in zip(labels, members, strict=True):
            clusters.setdefault(label, []).append(member)
        out += clusters.values()
    return out


def _newest(row: dict[str, Any]) -> float:
    """Sort key: the more recent, the smaller."""
    return -float(row["last_asked"].timestamp())


def _centroid_groups(vectors: np.ndarray, bar: float) -> list[int]:
    """A group label per row, rows visited in order (see the module doc)."""
    sums: list[np.ndarray] = []
    centroids = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    labels: list[int] = []
    for vector in vectors:
        if len(centroids):
            similarity = centroids @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= bar:
                sums[best] = sums[best] + vector
                centroids[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
                labels.append(best)
                continue
        sums.append(vector.astype(np.float32))
        centroids = np.vstack([centroids, vector[None, :]])
        labels.append(len(sums) - 1)
    return labels


def _merge(members: list[dict[str, Any]]) -> dict[str, Any]:
    """One group from its exact-wording rows (the first is the most asked)."""
    head = members[0]
    customers = {u for m in members for u in m["user_ids"] if u is not None}
    return {
        "question": head["question"],
        "variants": [m["question"] for m in members[1 : 1 + MAX_VARIANTS]],
        "wordings": len(members),
        "language": head["language"],
        "off_topic": bool(head["off_topic"]),
        "asked": sum(int(m["asked"]) for m in members),
        "customers": len(customers),
        "last_asked": max(m["last_asked"] for m in members),
    }
