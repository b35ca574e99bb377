"""What an ingest reports: the counts a run adds up to, and the progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Called after each committed batch with (records done, records in total).
ProgressCallback = Callable[[int, int], None]


@dataclass
class IngestReport:
    """What one ingest did. ``accepted + duplicates + quarantined + erased == rows``."""

    table: str
    source: str
    format: str
    run_id: str
    rows: int = 0
    accepted: int = 0
    #: Of ``accepted``: stored records moved on (an order's new status) or edited
    #: (a review's new text or rating, an order's refunded amount).
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    seconds: float = 0.0
    ignored_columns: tuple[str, ...] = ()
    #: Source columns with no field of their own, kept in the JSON ``attributes``.
    attribute_columns: tuple[str, ...] = ()
    derived_key: bool = False
    #: Lines read when order lines were summed into orders (``rows`` then
    #: counts the orders formed plus the lines quarantined).
    lines: int = 0
    #: Of ``rows``: records of customers erased on request, dated before the
    #: erase, skipped unstored (:mod:`retain.privacy`).
    erased: int = 0
    #: With ``complete``: stored items the file no longer lists, now unavailable,
    #: and items it lists again after such a withdrawal, available again.
    withdrawn: int = 0
    relisted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def normalise_name(name: str) -> str:
    """Header spelling folded for matching: ``'User ID'`` -> ``'user_id'``."""
    return "_".join(name.strip().lower().replace("-", " ").split())
