"""Ingestion: validate a source and commit it batch by batch.

Guarantees, each tested:

* Every input record is counted once as accepted, duplicate or quarantined;
  the three add up to the records in the source.
* A batch commits whole or not at all — its accepted rows, its quarantine rows
  and the run's running totals in one transaction — so a process killed at any
  moment leaves no partial batch, and everything committed before stays.
* Re-ingesting a source adds nothing: keys already stored are duplicates.
  Sources without a key column get one derived from each record's content and
  its occurrence number among identical records of that source, so the same
  file always yields the same keys, while two genuinely repeated records in
  one file stay two records.
* A record of an append table whose key is stored with *other* values is no
  duplicate: it is quarantined as a conflict naming each differing field with
  its stored and new value, so a file of order lines keyed by their order, or
  two events sharing an id, cannot be half-loaded in silence. Only the fields
  the source has are compared. The exception is a schema's ``lifecycle``
  field (an order's ``status``): a later status along the allowed moves
  updates the stored record (counted as accepted and as ``updated``) and
  dates the move (``status_ts``: the source's, else the ingest time, so a
  feature computed as of an earlier day still sees the old status); an
  earlier one (an older export loaded again) is a duplicate. Likewise a
  schema's ``revision`` fields (a review's text and rating, which its writer
  may edit): a change there updates the stored record (counted as
  ``updated``), dated in ``edited_ts``, and the replaced version moves to
  ``review_versions`` with the span it held, so a feature computed as of an
  earlier day reads the review as it was; an edit no newer than the stored
  version is a duplicate. Records sharing a key within one source apply in
  file order.
* Quarantined records keep their source, line, every reason and the raw
  record; a later ingest that accepts a fixed line clears its quarantine entry.

The entry points are :mod:`.entry`; :mod:`.columns` shapes a source onto the
schema, :mod:`.batches` validates and commits it, :mod:`.conflicts` compares
it with what is stored.
"""

from retain.data.ingest.entry import ingest_arrow, ingest_file
from retain.data.ingest.report import IngestReport, ProgressCallback, normalise_name

__all__ = ["IngestReport", "ProgressCallback", "ingest_arrow", "ingest_file", "normalise_name"]
