"""The /v1 REST API on a copy of the demo shop: auth, event intake, answers, hot swap."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retain.artifacts import current_version, publish
from retain.config import ActionConfig, CampaignConfig, ServiceConfig, Settings
from retain.data import Store
from retain.recommend.scoring import load_current
from retain.serve.app import create_app
from retain.serve.keys import create_key, revoke_key

MAX_EVENTS = 50
MAX_BODY = 20_000


@pytest.fixture(scope="module")
def shop(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy: these tests add events, keys and model versions."""
    folder = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(demo_dir, folder)
    return folder


@pytest.fixture(scope="module")
def keys(shop: Path) -> dict[str, str]:
    made = {}
    with Store.open(shop / "retain.duckdb") as store:
        for role in ("read", "ingest", "admin"):
            made[role] = create_key(store, f"test-{role}", role, 10_000)[1]
        made["slow"] = create_key(store, "test-slow", "read", 1)[1]
    return made


@pytest.fixture(scope="module")
def api(shop: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=shop,
        service=ServiceConfig(max_events_per_batch=MAX_EVENTS, max_body_bytes=MAX_BODY),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _known_user(shop: Path) -> str:
    with Store.open(shop / "retain.duckdb", read_only=True) as store:
        row = store.execute(
            "SELECT user_id FROM user_scores ORDER BY churn_risk DESC LIMIT 1"
        ).fetchall()
    return str(row[0][0])


def _event(event_id: str, user: str, item: str, kind: str = "purchase") -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    return {
        "event_id": event_id,
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "ts": now.isoformat(sep=" ", timespec="seconds"),
    }


def test_calls_without_a_valid_key_are_refused_with_a_clear_json_error(
    api: TestClient, keys: dict[str, str]
) -> None:
    missing = api.get("/v1/users/U00001/recommendations")
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    forged = keys["read"][:-4] + "AAAA"
    assert api.get("/v1/users/U00001/recommendations", headers=_h(forged)).status_code == 401
    bearer = {"Authorization": f"Bearer {keys['read']}"}
    assert api.get("/v1/users/U00001/recommendations", headers=bearer).status_code == 200


def test_a_key_may_do_only_what_its_role_allows(api: TestClient, keys: dict[str, str]) -> None:
    batch = {"events": [_event("role-1", "U00001", "I00001")]}
    refused = api.post("/v1/events", json=batch, headers=_h(keys["read"]))
    assert refused.status_code == 403 and "ingest role" in refused.json()["detail"]
    assert api.post("/v1/events", json=batch, headers=_h(keys["admin"])).status_code == 200
    token = api.post("/v1/customers/U00001/token", headers=_h(keys["ingest"]))
    assert token.status_code == 403


def test_a_customer_known_by_email_is_found_whatever_the_case(
    api: TestClient, keys: dict[str, str]
) -> None:
    """A shop keys guests by the address typed at checkout, in any case: one customer."""
    batch = {"events": [_event("mail-1", "Ann.Lee@Shop.com", "I00001", "view")]}
    sent = api.post("/v1/events", json=batch, headers=_h(keys["ingest"]))
    assert sent.status_code == 200 and sent.json()["accepted"] == 1
    url = "/v1/users/ANN.LEE@shop.com/marketing-consent"
    out = api.put(url, json={"consent": False}, headers=_h(keys["ingest"]))
    assert out.status_code == 200 and out.json()["user_id"] == "ann.lee@shop.com"
    shown = api.get("/v1/users/ann.lee@shop.com/marketing-consent", headers=_h(keys["read"]))
    assert shown.json()["marketing_consent"] is False
    exported = api.get("/v1/users/Ann.Lee@Shop.com/export", headers=_h(keys["admin"])).json()
    assert [e["event_id"] for e in exported["tables"]["events"]] == ["mail-1"]
    assert exported["tables"]["users"][0]["user_id"] == "ann.lee@shop.com"
    too_long = api.get(f"/v1/users/{'u' * 513}/scores", headers=_h(keys["read"]))
    assert too_long.status_code == 422 and "at most 512" in too_long.json()["detail"]


def test_each_key_has_its_own_rate_limit(api: TestClient, keys: dict[str, str]) -> None:
    answers = [
        api.get("/v1/users/U00001/recommendations", headers=_h(keys["slow"])) for _ in range(4)
    ]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, "a 1 request/s key was never limited"
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert "rate limit" in limited[0].json()["detail"]
    # Another key is not affected.
    assert api.get("/v1/users/U00001/recommendations", headers=_h(keys["read"])).status_code == 200


def test_a_revoked_key_stops_working_at_the_next_refresh(shop: Path, api: TestClient) -> None:
    with Store.open(shop / "retain.duckdb") as store:
        key, secret = create_key(store, "short-lived", "read", 100)
    state = api.app.state.retain  # type: ignore[attr-defined]
    state.keys.refresh()
    assert api.get("/v1/items/I00001/similar", headers=_h(secret)).status_code == 200
    with Store.open(shop / "retain.duckdb") as store:
        revoke_key(store, key.key_id)
    state.keys.refresh()
    assert api.get("/v1/items/I00001/similar", headers=_h(secret)).status_code == 401


def test_event_batches_are_idempotent_by_event_id(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    batch = {"events": [_event(f"idem-{i}", "U00002", f"I{i + 1:05d}", "view") for i in range(5)]}
    first = api.post("/v1/events", json=batch, headers=_h(keys["ingest"]))
    assert first.status_code == 200
    assert first.json()["accepted"] == 5 and first.json()["duplicates"] == 0
    again = api.post("/v1/events", json=batch, headers=_h(keys["ingest"])).json()
    assert again["accepted"] == 0 and again["duplicates"] == 5
    with Store.open(shop / "retain.duckdb", read_only=True) as store:
        stored = store.execute("SELECT count(*) FROM events WHERE event_id LIKE 'idem-%'")
        assert stored.fetchall()[0][0] == 5
    # The same id with another item is no retry: it is refused, saying why.
    reused = {"events": [{**batch["events"][0], "item_id": "I00009"}]}
    clash = api.post("/v1/events", json=reused, headers=_h(keys["ingest"]))
    assert clash.status_code == 422
    (error,) = clash.json()["errors"]
    assert error["index"] == 0
    assert error["reasons"] == [
        "event_id 'idem-0' is already stored with other values: "
        "item_id 'I00001' stored, 'I00009' here"
    ]


def test_bad_records_are_reported_by_position_and_good_ones_kept(
    api: TestClient, keys: dict[str, str]
) -> None:
    good = _event("mixed-good", "U00003", "I00002", "view")
    bad = {**_event("mixed-bad", "U00003", "I00002"), "event_type": "teleport"}
    answer = api.post("/v1/events", json={"events": [good, bad]}, headers=_h(keys["ingest"]))
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 1 and body["quarantined"] == 1
    assert body["errors"][0]["index"] == 1 and "teleport" in " ".join(body["errors"][0]["reasons"])
    only_bad = api.post("/v1/events", json={"events": [bad]}, headers=_h(keys["ingest"]))
    assert only_bad.status_code == 422


def test_odd_field_names_are_refused_or_ignored_never_a_500(
    api: TestClient, keys: dict[str, str]
) -> None:
    event = _event("odd-names", "U00005", "I00003", "view")
    empty = api.post("/v1/events", json={"events": [{**event, "": 1}]}, headers=_h(keys["ingest"]))
    assert empty.status_code == 422
    odd = {**event, "\u0000": 1, "_row": "x", "EVENT_ID": "shadow"}
    answer = api.post("/v1/events", json={"events": [odd]}, headers=_h(keys["ingest"]))
    assert answer.status_code == 200 and answer.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b'{"events": []}', 422),
        (b'{"events": [1, 2]}', 422),
        (b'{"events": "x"}', 422),
    ],
)
def test_malformed_batches_get_a_4xx_and_store_nothing(
    api: TestClient, keys: dict[str, str], body: bytes, status: int
) -> None:
    headers = {**_h(keys["ingest"]), "Content-Type": "application/json"}
    answer = api.post("/v1/events", content=body, headers=headers)
    assert answer.status_code == status and "detail" in answer.json()


def test_oversized_batches_are_refused_with_413(api: TestClient, keys: dict[str, str]) -> None:
    many = {"events": [_event(f"big-{i}", "U00004", "I00001") for i in range(MAX_EVENTS + 1)]}
    answer = api.post("/v1/events", json=many, headers=_h(keys["ingest"]))
    assert answer.status_code == 413 and f"{MAX_EVENTS}" in answer.json()["detail"]
    huge = {"events": [{**_event("huge", "U00004", "I00001"), "session_id": "x" * MAX_BODY}]}
    answer = api.post("/v1/events", json=huge, headers=_h(keys["ingest"]))
    assert answer.status_code == 413 and "limit" in answer.json()["detail"]


def test_a_new_purchase_changes_the_next_answer_at_once(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    user = _known_user(shop)
    url = f"/v1/users/{user}/recommendations?k=5"
    before = api.get(url, headers=_h(keys["read"])).json()
    top = before["items"][0]["item_id"]
    again = api.get(url, headers=_h(keys["read"])).json()
    assert again == before  # served from the cache
    batch = {"events": [_event(f"fresh-{user}", user, top)]}
    assert api.post("/v1/events", json=batch, headers=_h(keys["ingest"])).status_code == 200
    after = api.get(url, headers=_h(keys["read"])).json()
    assert top not in [item["item_id"] for item in after["items"]]


def test_recommendations_for_known_unknown_and_filtered_requests(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    user = _known_user(shop)
    known = api.get(f"/v1/users/{user}/recommendations?k=3", headers=_h(keys["read"])).json()
    assert len(known["items"]) == 3 and not known["cold_start"]
    assert all(item["reason"] for item in known["items"])
    stranger = api.get("/v1/users/nobody-knows/recommendations", headers=_h(keys["read"]))
    assert stranger.status_code == 200 and stranger.json()["cold_start"]
    session = api.get(
        "/v1/users/nobody-knows/recommendations?recent=I00001&recent=NOPE",
        headers=_h(keys["read"]),
    ).json()
    assert session["unknown_items"] == ["NOPE"] and not session["cold_start"]
    excluded = known["items"][0]["item_id"]
    without = api.get(
        f"/v1/users/{user}/recommendations?k=3&exclude={excluded}", headers=_h(keys["read"])
    ).json()
    assert excluded not in [item["item_id"] for item in without["items"]]
    assert (
        api.get(f"/v1/users/{user}/recommendations?k=0", headers=_h(keys["read"])).status_code
        == 422
    )


def test_similar_items_and_scores(api: TestClient, keys: dict[str, str], shop: Path) -> None:
    similar = api.get("/v1/items/I00001/similar?k=4", headers=_h(keys["read"]))
    assert similar.status_code == 200 and len(similar.json()["items"]) == 4
    assert api.get("/v1/items/NO-SUCH/similar", headers=_h(keys["read"])).status_code == 404
    user = _known_user(shop)
    scores = api.get(f"/v1/users/{user}/scores", headers=_h(keys["read"]))
    assert scores.status_code == 200
    assert 0.0 <= scores.json()["churn_risk"] <= 1.0 and scores.json()["model_version"]
    assert scores.json()["currency"] is None  # the shop names none: plain amounts
    assert api.get("/v1/users/nobody-knows/scores", headers=_h(keys["read"])).status_code == 404


def test_reviews_are_scored_in_both_languages(api: TestClient, keys: dict[str, str]) -> None:
    texts = ["Terrible, the shoes fell apart after a week", "质量很好，物流也快，非常满意", ""]
    answer = api.post("/v1/reviews/score", json={"texts": texts}, headers=_h(keys["read"]))
    assert answer.status_code == 200
    scores = answer.json()["scores"]
    assert scores[0]["label"] == 0 and scores[1]["label"] == 1
    assert scores[2]["label"] is None and scores[2]["note"]
    assert scores[1]["language"] == "zh"
    # The demo shop's reviews are built from a few phrases: the answer says so, and
    # what else the model learned from.
    note = answer.json()["model_note"]
    assert "distinct review texts from this shop, with" in note
    assert "general Chinese shopping reviews and an English sentiment lexicon" in note


def test_chat_acts_only_for_the_customer_its_token_names(
    api: TestClient, keys: dict[str, str]
) -> None:
    assert api.post("/v1/chat", json={"message": "where is my order?"}).status_code == 401
    minted = api.post("/v1/customers/U00012/token", headers=_h(keys["admin"])).json()
    auth = {"Authorization": f"Bearer {minted['token']}"}
    first = api.post("/v1/chat", json={"message": "where is my order?"}, headers=auth)
    assert first.status_code == 200 and first.json()["text"]
    # A token whose user part was swapped for another customer's is refused.
    other = api.post("/v1/customers/U00013/token", headers=_h(keys["admin"])).json()["token"]
    forged = other.split(".")[0] + "." + ".".join(minted["token"].split(".")[1:])
    refused = api.post(
        "/v1/chat", json={"message": "hi"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 401
    # Another customer's conversation id starts a new conversation instead of reading theirs.
    theirs = api.post(
        "/v1/chat",
        json={"message": "where is my order?"},
        headers={"Authorization": f"Bearer {other}"},
    ).json()["conversation_id"]
    mine = api.post(
        "/v1/chat", json={"message": "and the other one?", "conversation_id": theirs}, headers=auth
    )
    assert mine.json()["conversation_id"] != theirs


def test_unanswered_questions_are_listed_for_admins(api: TestClient, keys: dict[str, str]) -> None:
    token = api.post("/v1/customers/U00020/token", headers=_h(keys["admin"])).json()["token"]
    question = "Do you sell spare parts for bicycles?"  # unlike the browser test's question
    reply = api.post(
        "/v1/chat", json={"message": question}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert reply["citations"] == []
    assert api.get("/v1/assistant/unanswered", headers=_h(keys["read"])).status_code == 403
    listed = api.get("/v1/assistant/unanswered?days=1", headers=_h(keys["admin"])).json()
    (ours,) = [q for q in listed if q["question"] == question]
    assert ours["asked"] == 1 and ours["customers"] == 1 and ours["language"] == "en"


def test_the_urgent_order_puts_a_valuable_customer_first(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    with Store.open(shop / "retain.duckdb") as store:
        (valuable,) = store.execute(
            "SELECT user_id FROM user_scores ORDER BY expected_lifetime_value DESC LIMIT 1"
        ).fetchone()
        (unscored,) = store.execute(
            "SELECT user_id FROM users WHERE user_id NOT IN (SELECT user_id FROM user_scores) "
            "ORDER BY user_id LIMIT 1"
        ).fetchone()
    conversations = []
    for user in (valuable, unscored):  # the unscored customer asks last: the newest
        token = api.post(f"/v1/customers/{user}/token", headers=_h(keys["admin"])).json()
        reply = api.post(
            "/v1/chat",
            json={"message": "I want to talk to a human"},
            headers={"Authorization": f"Bearer {token['token']}"},
        ).json()
        conversations.append(reply["conversation_id"])

    def ours(order: str) -> list[dict[str, Any]]:
        queue = api.get(f"/v1/handoffs?order={order}", headers=_h(keys["admin"])).json()
        return [h for h in queue if h["conversation_id"] in conversations]

    newest = ours("newest")
    assert [h["user_id"] for h in newest] == [unscored, valuable]
    urgent = ours("urgent")
    assert [h["user_id"] for h in urgent] == [valuable, unscored]
    assert urgent[0]["urgency"] >= 1.0 and "valuable customer" in urgent[0]["standing"][0]
    assert urgent[1]["urgency"] == 0.0 and urgent[1]["standing"] == []
    assert api.get("/v1/handoffs?order=oldest", headers=_h(keys["admin"])).status_code == 422


def test_a_hand_off_reaches_the_queue_with_the_conversation(
    api: TestClient, keys: dict[str, str]
) -> None:
    minted = api.post("/v1/customers/U00021/token", headers=_h(keys["admin"])).json()
    auth = {"Authorization": f"Bearer {minted['token']}"}
    message = "I want to talk to a human, call me on +44 7700 900123"
    reply = api.post("/v1/chat", json={"message": message}, headers=auth).json()
    assert reply["handed_off"]
    assert api.get("/v1/handoffs", headers=_h(keys["read"])).status_code == 403
    queue = api.get("/v1/handoffs?limit=5", headers=_h(keys["admin"])).json()
    mine = next(h for h in queue if h["conversation_id"] == reply["conversation_id"])
    assert mine["user_id"] == "U00021" and mine["reason"]
    assert [t["role"] for t in mine["turns"]] == ["customer", "bot"]
    assert "7700 900123" not in str(mine)  # the phone number is masked in the queue too
    assert api.get("/v1/handoffs?limit=0", headers=_h(keys["admin"])).status_code == 422
    # A person takes it: it leaves the open queue and stays in the history.
    url = f"/v1/handoffs/{mine['handoff_id']}/close"
    closed = api.post(url, headers=_h(keys["admin"])).json()
    assert closed["closed_at"] and closed["handoff_id"] == mine["handoff_id"]
    assert api.post(url, headers=_h(keys["admin"])).status_code == 404  # already closed
    still_open = api.get("/v1/handoffs", headers=_h(keys["admin"])).json()
    assert mine["handoff_id"] not in {h["handoff_id"] for h in still_open}
    history = api.get("/v1/handoffs?state=all", headers=_h(keys["admin"])).json()
    assert mine["handoff_id"] in {h["handoff_id"] for h in history}


def _publish_variant(shop: Path) -> str:
    """A second recommender version (same model, one rule changed)."""
    rec = load_current(shop / "models")
    rec.settings = replace(rec.settings, new_item_slots=0)
    return publish(shop / "models", "recommend", rec.save)


def test_a_promoted_model_is_served_without_a_restart_and_can_be_rolled_back(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    user = _known_user(shop)
    url = f"/v1/users/{user}/recommendations?k=5"
    old = api.get(url, headers=_h(keys["read"])).json()["model_version"]
    # A purchase the serving model sees; the new model was trained without it.
    top = api.get(url, headers=_h(keys["read"])).json()["items"][0]["item_id"]
    batch = {"events": [_event(f"swap-{user}", user, top)]}
    api.post("/v1/events", json=batch, headers=_h(keys["ingest"]))
    new = _publish_variant(shop)  # publishing makes it current
    api.app.state.retain.watcher.poll_all()  # type: ignore[attr-defined]
    answer = api.get(url, headers=_h(keys["read"])).json()
    assert answer["model_version"] == new != old
    assert top not in [item["item_id"] for item in answer["items"]]  # replayed into the new one
    models = api.get("/v1/models", headers=_h(keys["read"])).json()
    assert models["recommend"]["serving"] == new
    back = api.post("/v1/models/recommend/rollback", headers=_h(keys["admin"])).json()
    assert back["serving"] == old == current_version(shop / "models", "recommend")
    assert api.get(url, headers=_h(keys["read"])).json()["model_version"] == old
    assert (
        api.post(
            "/v1/models/recommend/promote", json={"version": "nope"}, headers=_h(keys["admin"])
        )
    ).status_code == 404


def test_the_first_event_loads_the_model_without_deadlocking(
    demo_dir: Path, tmp_path: Path
) -> None:
    """An event can arrive before any request made the service load its recommender."""
    folder = tmp_path / "data"
    shutil.copytree(demo_dir, folder)
    state = create_app(Settings(data_dir=folder)).state.retain
    user = "U00001"
    fed = threading.Thread(target=state.feed, args=([(user, "I00003", "purchase")],))
    fed.start()
    fed.join(timeout=60)
    assert not fed.is_alive(), "feeding the first event deadlocked"
    model = state.recommender.serving[1]
    assert model.histories[user][-1] == model.items.lookup()["I00003"]


def test_a_corrupt_model_is_refused_and_the_old_one_keeps_serving(
    api: TestClient, keys: dict[str, str], shop: Path
) -> None:
    serving = api.get("/v1/users/U00001/recommendations", headers=_h(keys["read"])).json()
    bad = publish(
        shop / "models", "recommend", lambda folder: (folder / "model.json").write_text("{")
    )
    outcome = api.post(
        "/v1/models/recommend/promote", json={"version": bad}, headers=_h(keys["admin"])
    ).json()
    assert outcome["serving"] == serving["model_version"] and outcome["refused"]
    again = api.get("/v1/users/U00001/recommendations", headers=_h(keys["read"]))
    assert again.status_code == 200 and again.json()["model_version"] == serving["model_version"]
    models = api.get("/v1/models", headers=_h(keys["read"])).json()["recommend"]
    assert models["refused"]["version"] == bad
    api.post(
        "/v1/models/recommend/promote",
        json={"version": serving["model_version"]},
        headers=_h(keys["admin"]),
    )


def test_metrics_count_requests_by_route_without_user_ids(
    api: TestClient, keys: dict[str, str]
) -> None:
    api.get("/v1/users/U00001/recommendations", headers=_h(keys["read"]))
    text = api.get("/metrics").text
    assert 'route="/v1/users/{user_id}/recommendations",status="200"' in text
    assert "U00001" not in text
    assert "retain_http_request_seconds_bucket" in text and "retain_model_serving" in text


def test_the_openapi_spec_lists_the_api_and_not_the_pages(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/events", "/v1/users/{user_id}/recommendations", "/v1/chat"} <= paths
    assert "/at-risk" not in paths


def test_campaigns_are_planned_listed_exported_and_measured(
    api: TestClient, keys: dict[str, str]
) -> None:
    made = api.post(
        "/v1/campaigns", json={"budget": 300, "holdout": 0.2}, headers=_h(keys["admin"])
    )
    assert made.status_code == 200
    campaign = made.json()
    assert campaign["customers"] > 0 and campaign["expected_cost"] <= 300 + 1e-6
    assert campaign["uplift_learned"] == {}  # no earlier experiment to learn from
    listed = api.get("/v1/campaigns", headers=_h(keys["read"])).json()
    assert campaign["campaign_id"] in [c["campaign_id"] for c in listed]
    rows = api.get(f"/v1/campaigns/{campaign['campaign_id']}", headers=_h(keys["read"])).json()
    assert len(rows["customers"]) == campaign["customers"]
    assert all(r["reason"] for r in rows["customers"])
    csv = api.get(f"/v1/campaigns/{campaign['campaign_id']}?format=csv", headers=_h(keys["read"]))
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("user_id,action,reason")
    assert api.get("/v1/campaigns/nope", headers=_h(keys["read"])).status_code == 404
    report = api.get(f"/v1/experiments/{campaign['experiment']}", headers=_h(keys["read"]))
    assert report.status_code == 200
    assert [h["days"] for h in report.json()["horizons"]] == [7, 30, 90]
    assert api.get("/v1/experiments/nope", headers=_h(keys["read"])).status_code == 404
    assert (
        api.post("/v1/campaigns", json={"budget": -1}, headers=_h(keys["admin"])).status_code == 422
    )


def test_a_campaign_plans_with_the_shops_configured_actions(
    shop: Path, keys: dict[str, str]
) -> None:
    nudge = ActionConfig(name="sms_nudge", description="a text message", fixed_cost=0.1,
                         max_uplift=0.04, cooldown_days=7)  # fmt: skip
    settings = Settings(data_dir=shop, campaign=CampaignConfig(actions=[nudge]), currency="GBP")
    with TestClient(create_app(settings)) as client:
        # Costs and values are in the shop's currency, and the service says which.
        listed = client.get("/v1/campaign-actions", headers=_h(keys["read"])).json()
        assert listed["currency"] == "GBP"
        user = _known_user(shop)
        scores = client.get(f"/v1/users/{user}/scores", headers=_h(keys["read"])).json()
        assert scores["currency"] == "GBP"
        curves = client.get("/v1/retention/curves", headers=_h(keys["read"])).json()
        assert curves["currency"] == "GBP"
        # An event's value written in another currency is refused, saying so.
        priced = {**_event("priced-usd", "U00003", "I00002", "purchase"), "value": "$5"}
        refused = client.post("/v1/events", json={"events": [priced]}, headers=_h(keys["ingest"]))
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["reasons"] == [
            "value: '$5' is in $, not this shop's currency, GBP (the currency setting), "
            "and amounts are summed as one currency: convert it to GBP before loading"
        ]
        made = client.post("/v1/campaigns", json={"budget": 20}, headers=_h(keys["admin"]))
        assert made.status_code == 200, made.text
        assert made.json()["without_picks"] == 0  # no configured action needs a list
        planned = client.get(
            f"/v1/campaigns/{made.json()['campaign_id']}", headers=_h(keys["read"])
        ).json()["customers"]
    assert planned and {row["action"] for row in planned} == {"sms_nudge"}
    # A text message is marketing: the demo's customers who declined it get none.
    with Store.open(shop / "retain.duckdb", read_only=True) as store:
        rows = store.execute("SELECT user_id FROM users WHERE NOT marketing_consent").fetchall()
    declined = {r[0] for r in rows}
    assert made.json()["without_consent"] > 0 and declined
    assert not declined & {row["user_id"] for row in planned}
    assert all("a text message expected to add" in row["reason"] for row in planned)


def test_an_opt_out_through_the_api_keeps_the_customer_out_of_the_next_campaign(
    demo_dir: Path, tmp_path: Path
) -> None:
    # A shop of its own: the campaigns planned here put customers in cooldown.
    shop = tmp_path / "data"
    shutil.copytree(demo_dir, shop)
    with Store.open(shop / "retain.duckdb") as store:
        keys = {
            role: create_key(store, role, role, 1000)[1] for role in ("read", "ingest", "admin")
        }
        (user, first_seen), *_ = store.execute(
            "SELECT user_id, first_seen FROM users JOIN user_scores USING (user_id) "
            "WHERE marketing_consent ORDER BY churn_risk DESC LIMIT 1"
        ).fetchall()
    with TestClient(create_app(Settings(data_dir=shop))) as api:
        _opt_out_then_plan(api, keys, shop, user, first_seen)


def _opt_out_then_plan(
    api: TestClient, keys: dict[str, str], shop: Path, user: str, first_seen: object
) -> None:
    before = api.post("/v1/campaigns", json={"budget": 400}, headers=_h(keys["admin"])).json()
    url = f"/v1/users/{user}/marketing-consent"
    now = dt.datetime.now(dt.UTC)
    body = {"consent": False, "source": "mailchimp unsubscribe"}
    assert api.put(url, json=body, headers=_h(keys["read"])).status_code == 403
    out = api.put(url, json=body, headers=_h(keys["ingest"]))
    assert out.status_code == 200, out.text
    assert (out.json()["marketing_consent"], out.json()["applied"]) == (False, True)
    # A webhook retried from before the opt-out cannot undo it.
    stale = {"consent": True, "changed_at": (now - dt.timedelta(days=1)).isoformat()}
    late = api.put(url, json=stale, headers=_h(keys["ingest"])).json()
    assert (late["marketing_consent"], late["applied"]) == (False, False)
    shown = api.get(url, headers=_h(keys["read"])).json()
    assert shown["marketing_consent"] is False
    assert [h["source"] for h in shown["history"]] == ["mailchimp unsubscribe", None]
    for bad in (
        {"consent": True, "changed_at": "2026-12-07T10:00:00"},  # no time zone
        {"consent": True, "changed_at": (now + dt.timedelta(days=2)).isoformat()},
        {"consent": "perhaps"},
    ):
        refused = api.put(url, json=bad, headers=_h(keys["ingest"]))
        assert refused.status_code == 422, bad

    after = api.post("/v1/campaigns", json={"budget": 400}, headers=_h(keys["admin"])).json()
    assert after["without_consent"] == before["without_consent"] + 1
    assert after["bought_since_scored"] == 0 and after["scored_as_of"] is not None
    planned = api.get(f"/v1/campaigns/{after['campaign_id']}", headers=_h(keys["read"])).json()
    assert user not in {r["user_id"] for r in planned["customers"] if r["action"] != "care_contact"}
    with Store.open(shop / "retain.duckdb", read_only=True) as store:
        kept = store.execute("SELECT first_seen FROM users WHERE user_id = ?", [user]).fetchone()
    assert kept == (first_seen,)  # the profile is otherwise untouched


def test_a_campaign_may_use_some_of_the_actions_listed_by_the_service(
    shop: Path, keys: dict[str, str]
) -> None:
    admin, read = _h(keys["admin"]), _h(keys["read"])
    with TestClient(create_app(Settings(data_dir=shop))) as client:
        listed = client.get("/v1/campaign-actions", headers=read).json()
        assert listed["configured"] is False  # the built-in actions, in their order
        names = [a["name"] for a in listed["actions"]]
        assert names == ["coupon_5", "coupon_15", "recommendation_message", "care_contact"]
        coupon_15 = listed["actions"][1]
        assert (coupon_15["cost_if_used"], coupon_15["kind"], coupon_15["cooldown_days"]) == (
            15.0, "coupon", 30,
        )  # fmt: skip
        body = {"budget": 300, "actions": ["coupon_15", "care_contact"]}
        made = client.post("/v1/campaigns", json=body, headers=admin)
        assert made.status_code == 200, made.text
        planned = client.get(f"/v1/campaigns/{made.json()['campaign_id']}", headers=read).json()[
            "customers"
        ]
        assert planned and {row["action"] for row in planned} <= {"coupon_15", "care_contact"}
        assert "coupon_15" in {row["action"] for row in planned}
        typo = client.post(
            "/v1/campaigns", json={"budget": 10, "actions": ["coupon_50"]}, headers=admin
        )
        assert typo.status_code == 422
        assert (
            "no action 'coupon_50'; the built-in actions are coupon_5, coupon_15"
            in (typo.json()["detail"])
        )
        assert (
            client.post("/v1/campaigns", json={"budget": 10, "actions": []}, headers=admin)
        ).status_code == 422
        assert client.get("/v1/campaign-actions").status_code == 401


def test_a_campaign_for_one_segment_reaches_its_members_only(
    api: TestClient, keys: dict[str, str]
) -> None:
    admin, read = _h(keys["admin"]), _h(keys["read"])
    body = {"budget": 100, "segment": "hibernating", "moved_from": "about to sleep"}
    made = api.post("/v1/campaigns", json=body, headers=admin)
    assert made.status_code == 200, made.text
    planned = api.get(f"/v1/campaigns/{made.json()['campaign_id']}", headers=read).json()
    members = api.get(
        "/v1/segments/rfm/hibernating/customers?from=about to sleep", headers=read
    ).json()
    ids = {c["user_id"] for c in planned["customers"]}
    assert ids and ids <= {c["user_id"] for c in members["customers"]}
    assert made.json()["customers_considered"] <= len(members["customers"])
    listed = {c["campaign_id"]: c for c in api.get("/v1/campaigns", headers=read).json()}
    assert listed[made.json()["campaign_id"]]["audience"].startswith(
        "hibernating (from about to sleep since "
    )
    tastes = api.post(
        "/v1/campaigns", json={"budget": 50, "segment": "0", "kind": "taste"}, headers=admin
    )
    assert tastes.status_code == 200, tastes.text
    taste_members = api.get("/v1/segments/taste/0/customers", headers=read).json()["customers"]
    assert tastes.json()["customers_considered"] <= len(taste_members)
    for wrong, status in (
        ({"budget": 10, "segment": "vips"}, 404),
        ({"budget": 10, "segment": "99", "kind": "taste"}, 404),
        ({"budget": 10, "segment": "99", "kind": "cluster"}, 404),
        ({"budget": 10, "segment": "0", "kind": "cluster", "moved_from": "champions"}, 422),
        ({"budget": 10, "segment": "hibernating", "moved_from": "vips"}, 422),
        ({"budget": 10, "moved_from": "champions"}, 422),
        ({"budget": 10, "segment": "hibernating", "days": 0}, 422),
    ):
        assert api.post("/v1/campaigns", json=wrong, headers=admin).status_code == status, wrong


def test_retention_curves_overall_and_per_attribute(api: TestClient, keys: dict[str, str]) -> None:
    overall = api.get("/v1/retention/curves", headers=_h(keys["read"])).json()
    [curve] = overall["curves"]
    assert curve["segment"] is None and curve["points"][0]["retention"] == 1.0
    values = [p["revenue_per_customer"] for p in curve["points"]]
    assert values == sorted(values) and values[0] > 0  # an LTV curve never falls
    split = api.get("/v1/retention/curves?by=channel&period=week", headers=_h(keys["read"]))
    assert split.status_code == 200 and split.json()["period"] == "week"
    names = {c["segment"] for c in split.json()["curves"]}
    assert names == {"ads", "organic", "referral", "social"}
    for by in ("country", "a.b", "$"):
        refused = api.get(f"/v1/retention/curves?by={by}", headers=_h(keys["read"]))
        assert refused.status_code == 422, by
        assert (
            "cannot split" in refused.json()["detail"] or "no customer" in refused.json()["detail"]
        )
    assert api.get("/v1/retention/curves?period=day", headers=_h(keys["read"])).status_code == 422


def test_every_segment_is_listed_so_a_client_can_name_one(
    api: TestClient, keys: dict[str, str]
) -> None:
    read = _h(keys["read"])
    rfm = api.get("/v1/segments/rfm", headers=read).json()
    names = [s["name"] for s in rfm["segments"]]
    assert names[0] == "champions" and "at risk" in names and rfm["model_version"] is None
    assert abs(sum(s["share"] for s in rfm["segments"]) - 1) < 1e-9
    at_risk = next(s for s in rfm["segments"] if s["name"] == "at risk")
    members = api.get("/v1/segments/rfm/at risk/customers", headers=read).json()["customers"]
    assert at_risk["customers"] == len(members) and at_risk["action"]
    for kind in ("cluster", "taste"):
        listed = api.get(f"/v1/segments/{kind}", headers=read).json()
        assert listed["model_version"] and listed["segments"]
        first = listed["segments"][0]
        named = api.get(f"/v1/segments/{kind}/{first['name']}/customers", headers=read).json()
        assert len(named["customers"]) == first["customers"]  # the same customers
    assert api.get("/v1/segments/vips", headers=read).status_code == 422
    assert api.get("/v1/segments/rfm").status_code == 401


def test_a_segments_customers_are_listed_for_a_mailing_tool(
    api: TestClient, keys: dict[str, str]
) -> None:
    listed = api.get("/v1/segments/rfm/at risk/customers", headers=_h(keys["read"]))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["customers"] and "win-back" in body["about"]
    at_stake = [c["at_stake"] for c in body["customers"]]
    assert at_stake == sorted(at_stake, reverse=True)
    csv = api.get("/v1/segments/rfm/at risk/customers?format=csv", headers=_h(keys["read"]))
    assert csv.text.splitlines()[0].startswith("user_id,recency_days,frequency,monetary")
    assert len(csv.text.splitlines()) == len(body["customers"]) + 1
    for missing in ("/v1/segments/rfm/nobody/customers", "/v1/segments/cluster/99/customers"):
        assert api.get(missing, headers=_h(keys["read"])).status_code == 404
    assert api.get("/v1/segments/x/y/customers", headers=_h(keys["read"])).status_code == 422
    assert api.get("/v1/segments/rfm/at risk/customers").status_code == 401
    # One cell of the moves: who became "promising" from "new customers" in 30 days.
    moved = api.get(
        "/v1/segments/rfm/promising/customers?from=new customers", headers=_h(keys["read"])
    ).json()
    everyone = api.get("/v1/segments/rfm/promising/customers", headers=_h(keys["read"])).json()
    ids = {c["user_id"] for c in moved["customers"]}
    assert moved["from"] == "new customers" and ids
    assert ids < {c["user_id"] for c in everyone["customers"]}
    for odd in ("/v1/segments/rfm/promising/customers?from=vips",
                "/v1/segments/cluster/0/customers?from=champions"):  # fmt: skip
        assert api.get(odd, headers=_h(keys["read"])).status_code == 422, odd  # as for campaigns
    zero = "/v1/segments/rfm/promising/customers?from=champions&days=0"
    assert api.get(zero, headers=_h(keys["read"])).status_code == 422
