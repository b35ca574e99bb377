"""Export and erase on request: the erased customer appears nowhere, now or after retraining."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from retain.artifacts import prune, version_path
from retain.config import Settings
from retain.data import Store, ingest_arrow
from retain.predict.scoring import train_and_score
from retain.privacy import AUDIT_TABLE, erase_user, export_user
from retain.recommend import RecommendSettings
from retain.recommend.scoring import train_and_recommend
from retain.serve.app import create_app
from retain.serve.keys import create_key


def _richest_customer(store: Store) -> str:
    """A customer with events, orders, a review and scores: data in many tables."""
    row = store.execute(
        "SELECT r.user_id FROM reviews r JOIN user_scores s USING (user_id) "
        "JOIN orders o USING (user_id) JOIN events e USING (user_id) "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()
    return str(row[0][0])


def _mentions(store: Store, user: str) -> dict[str, int]:
    """Rows in any text column of any table that name ``user`` as a whole token."""
    token = r"(^|[^0-9A-Za-z_\-])" + re.escape(user) + r"($|[^0-9A-Za-z_\-])"
    found = {}
    columns = store.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
    ).fetchall()
    for table, column in columns:
        n = store.execute(
            f'SELECT count(*) FROM "{table}" WHERE regexp_matches("{column}", ?)', [token]
        ).fetchall()[0][0]
        if n:
            found[f"{table}.{column}"] = n
    return found


@pytest.fixture
def shop(demo_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(demo_dir, folder)
    return folder


def test_export_then_erase_then_retrain_leaves_no_trace(shop: Path) -> None:
    with Store.open(shop / "retain.duckdb") as store:
        user = _richest_customer(store)
        _, admin = create_key(store, "privacy-test", "admin", 1000)
    headers = {"X-API-Key": admin}
    with TestClient(create_app(Settings(data_dir=shop))) as api:
        token = api.post(f"/v1/customers/{user}/token", headers=headers).json()["token"]
        api.post(
            "/v1/chat",
            json={"message": "my phone is 13812345678, where is my order?"},
            headers={"Authorization": f"Bearer {token}"},
        )
        exported = api.get(f"/v1/users/{user}/export", headers=headers)
        assert exported.status_code == 200
        tables = exported.json()["tables"]
        assert {"events", "orders", "reviews", "user_scores", "conversations"} <= set(tables)
        before = api.get(f"/v1/users/{user}/recommendations", headers=headers).json()
        assert not before["cold_start"]

        erased = api.delete(f"/v1/users/{user}", headers=headers)
        assert erased.status_code == 200 and erased.json()["rows"] > 0
        # The serving model forgot them at once: only the cold-start answer is left.
        after = api.get(f"/v1/users/{user}/recommendations", headers=headers).json()
        assert after["cold_start"]
        assert api.get(f"/v1/users/{user}/export", headers=headers).status_code == 404
        assert api.get(f"/v1/users/{user}/scores", headers=headers).status_code == 404
        again = api.delete(f"/v1/users/{user}", headers=headers)
        assert again.status_code == 200 and again.json()["rows"] == 0
        # An event from before the erase, sent again, is not stored again.
        old = {"event_id": "resent-1", "user_id": user, "item_id": "I00001",
               "event_type": "view", "ts": "2026-07-01 10:00:00"}  # fmt: skip
        resent = api.post("/v1/events", json={"events": [old]}, headers=headers).json()
        assert (resent["accepted"], resent["erased"]) == (0, 1)
        stale = {"consent": True, "changed_at": "2026-07-01T00:00:00Z"}
        refused = api.put(f"/v1/users/{user}/marketing-consent", json=stale, headers=headers)
        assert refused.status_code == 422 and "erased on request" in refused.text

    with Store.open(shop / "retain.duckdb") as store:
        assert _mentions(store, user) == {}
        audit = store.execute(f"SELECT * FROM {AUDIT_TABLE}").fetchall()
        assert len(audit) == 2 and user not in str(audit)
        rec = train_and_recommend(store, shop / "models", RecommendSettings(sequential=False))
        predict = train_and_score(store, shop / "models")
        assert _mentions(store, user) == {}
    for kind, version in (("recommend", rec.version), ("predict", predict.version)):
        folder = version_path(shop / "models", kind, version)
        for path in folder.rglob("*"):
            if path.is_file():
                assert user.encode() not in path.read_bytes(), f"{user} in {path}"
    # The versions trained before the erase still hold them, until pruned.
    old = (shop / "models" / "recommend").rglob("*")
    assert any(p.is_file() and user.encode() in p.read_bytes() for p in old)
    for kind in ("recommend", "predict", "sentiment", "assistant"):
        prune(shop / "models", kind)
    for path in (shop / "models").rglob("*"):
        if path.is_file():
            assert user.encode() not in path.read_bytes(), f"{user} in {path}"


def test_erase_is_one_transaction_and_refuses_an_empty_id(shop: Path) -> None:
    with Store.open(shop / "retain.duckdb") as store:
        user = _richest_customer(store)
        with pytest.raises(ValueError, match="user id is required"):
            erase_user(store, " ")
        held = sum(len(rows) for rows in export_user(store, user).values())
        report = erase_user(store, user)
        assert report.rows == held


def test_an_erased_customer_does_not_come_back_with_the_next_export(shop: Path) -> None:
    """The shop's nightly files still hold an erased customer: loading them again must not
    bring the customer back, nor keep their records in the quarantine; what they do
    after the erase is new and is stored."""
    from retain.data import ingest_file
    from retain.data.consent import ConsentChange, record_consent
    from retain.demo import DEMO_FILES
    from retain.errors import InvalidInputError

    with Store.open(shop / "retain.duckdb") as store:
        user = _richest_customer(store)
        erase_user(store, user)
        skipped = {}
        for name, table in DEMO_FILES.items():
            report = ingest_file(store, table, shop / "demo" / name)
            assert report.accepted + report.duplicates + report.quarantined + report.erased == (
                report.rows
            )
            if report.erased:
                skipped[table] = report.erased
        assert {"events", "orders", "reviews", "users"} <= set(skipped)
        assert _mentions(store, user) == {}
        # A consent change from before the erase would bring a profile back: refused.
        before = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with pytest.raises(InvalidInputError, match="was erased on request"):
            record_consent(store, ConsentChange.new(user, False, changed_at=before))
        assert _mentions(store, user) == {}
        # Their next order is theirs to place.
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        order = pa.table({"order_id": ["after-erase"], "user_id": [user],
                          "ts": [now.isoformat(sep=" ")], "amount": [12.0]})  # fmt: skip
        assert ingest_arrow(store, "orders", order, source="today").accepted == 1
        others = store.execute(
            "SELECT count(DISTINCT user_id) FROM orders WHERE user_id <> ?", [user]
        ).fetchall()[0][0]
        assert others > 1000  # everyone else is as before
