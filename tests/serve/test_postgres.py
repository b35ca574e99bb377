"""PostgreSQL as the operational store: replicas share keys and events through a real server.

Needs a server: ``.ci/run`` installs and starts one and sets
``RETAIN_TEST_POSTGRES_URL``; without it these tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from retain.config import ServiceConfig, Settings
from retain.data import Store
from retain.errors import StoreError
from retain.serve.app import create_app
from retain.serve.intake import intake_events
from retain.serve.operational import PostgresStore, pull_events

URL = os.environ.get("RETAIN_TEST_POSTGRES_URL")
needs_server = pytest.mark.skipif(not URL, reason="RETAIN_TEST_POSTGRES_URL is not set")


@pytest.fixture
def pg() -> PostgresStore:
    """A clean operational schema on the test server."""
    assert URL is not None
    store = PostgresStore(URL)
    with store.connect() as con:
        for table in (
            "events",
            "conversations",
            "assistant_state",
            "return_requests",
            "handoffs",
            "quarantine",
            "ingest_runs",
            "api_keys",
            "erasure_audit",
            "consent_log",
            "erased_customers",
        ):
            con.execute(f"TRUNCATE {table}")
    return store


Replicas = tuple[TestClient, TestClient, dict[str, str]]


@pytest.fixture
def replicas(pg: PostgresStore, demo_dir: Path, tmp_path: Path) -> Iterator[Replicas]:
    """Two replicas (copies of the demo shop in tmp_path/a and /b) and an admin key's header."""
    a = _replica(demo_dir, tmp_path / "a")
    b = _replica(demo_dir, tmp_path / "b")
    _, key = pg.create_key("replicas", "admin", 1000)
    yield a, b, {"X-API-Key": key}
    for replica in (a, b):
        replica.app.state.retain.stop()  # type: ignore[attr-defined]


def _replica(demo_dir: Path, folder: Path) -> TestClient:
    assert URL is not None
    shutil.copytree(demo_dir, folder)
    # Replicas share the signing secret, so a customer token works on every one.
    service = ServiceConfig(operational_url=SecretStr(URL), secret=SecretStr("replicas-secret"))
    settings = Settings(data_dir=folder, service=service)
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
def test_an_id_another_replica_is_storing_meanwhile_is_still_a_conflict(
    pg: PostgresStore,
) -> None:
    """Replica B's batch arrives while replica A's batch, holding the same id with
    other values, is still committing: B waits for it and then quarantines the
    clash, instead of reading before A's commit and calling it a duplicate."""
    from retain.serve.operational import _EVENTS_LOCK

    mine = _events("race", "U00001", 1)
    theirs = {**mine[0], "user_id": "U00002"}
    results: list[Any] = []
    with pg.connect() as other:  # replica A, mid-batch
        other.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENTS_LOCK])
        other.execute(
            "INSERT INTO events (event_id, user_id, item_id, event_type, ts) "
            "VALUES (%s, %s, %s, %s, %s)",
            [theirs["event_id"], theirs["user_id"], theirs["item_id"], "view", theirs["ts"]],
        )
        worker = threading.Thread(target=lambda: results.append(pg.ingest_events(mine, "b")))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()  # waits for A's commit
    worker.join(timeout=30)
    (intake,) = results
    assert (intake.accepted, intake.duplicates, intake.quarantined) == (0, 0, 1)


@needs_server
def test_email_ids_stored_before_folding_are_folded_and_erased_in_any_case(
    pg: PostgresStore,
) -> None:
    assert URL is not None
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
    with pg.connect() as con:  # what a replica of an earlier version stored
        con.execute(
            "INSERT INTO events (event_id, user_id, item_id, event_type, ts) VALUES "
            "('old-1', 'Cy@Shop.com', 'I00001', 'view', %s), "
            "('old-2', 'U00009', 'I00001', 'view', %s)",
            [when, when],
        )
        con.execute("DELETE FROM retain_meta WHERE key = 'email_ids_folded'")
    PostgresStore(URL)  # a replica of this version starts
    with pg.connect() as con:
        users = con.execute("SELECT user_id FROM events ORDER BY event_id").fetchall()
    assert users == [("cy@shop.com",), ("U00009",)]
    stamp = when.isoformat(sep=" ", timespec="seconds")
    bad = {"event_id": "bad-1", "user_id": "Cy@Shop.com", "event_type": "clik", "ts": stamp}
    assert pg.ingest_events([bad], "test").quarantined == 1  # kept as written

    assert pg.erase_user("CY@shop.com") == {"events": 1, "quarantine": 1}
    old = [
        {"event_id": "old-1", "user_id": "Cy@Shop.com", "item_id": "I00001"}
        | {"event_type": "view", "ts": stamp}
    ]
    again = pg.ingest_events(old, "test")
    assert (again.accepted, again.erased) == (0, 1)


@needs_server
def test_two_replicas_share_keys_events_and_erasure(
    pg: PostgresStore, replicas: Replicas, tmp_path: Path
) -> None:
    a, b, headers = replicas
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
    # An id reused with other values is a conflict there too, not a duplicate.
    reused = {**batch["events"][0], "user_id": "U00008"}
    clash = b.post("/v1/events", json={"events": [reused]}, headers=headers)
    assert clash.status_code == 422 and clash.json()["quarantined"] == 1
    assert "user_id 'U00007' stored, 'U00008' here" in clash.json()["errors"][0]["reasons"][0]

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
    # The same events sent again, through either replica, do not bring the customer back.
    resent = a.post("/v1/events", json={"events": batch["events"][:5]}, headers=headers).json()
    assert (resent["accepted"], resent["erased"], resent["quarantined"]) == (0, 5, 0)
    with pg.connect() as con:
        assert con.execute("SELECT count(*) FROM events WHERE user_id = 'U00007'").fetchone() == (
            0,
        )

    # A revoked key is refused by every replica after its next key refresh.
    key_id = headers["X-API-Key"].split("_")[1]
    pg.revoke_key(key_id)
    for replica in (a, b):
        replica.app.state.retain.keys.refresh()  # type: ignore[attr-defined]
        assert replica.get("/v1/items/I00001/similar", headers=headers).status_code == 401


@needs_server
def test_an_opt_out_on_one_replica_keeps_the_customer_out_of_another_replicas_campaign(
    pg: PostgresStore, replicas: Replicas, tmp_path: Path
) -> None:
    a, b, headers = replicas
    with Store.open(tmp_path / "b" / "retain.duckdb", read_only=True) as store:
        (user,), *_ = store.execute(
            "SELECT user_id FROM users JOIN user_scores USING (user_id) "
            "WHERE marketing_consent ORDER BY churn_risk DESC LIMIT 1"
        ).fetchall()
    before = b.post("/v1/campaigns", json={"budget": 400}, headers=headers).json()
    url = f"/v1/users/{user}/marketing-consent"
    out = a.put(url, json={"consent": False, "source": "unsubscribe"}, headers=headers)
    assert out.status_code == 200 and out.json()["applied"], out.text
    assert b.get(url, headers=headers).json()["marketing_consent"] is False

    # The other replica's campaign reads the change from PostgreSQL before planning.
    after = b.post("/v1/campaigns", json={"budget": 400}, headers=headers).json()
    assert after["without_consent"] == before["without_consent"] + 1
    with Store.open(tmp_path / "b" / "retain.duckdb", read_only=True) as store:
        assert store.execute(
            "SELECT marketing_consent FROM users WHERE user_id = ?", [user]
        ).fetchone() == (False,)
    # `retain pull-events` copies the change once.
    with Store.open(tmp_path / "a" / "retain.duckdb") as store:
        assert pull_events(pg, store) == 1
        assert pull_events(pg, store) == 0

    erased = a.delete(f"/v1/users/{user}", headers=headers).json()
    assert erased["rows_by_table"]["operational.consent_log"] == 1
    # A webhook about a change from before the erase does not bring them back.
    stale = {"consent": True, "changed_at": "2026-01-01T00:00:00Z"}
    refused = b.put(url, json=stale, headers=headers)
    assert refused.status_code == 422 and "erased on request" in refused.text
    with pg.connect() as con:
        assert con.execute("SELECT count(*) FROM consent_log").fetchone()[0] == 0


@needs_server
def test_an_event_or_erasure_on_one_replica_reaches_the_others_serving_model(
    replicas: Replicas, tmp_path: Path
) -> None:
    a, b, headers = replicas
    state_a, state_b = a.app.state.retain, b.app.state.retain  # type: ignore[attr-defined]
    assert state_a.replica.poll() == 0 and state_b.replica.poll() == 0  # cursors at the newest
    user = "U00007"
    url = f"/v1/users/{user}/recommendations?k=5"
    top = b.get(url, headers=headers).json()["items"][0]["item_id"]  # now cached in b
    model_a, model_b = state_a.recommender.serving[1], state_b.recommender.serving[1]
    known_a, known_b = len(model_a.histories[user]), len(model_b.histories[user])

    bought = {**_events("feed", user, 1)[0], "item_id": top, "event_type": "purchase"}
    assert a.post("/v1/events", json={"events": [bought]}, headers=headers).json()["accepted"] == 1
    assert len(model_a.histories[user]) == known_a + 1  # a fed its own event at once
    assert state_b.replica.poll() == 1
    assert len(model_b.histories[user]) == known_b + 1
    after = b.get(url, headers=headers).json()["items"]
    assert top not in {i["item_id"] for i in after}  # bought elsewhere: b's stale answer is gone
    assert state_a.replica.poll() == 0  # a does not feed its own event twice
    assert len(model_a.histories[user]) == known_a + 1
    # A retry of the same batch through b adds nothing anywhere.
    assert b.post("/v1/events", json={"events": [bought]}, headers=headers).json()["duplicates"]
    assert state_a.replica.poll() == 0 and state_b.replica.poll() == 0

    def rows_of(folder: str) -> int:
        with Store.open(tmp_path / folder / "retain.duckdb", read_only=True) as store:
            found = store.execute("SELECT count(*) FROM orders WHERE user_id = ?", [user])
            return int(found.fetchone()[0])

    assert rows_of("b") > 0
    assert a.delete(f"/v1/users/{user}", headers=headers).status_code == 200
    assert user not in model_a.histories and rows_of("a") == 0
    state_b.replica.poll()
    assert user not in model_b.histories and rows_of("b") == 0  # b's own copy is erased too
    state_a.replica.poll()  # a hears its own announcement and does not erase twice
    for folder in ("a", "b"):
        with Store.open(tmp_path / folder / "retain.duckdb", read_only=True) as store:
            audit = store.execute("SELECT rows_erased FROM erasure_audit").fetchall()
        assert len(audit) == 1 and audit[0][0] > 0 and user not in str(audit)
    metrics = b.get("/metrics").text
    assert "retain_replica_events_total 1" in metrics
    assert "retain_replica_erasures_total 1" in metrics


@needs_server
def test_concurrent_batches_on_two_replicas_reach_the_other_exactly_once(
    replicas: Replicas,
) -> None:
    """Polling while batches commit on both replicas: nothing skipped, nothing fed twice."""
    states = [replica.app.state.retain for replica in replicas[:2]]
    for state in states:
        state.replica.poll()
    accepted = [0, 0]
    fed = [0, 0]
    writing = threading.Event()
    writing.set()

    def write(side: int, thread: int) -> None:
        for n in range(15):
            batch = _events(f"c{side}-{thread}-{n}", f"U{thread + 1:05d}", 3)
            report = intake_events(states[side], batch, f"test/{side}/{thread}/{n}")
            states[side].feed(report.fresh)
            accepted[side] += report.accepted

    def poll(side: int) -> None:
        while writing.is_set():
            fed[side] += states[side].replica.poll()
        fed[side] += states[side].replica.poll()

    pollers = [threading.Thread(target=poll, args=(side,)) for side in (0, 1)]
    writers = [threading.Thread(target=write, args=(s, t)) for s in (0, 1) for t in range(3)]
    for thread in pollers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    writing.clear()
    for thread in pollers:
        thread.join()
    assert accepted == [135, 135]
    assert fed == [accepted[1], accepted[0]]  # each sees exactly the other's events


@needs_server
def test_a_conversation_continues_on_whichever_replica_the_next_message_reaches(
    pg: PostgresStore, replicas: Replicas, tmp_path: Path
) -> None:
    a, b, admin = replicas
    with Store.open(tmp_path / "a" / "retain.duckdb", read_only=True) as store:
        user, order = store.execute(
            "SELECT user_id, order_id FROM orders WHERE coalesce(status, 'completed') = "
            "'completed' ORDER BY order_id LIMIT 1"
        ).fetchone()
    token = a.post(f"/v1/customers/{user}/token", headers=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}

    ask = a.post("/v1/chat", json={"message": "I want to return an item"}, headers=auth).json()
    conversation = ask["conversation_id"]
    confirm = b.post(
        "/v1/chat", json={"message": order, "conversation_id": conversation}, headers=auth
    ).json()
    assert confirm["conversation_id"] == conversation  # b read a's state: the same conversation
    assert f"Shall I start a return for order {order}" in confirm["text"]
    done = a.post(
        "/v1/chat", json={"message": "yes", "conversation_id": conversation}, headers=auth
    ).json()
    assert order in done["text"]
    with pg.connect() as con:
        returns = con.execute("SELECT order_id, user_id FROM return_requests").fetchall()
        turns = con.execute(
            "SELECT count(*) FROM conversations WHERE conversation_id = %s", [conversation]
        ).fetchone()[0]
    assert returns == [(order, user)] and turns == 6
    # The order now shows its return request on either replica.
    again = b.post(
        "/v1/chat",
        json={"message": f"return {order}", "conversation_id": conversation},
        headers=auth,
    ).json()
    assert "return already requested" in again["text"]

    # A hand-off taken by b is in the queue every replica shows, with the whole conversation.
    handed = b.post(
        "/v1/chat",
        json={"message": "I want to talk to a human", "conversation_id": conversation},
        headers=auth,
    ).json()
    assert handed["handed_off"]
    (queued,) = a.get("/v1/handoffs", headers=admin).json()
    assert queued["conversation_id"] == conversation and len(queued["turns"]) == 10

    # A question nothing answers, asked on b, is in the list every replica shows.
    question = "Do you offer engraving on the watches?"
    assert b.post("/v1/chat", json={"message": question}, headers=auth).json()["citations"] == []
    (gap,) = a.get("/v1/assistant/unanswered", headers=admin).json()
    assert (gap["question"], gap["asked"]) == (question, 1)

    # The turns reach the embedded store for analytics by the same pull as events.
    with Store.open(tmp_path / "b" / "retain.duckdb") as store:
        assert pull_events(pg, store) == 12
        assert pull_events(pg, store) == 0
    erased = a.delete(f"/v1/users/{user}", headers=admin).json()["rows_by_table"]
    for table in (
        "conversations",
        "assistant_state",
        "return_requests",
        "handoffs",
        "unanswered_questions",
    ):
        assert erased[f"operational.{table}"] >= 1


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL at postgresql://u:\*\*\*@"):
        PostgresStore("postgresql://u:secret-pw@127.0.0.1:1/none")
