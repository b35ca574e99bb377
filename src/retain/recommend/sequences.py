"""Users' item sequences: the one input every recommendation source reads.

Items are numbered ``1..n_items`` in :class:`ItemIndex`; ``0`` is padding,
so an index can go straight into an embedding table. A user's history is an
``int32`` array of item indices in time order (repeats kept: buying the same
shampoo twice is a signal).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retain.errors import InvalidInputError

__all__ = ["ItemIndex", "Sequences", "SplitSequences", "leave_one_out", "natural_key"]

#: Event types that say a user wanted an item (impressions and searches do not).
INTEREST_EVENTS: tuple[str, ...] = ("view", "click", "favorite", "cart", "purchase")


@dataclass(frozen=True)
class ItemIndex:
    """Item ids and their 1-based indices (0 is padding)."""

    ids: np.ndarray  # object array; ids[0] is the padding slot ""

    @classmethod
    def from_ids(cls, ids: Iterable[str]) -> ItemIndex:
        return cls(np.array(["", *ids], dtype=object))

    @property
    def n_items(self) -> int:
        return len(self.ids) - 1

    def lookup(self) -> dict[str, int]:
        """Item id -> index; built once (requests look items up many times)."""
        return self._lookup

    @cached_property
    def _lookup(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.ids) if i}

    def encode(self, items: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Indices of the known items, in order, and the unknown ids."""
        table = self.lookup()
        known = [table[i] for i in items if i in table]
        unknown = [i for i in items if i not in table]
        return np.asarray(known, dtype=np.int32), unknown


@dataclass(frozen=True)
class Sequences:
    """Every user's history as item indices, oldest first."""

    users: np.ndarray  # object array of user ids
    histories: list[np.ndarray]
    items: ItemIndex
    #: Seconds since the epoch of each history entry, when the source had real
    #: timestamps (events do; sequence files carry only the order).
    times: list[np.ndarray] | None = None

    @property
    def n_items(self) -> int:
        return self.items.n_items

    def __len__(self) -> int:
        return len(self.histories)

    @classmethod
    def from_events(cls, events: pa.Table, items: ItemIndex | None = None) -> Sequences:
        """Sequences from an events table (``user_id``, ``item_id``, ``ts``).

        Only events of :data:`INTEREST_EVENTS` types count when an
        ``event_type`` column is present; ties in ``ts`` keep table order.
        """
        for column in ("user_id", "item_id", "ts"):
            if column not in events.column_names:
                raise InvalidInputError(
                    f"events need a {column!r} column; got {', '.join(events.column_names)}"
                )
        if "event_type" in events.column_names:
            events = events.filter(pc.is_in(events["event_type"], pa.array(INTEREST_EVENTS)))
        events = events.filter(pc.is_valid(events["item_id"]))
        order = np.lexsort(
            (
                np.arange(events.num_rows),
                events["ts"].to_numpy(zero_copy_only=False),
                events["user_id"].to_numpy(zero_copy_only=False).astype(str),
            )
        )
        users = events["user_id"].to_numpy(zero_copy_only=False).astype(object)[order]
        raw_items = events["item_id"].to_numpy(zero_copy_only=False).astype(object)[order]
        stamps = _seconds(events["ts"])
        stamps = stamps[order] if stamps is not None else None
        if items is None:
            items = ItemIndex.from_ids(sorted(set(raw_items), key=natural_key))
        table = items.lookup()
        codes = np.fromiter((table.get(i, 0) for i in raw_items), np.int32, len(raw_items))
        keep = codes > 0
        users, codes = users[keep], codes[keep]
        if len(users) == 0:
            return cls(np.array([], dtype=object), [], items)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        histories = np.split(codes, starts[1:])
        times = np.split(stamps[keep], starts[1:]) if stamps is not None else None
        return cls(users[starts], histories, items, times)

    def without_last(self) -> Sequences:
        """Every history of two or more items without its latest item (shorter ones kept)."""
        cut = [len(h) - 1 if len(h) >= 2 else len(h) for h in self.histories]
        return Sequences(
            self.users,
            [h[:n] for h, n in zip(self.histories, cut, strict=True)],
            self.items,
            None if self.times is None else [t[:n] for t, n in zip(self.times, cut, strict=True)],
        )

    def to_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) pairs of every interaction, for sparse matrices."""
        lengths = np.fromiter((len(h) for h in self.histories), np.int64, len(self))
        rows = np.repeat(np.arange(len(self)), lengths)
        cols = np.concatenate(self.histories) if self.histories else np.array([], np.int32)
        return rows, cols

    @classmethod
    def from_file(cls, path: str | Path) -> Sequences:
        """Sequences from a sequence file.

        ``user item item ...`` lines (Beauty.txt, the S3-Rec release), or a
        JSON object ``{user: [item, ...]}`` (``*.inter.json``, the LC-Rec /
        Amazon 2018 releases). Both keep time order and carry no dates.
        """
        from retain.data.loaders import read_sequences
        from retain.data.loaders._json import read_json_object

        if str(path).endswith(".json"):
            mapping = read_json_object(Path(path), "user id -> list of item ids")
            users: list[str] = []
            items: list[str] = []
            for user, history in mapping.items():
                if not isinstance(history, list):
                    raise InvalidInputError(f"{path}: user {user!r} does not map to a list")
                users.extend([str(user)] * len(history))
                items.extend(str(i) for i in history)
            ts = np.concatenate(
                [np.arange(len(h)) for h in mapping.values()] or [np.array([], np.int64)]
            )
            return cls.from_events(
                pa.table(
                    {
                        "user_id": users,
                        "item_id": items,
                        "ts": pa.array(ts.astype(np.int64)),
                    }
                )
            )
        return cls.from_events(read_sequences(path))


def _seconds(ts: pa.ChunkedArray) -> np.ndarray | None:
    """Seconds since the epoch for a timestamp column; None for plain positions."""
    if not pa.types.is_timestamp(ts.type):
        return None
    per_second = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[ts.type.unit]
    ticks = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(ticks, dtype=np.float64) / per_second


def natural_key(item: str) -> tuple[int, str]:
    """Sort numeric ids by value ("2" before "10"), then the rest by text."""
    return (len(item), item) if item.isdigit() else (1 << 30, item)


@dataclass(frozen=True)
class SplitSequences:
    """Leave-one-out split: train histories, validation and test targets.

    ``train`` ends two items before each history's end; ``valid_target`` is
    the second-last item and ``test_target`` the last. Scoring the test
    target uses ``train`` plus the validation item as input.
    """

    train: Sequences
    valid_target: np.ndarray
    test_target: np.ndarray

    def valid_inputs(self) -> list[np.ndarray]:
        return self.train.histories

    def test_inputs(self) -> list[np.ndarray]:
        return [
            np.append(h, v).astype(np.int32)
            for h, v in zip(self.train.histories, self.valid_target, strict=True)
        ]


def leave_one_out(sequences: Sequences) -> SplitSequences:
    """Hold out each user's last two items (users with fewer than 3 are dropped)."""
    keep = [i for i, h in enumerate(sequences.histories) if len(h) >= 3]
    if not keep:
        raise InvalidInputError("leave-one-out needs users with at least 3 interactions")
    hist = [sequences.histories[i] for i in keep]
    train = Sequences(sequences.users[keep], [h[:-2] for h in hist], sequences.items)
    valid = np.array([h[-2] for h in hist], dtype=np.int32)
    test = np.array([h[-1] for h in hist], dtype=np.int32)
    return SplitSequences(train, valid, test)
