"""Text embeddings kept in the store, so a retrain embeds only the new texts.

Embedding a catalogue is the slow step of training on a large one: on the
2-core machine the packaged MiniLM embeds a few hundred product texts a
second, so a million products would take the better part of an hour every
night although almost none changed. :class:`StoredVectors` keeps each
vector in the store's ``text_vectors`` table, keyed by the encoder (its name
and, for a packaged model, the package version, so an upgraded model never
reuses old vectors), the role of the text (E5 models embed queries and
passages differently) and a SHA-256 of the text. A text seen before is read
back; only the rest go through the encoder, and their vectors are written
in the same transaction that marks the others used.

Vectors no call has asked for in ``keep_days`` (30 by default) are dropped,
so products long gone do not pile up. The table is an output table like any
other: deleting it costs one full re-embedding, never a wrong result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retain.data.store import Store
from retain.text.encoder import TextEncoder, TextKind

__all__ = ["VECTORS_TABLE", "StoredVectors", "text_hash"]

VECTORS_TABLE = "text_vectors"

_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VECTORS_TABLE} (model VARCHAR NOT NULL, "
    "kind VARCHAR NOT NULL, text_hash VARCHAR NOT NULL, vector FLOAT[] NOT NULL, "
    "used_at TIMESTAMP NOT NULL, PRIMARY KEY (model, kind, text_hash))"
)


def text_hash(text: str) -> str:
    """The key of a text: SHA-256 of its UTF-8 bytes (texts themselves are not stored)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class StoredVectors:
    """An encoder's vectors read from and written to a (writable) store."""

    def __init__(self, store: Store, *, keep_days: int = 30) -> None:
        self.store = store
        self.keep_days = keep_days
        #: Texts of the last :meth:`encode` read back and embedded afresh.
        self.reused = 0
        self.embedded = 0

    def encode(
        self,
        encoder: TextEncoder,
        texts: Sequence[str],
        *,
        kind: TextKind = "text",
        now: datetime | None = None,
    ) -> np.ndarray:
        """``encoder.encode(texts, kind=kind)``, with stored vectors reused.

        Returns the unit-length vectors, one row per text, as the encoder
        would. ``now`` dates the use (tests pass it to check the expiry).
        """
        moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        model = encoder.key
        keys = [text_hash(t) for t in texts]
        distinct = list(dict.fromkeys(keys))
        con = self.store.connection
        con.execute(_DDL)
        wanted = pa.table({"text_hash": pa.array(distinct, pa.string())})
        with self.store.registered("_wanted", wanted):
            found = self.store.query_arrow(
                f"SELECT v.text_hash, v.vector FROM {VECTORS_TABLE} v JOIN _wanted "
                "USING (text_hash) WHERE v.model = ? AND v.kind = ?",
                [model, kind],
            )
            known = _vectors_by_hash(found, encoder.dimension)
            missing = [k for k in distinct if k not in known]
            text_of = dict(zip(keys, texts, strict=True))
            fresh = encoder.encode([text_of[k] for k in missing], kind=kind)
            known.update(zip(missing, fresh, strict=True))
            with self.store.transaction():
                con.execute(
                    f"UPDATE {VECTORS_TABLE} SET used_at = ? WHERE model = ? AND kind = ? "
                    "AND text_hash IN (SELECT text_hash FROM _wanted)",
                    [moment, model, kind],
                )
                if missing:
                    self._write(model, kind, missing, fresh, moment)
                con.execute(
                    f"DELETE FROM {VECTORS_TABLE} WHERE used_at < ?",
                    [moment - timedelta(days=self.keep_days)],
                )
        self.reused, self.embedded = len(distinct) - len(missing), len(missing)
        if not keys:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        return np.vstack([known[k] for k in keys]).astype(np.float32, copy=False)

    def _write(
        self, model: str, kind: str, keys: list[str], vectors: np.ndarray, moment: datetime
    ) -> None:
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        offsets = pa.array(np.arange(0, len(flat) + 1, vectors.shape[1], dtype=np.int32))
        rows = pa.table(
            {
                "model": pa.array([model] * len(keys), pa.string()),
                "kind": pa.array([kind] * len(keys), pa.string()),
                "text_hash": pa.array(keys, pa.string()),
                "vector": pa.ListArray.from_arrays(offsets, flat),
                "used_at": pa.array([moment] * len(keys), pa.timestamp("us")),
            }
        )
        with self.store.registered("_fresh", rows):
            self.store.connection.execute(
                f"INSERT OR REPLACE INTO {VECTORS_TABLE} SELECT * FROM _fresh"
            )


def _vectors_by_hash(found: pa.Table, dimension: int) -> dict[str, np.ndarray]:
    """Stored rows as hash -> vector; a row of another length is left out (re-embedded)."""
    if found.num_rows == 0:
        return {}
    vectors = found.column("vector").combine_chunks()
    lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    hashes = found.column("text_hash").to_pylist()
    return {
        h: flat[s:e]
        for h, s, e, n in zip(hashes, starts, ends, lengths, strict=True)
        if n == dimension
    }
