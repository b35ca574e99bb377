"""The demo shop: seeded, realistic, and loadable without a single quarantined row."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from retain.data import Store, ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop

END = datetime(2026, 6, 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store]:
    folder = tmp_path_factory.mktemp("shop")
    generate_demo_shop(folder, seed=11, n_users=400, n_items=80, days=120, end=END)
    store = Store.open(":memory:")
    for name, table in DEMO_FILES.items():
        report = ingest_file(store, table, folder / name)
        assert report.quarantined == 0, (name, report.reasons)
    return folder, store


def test_same_seed_same_files(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, 1), (b, 1), (c, 2)):
        generate_demo_shop(folder, seed=seed, n_users=60, n_items=16, days=30, end=END)
    assert (a / "events.csv").read_bytes() == (b / "events.csv").read_bytes()
    assert (a / "events.csv").read_bytes() != (c / "events.csv").read_bytes()


def test_catalogue_and_reviews_are_bilingual(shop: tuple[Path, Store]) -> None:
    _, store = shop
    langs = dict(store.execute("SELECT language, count(*) FROM items GROUP BY 1").fetchall())
    assert langs.get("zh", 0) > 10 and langs.get("en", 0) > 10
    review_langs = {r[0] for r in store.execute("SELECT DISTINCT language FROM reviews").fetchall()}
    assert review_langs == {"zh", "en"}
    kb = {r[0] for r in store.execute("SELECT DISTINCT language FROM kb_articles").fetchall()}
    assert kb == {"zh", "en"}


def test_funnel_order_within_sessions(shop: tuple[Path, Store]) -> None:
    _, store = shop
    broken = store.execute(
        """SELECT count(*) FROM events p WHERE p.event_type = 'purchase' AND NOT EXISTS (
             SELECT 1 FROM events c WHERE c.session_id = p.session_id AND c.item_id = p.item_id
             AND c.event_type = 'cart' AND c.ts <= p.ts)"""
    ).fetchall()[0][0]
    assert broken == 0
    funnel = dict(store.execute("SELECT event_type, count(*) FROM events GROUP BY 1").fetchall())
    assert funnel["view"] > funnel["cart"] > funnel["purchase"] > 0


def test_repeat_buyers_and_churned_users_both_exist(shop: tuple[Path, Store]) -> None:
    _, store = shop
    buyers, repeaters = store.execute(
        "SELECT count(*), count(*) FILTER (WHERE n > 1) FROM "
        "(SELECT user_id, count(*) n FROM orders GROUP BY 1)"
    ).fetchall()[0]
    assert 0.2 < repeaters / buyers < 0.8
    silent = store.execute(
        "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM events e WHERE "
        "e.user_id = u.user_id AND e.ts > TIMESTAMP '2026-05-01')"
    ).fetchall()[0][0]
    assert silent > 100  # most customers are gone a month before the end


def test_bad_experiences_lower_ratings(shop: tuple[Path, Store]) -> None:
    _, store = shop
    returned, other = store.execute(
        "SELECT avg(r.rating) FILTER (WHERE o.status = 'returned'), "
        "avg(r.rating) FILTER (WHERE o.status = 'completed') FROM reviews r JOIN orders o "
        "ON o.user_id = r.user_id AND r.ts BETWEEN o.ts AND o.ts + INTERVAL 10 DAY"
    ).fetchall()[0]
    assert returned < other


def test_manifest_counts_match_files(shop: tuple[Path, Store]) -> None:
    folder, store = shop
    manifest = json.loads((folder / "manifest.json").read_text())
    for table, n in manifest["counts"].items():
        assert store.count(table) == n


def test_sign_ups_and_first_orders_go_on_to_the_last_weeks(shop: tuple[Path, Store]) -> None:
    """A shop that stopped winning customers three weeks before the end would show
    every dashboard a collapse that is only the generator's."""
    _, store = shop
    per_week = [
        n
        for _, n in store.execute(
            "SELECT date_trunc('week', first) AS week, count(*) FROM "
            "(SELECT user_id, min(ts) AS first FROM orders GROUP BY 1) "
            "WHERE first >= TIMESTAMP '2026-03-02' GROUP BY week ORDER BY week"
        ).fetchall()
    ]
    assert len(per_week) == 13  # weeks from 2 March to the end on 1 June
    assert min(per_week[-3:]) >= 0.5 * (sum(per_week[:-3]) / len(per_week[:-3]))


def test_returns_and_cancellations_are_dated_inside_the_window(
    shop: tuple[Path, Store],
) -> None:
    """Features read an order as it stood on their cutoff, so the demo dates each
    return and cancellation after its order, and none after the export."""
    _, store = shop
    rows = store.execute(
        "SELECT status, count(*), count(status_ts), "
        "count(*) FILTER (WHERE status_ts <= ts OR status_ts >= TIMESTAMP '2026-06-01'), "
        "min(date_diff('hour', ts, status_ts)), max(date_diff('day', ts, status_ts)) "
        "FROM orders GROUP BY 1"
    ).fetchall()
    by_status = {r[0]: r[1:] for r in rows}
    returned, cancelled = by_status["returned"], by_status["cancelled"]
    assert returned[0] == returned[1] > 0 and cancelled[0] == cancelled[1] > 0
    assert returned[2] == cancelled[2] == 0
    assert returned[3] >= 4 * 24 and returned[4] <= 25
    assert cancelled[4] <= 2
    assert by_status["completed"][1] == 0
