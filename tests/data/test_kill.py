"""A process killed mid-ingest leaves whole batches only and loses nothing committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from retain.data import Store, ingest_file
from retain.data.bench import write_event_file

ROWS = 200_000
BATCH = 10_000


def test_sigkill_mid_ingest_leaves_no_partial_batch(tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    bad = write_event_file(source, ROWS, seed=3, bad_fraction=0.05)
    db = tmp_path / "retain.duckdb"
    child = textwrap.dedent(
        f"""
        import sys
        from retain.data import Store, ingest_file
        store = Store.open({str(db)!r})
        def progress(done, total):
            print(done, flush=True)
        ingest_file(store, "events", {str(source)!r}, batch_size={BATCH}, on_progress=progress)
        print("finished", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    while len(seen) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(seen) == 3 and "finished" not in seen, f"child output: {seen}"

    with Store.open(db) as store:
        run = store.execute(
            "SELECT status, rows, accepted, quarantined FROM ingest_runs"
        ).fetchall()
        assert len(run) == 1
        status, rows, accepted, quarantined = run[0]
        assert status == "running"  # it never got to finish
        assert rows % BATCH == 0 and rows >= 3 * BATCH and rows < ROWS  # whole batches only
        assert store.count("events") == accepted  # the log and the data agree
        assert store.count("quarantine") == quarantined
        assert accepted + quarantined == rows

        report = ingest_file(store, "events", source, batch_size=BATCH)
        assert report.duplicates == accepted  # everything committed survived
        assert store.count("events") == ROWS - bad
        assert store.count("quarantine") == bad
