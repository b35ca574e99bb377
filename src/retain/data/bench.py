"""``retain bench ingest``: events/s from a CSV file into the embedded store.

Protocol: a seeded file of ``rows`` events (7 columns, as a storefront would
export them; ``bad_fraction`` of the rows malformed in varied ways) is
ingested into a fresh store with the default batch size — parse, validate,
deduplicate by key, commit per batch, quarantine the bad rows. Then the same
file is ingested again (every row compared with its stored record: a
duplicate). The baseline, in the same run, is DuckDB's own ``INSERT ...
SELECT FROM read_csv`` into the same keyed table with no validation, no
quarantine and no batching: the price of the guarantees is the distance
between the two.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from retain.data.ingest import ingest_file
from retain.data.schemas import get_schema
from retain.data.store import Store

__all__ = ["run_ingest_benchmark", "write_event_file"]


def write_event_file(path: Path, rows: int, *, seed: int = 0, bad_fraction: float = 0.0) -> int:
    """Write a seeded events CSV; returns how many rows were made malformed."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    seconds = rng.integers(0, 300 * 86400, rows).astype("timedelta64[s]")
    ts = (start + seconds).astype(str).astype(object)
    kinds = rng.choice(np.array(["view", "view", "view", "cart", "purchase"], dtype=object), rows)
    value = np.round(rng.gamma(2.0, 30.0, rows), 2).astype(str).astype(object)
    user = np.char.add("u", rng.integers(0, rows // 20 + 1, rows).astype(str)).astype(object)
    bad = rng.random(rows) < bad_fraction
    n_bad = int(bad.sum())
    if n_bad:
        kind_of_damage = rng.integers(0, 4, n_bad)
        idx = np.flatnonzero(bad)
        ts[idx[kind_of_damage == 0]] = "not a date"
        value[idx[kind_of_damage == 1]] = "-3.5"
        kinds[idx[kind_of_damage == 2]] = "clik"
        user[idx[kind_of_damage == 3]] = ""
    table = pa.table(
        {
            "event_id": np.char.add("e", np.arange(rows).astype(str)).astype(object),
            "user_id": user,
            "item_id": np.char.add("i", rng.integers(0, 20_000, rows).astype(str)).astype(object),
            "event_type": kinds,
            "ts": ts,
            "value": value,
            "session_id": np.char.add("s", rng.integers(0, rows // 5 + 1, rows).astype(str)).astype(
                object
            ),
        }
    )
    pacsv.write_csv(table, path)
    return n_bad


def run_ingest_benchmark(
    *, rows: int = 1_000_000, batch_size: int = 100_000, bad_fraction: float = 0.0, seed: int = 0
) -> dict[str, Any]:
    """Run the protocol in the module docstring and return the JSON document."""
    with tempfile.TemporaryDirectory(prefix="retain-bench-") as tmp:
        folder = Path(tmp)
        source = folder / "events.csv"
        n_bad = write_event_file(source, rows, seed=seed, bad_fraction=bad_fraction)
        file_mb = round(source.stat().st_size / 1e6, 1)
        with Store.open(folder / "retain.duckdb") as store:
            first = ingest_file(store, "events", source, batch_size=batch_size)
            again = ingest_file(store, "events", source, batch_size=batch_size)
        baseline = _raw_duckdb_seconds(folder / "raw.duckdb", source)
    return {
        "benchmark": "ingest",
        "protocol": __doc__.strip().split("\n\n", 1)[1].replace("\n", " ") if __doc__ else "",
        "rows": rows,
        "malformed_rows": n_bad,
        "batch_size": batch_size,
        "file_mb": file_mb,
        "metrics": {
            "events_per_second": round(first.rows / first.seconds),
            "seconds": round(first.seconds, 3),
            "accepted": first.accepted,
            "quarantined": first.quarantined,
            "reingest_events_per_second": round(again.rows / again.seconds),
            "reingest_accepted": again.accepted,
            "reingest_duplicates": again.duplicates,
        },
        "baselines": {
            "duckdb_insert_no_validation": {
                "events_per_second": round(rows / baseline),
                "seconds": round(baseline, 3),
            }
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
        },
    }


def _raw_duckdb_seconds(db: Path, source: Path) -> float:
    con = duckdb.connect(str(db))
    try:
        con.execute(get_schema("events").ddl())
        started = time.perf_counter()
        con.execute(
            "INSERT OR IGNORE INTO events SELECT event_id, user_id, item_id, event_type, "
            "TRY_CAST(ts AS TIMESTAMP), TRY_CAST(value AS DOUBLE), session_id FROM read_csv(?, "
            "header=true, all_varchar=true) WHERE TRY_CAST(ts AS TIMESTAMP) IS NOT NULL "
            "AND user_id IS NOT NULL",
            [str(source)],
        )
        return time.perf_counter() - started
    finally:
        con.close()
