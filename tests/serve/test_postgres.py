"""PostgreSQL as the operational store: replicas share keys and events through a real server.

Needs a server: ``.ci/run`` installs and starts one and sets
``RETAIN_TEST_POSTGRES_URL``; without it these tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from retain.config import ServiceConfig, Settings
from retain.data import Store
from retain.errors import StoreError
from retain.serve.app import create_app
from retain.serve.operational import PostgresStore, pull_events

URL = os.environ.get("RETAIN_TEST_POSTGRES_URL")
needs_server = pytest.mark.skipif(not URL, reason="RETAIN_TEST_POSTGRES_URL is not set")


@pytest.fixture
def pg() -> PostgresStore:
    """A clean operational schema on the test server."""
    assert URL is not None
    store = PostgresStore(URL)
    with store.connect() as con:
        for table in ("events", "quarantine", "ingest_runs", "api_keys", "erasure_audit"):
            con.execute(f"TRUNCATE {table}")
    return store


def _replica(demo_dir: Path, folder: Path) -> TestClient:
    assert URL is not None
    shutil.copytree(demo_dir, folder)
    settings = Settings(data_dir=folder, service=ServiceConfig(operational_url=SecretStr(URL)))
    return TestClient(create_app(settings))


def _events(prefix: str, user: str, n: int) -> list[dict[str, Any]]:
    ts = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    return [
        {
            "event_id": f"{prefix}-{i}",
            "user_id": user,
            "item_id": f"I{i + 1:05d}",
            "event_type": "view",
            "ts": ts,
        }
        for i in range(n)
    ]


@needs_server
def test_two_replicas_share_keys_events_and_erasure(
    pg: PostgresStore, demo_dir: Path, tmp_path: Path
) -> None:
    a = _replica(demo_dir, tmp_path / "a")
    b = _replica(demo_dir, tmp_path / "b")
    _, key = pg.create_key("replicas", "admin", 1000)
    headers = {"X-API-Key": key}
    # One key, made once, works on both replicas.
    assert a.get("/v1/items/I00001/similar", headers=headers).status_code == 200
    assert b.get("/v1/items/I00001/similar", headers=headers).status_code == 200

    batch = {"events": [*_events("rep", "U00007", 5), {"event_id": "rep-bad", "user_id": "x"}]}
    first = a.post("/v1/events", json=batch, headers=headers).json()
    assert (first["accepted"], first["quarantined"]) == (5, 1)
    assert first["errors"][0]["index"] == 5
    # A retry through the other replica is harmless.
    retry = b.post("/v1/events", json=batch, headers=headers).json()
    assert (retry["accepted"], retry["duplicates"]) == (0, 5)
    with pg.connect() as con:
        stored = con.execute("SELECT count(*) FROM events WHERE event_id LIKE 'rep-%'")
        assert stored.fetchone()[0] == 5

    # Training data: the embedded store pulls the shared events, exactly once.
    with Store.open(tmp_path / "a" / "retain.duckdb") as store:
        assert pull_events(pg, store) == 5
        assert pull_events(pg, store) == 0
        assert (
            store.execute("SELECT count(*) FROM events WHERE event_id LIKE 'rep-%'").fetchone()[0]
            == 5
        )

    exported = a.get("/v1/users/U00007/export", headers=headers).json()["tables"]
    assert len(exported["operational.events"]) == 5 and "events" in exported
    erased = b.delete("/v1/users/U00007", headers=headers).json()
    assert erased["rows_by_table"]["operational.events"] == 5
    with pg.connect() as con:
        assert (
            con.execute("SELECT count(*) FROM events WHERE user_id = 'U00007'").fetchone()[0] == 0
        )
        audit = con.execute("SELECT * FROM erasure_audit").fetchall()
    assert len(audit) == 1 and "U00007" not in str(audit)

    # A revoked key is refused by every replica after its next key refresh.
    key_id = key.split("_")[1]
    pg.revoke_key(key_id)
    for replica in (a, b):
        replica.app.state.retain.keys.refresh()  # type: ignore[attr-defined]
        assert replica.get("/v1/items/I00001/similar", headers=headers).status_code == 401


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL at postgresql://u:\*\*\*@"):
        PostgresStore("postgresql://u:secret-pw@127.0.0.1:1/none")
