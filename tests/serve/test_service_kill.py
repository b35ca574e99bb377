"""The service killed while event batches arrive loses nothing it acknowledged."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from retain.data import Store
from retain.serve.keys import create_key

BATCH = 200


def _post(url: str, key: str, body: bytes) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def test_sigkill_during_event_batches_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.open(data / "retain.duckdb") as store:
        _, key = create_key(store, "kill-test", "ingest", 1e6)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RETAIN_DATA_DIR": str(data)}
    env.pop("RETAIN_CONFIG", None)
    service = subprocess.Popen(
        [sys.executable, "-m", "retain.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        acknowledged: list[int] = []
        stop = threading.Event()
        ts = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")

        def send() -> None:
            batch = 0
            while not stop.is_set():
                events = [
                    {
                        "event_id": f"b{batch}-{i}",
                        "user_id": f"u{i % 50}",
                        "item_id": f"i{i % 30}",
                        "event_type": "view",
                        "ts": ts,
                    }
                    for i in range(BATCH)
                ]
                try:
                    status = _post(
                        f"{base}/v1/events", key, json.dumps({"events": events}).encode()
                    )
                except (OSError, urllib.error.URLError):
                    return  # the service is gone
                if status == 200:
                    acknowledged.append(batch)
                batch += 1

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(service.pid, signal.SIGKILL)  # mid-stream: a batch is very likely in flight
        service.wait()
        stop.set()
        sender.join(timeout=30)
    finally:
        if service.poll() is None:
            service.kill()
    assert len(acknowledged) >= 5
    with Store.open(data / "retain.duckdb", read_only=True) as store:
        stored = store.execute(
            "SELECT split_part(event_id, '-', 1) AS batch, count(*) FROM events GROUP BY 1"
        ).fetchall()
    per_batch = {int(b[1:]): n for b, n in stored}
    for batch in acknowledged:
        assert per_batch.get(batch) == BATCH, f"acknowledged batch {batch} lost events"
    # Whatever was stored beyond the acknowledged batches is whole batches only.
    assert all(n == BATCH for n in per_batch.values())
