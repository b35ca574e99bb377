"""Every dashboard page answers, on a full shop, an empty one and a one-day one."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retain.config import Settings
from retain.serve.app import create_app

PAGES = (
    "/",
    "/cohorts",
    "/cohorts?period=week",
    "/cohorts?by=channel",
    "/at-risk",
    "/segments",
    "/campaigns",
    "/experiments",
    "/recommendations",
    "/reviews",
)


def client(data_dir: Path) -> TestClient:
    return TestClient(create_app(Settings(data_dir=data_dir)))


def writable_client(demo_dir: Path, tmp_path: Path) -> TestClient:
    """A client over this test's own copy of the demo shop (chats write to it)."""
    folder = tmp_path / "shop"
    shutil.copytree(demo_dir, folder)
    return client(folder)


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_the_demo_shop(demo_dir: Path, path: str) -> None:
    response = client(demo_dir).get(path)
    assert response.status_code == 200
    marks = ("data-figure", 'id="at-risk"', "experiment", 'id="campaigns"')
    assert any(mark in response.text for mark in marks)


def test_campaigns_are_listed_and_each_shows_its_customers_and_exports_them(
    demo_dir: Path, empty_dir: Path
) -> None:
    import csv
    import io

    from retain.data import Store

    app = client(demo_dir)
    listing = app.get("/campaigns").text
    link = listing.split('class="campaign-link" href="/campaigns/')[1].split('"')[0]
    with Store.open(demo_dir / "retain.duckdb", read_only=True) as store:
        stored = store.query_df(
            "SELECT user_id, action, variant FROM interventions WHERE campaign_id = ?", [link]
        )
    assert f"campaign-{link}" in listing and "held out" in listing  # `make run`'s holdout
    assert "every scored customer" in listing
    page = app.get(f"/campaigns/{link}").text
    assert 'id="campaign-rows"' in page and "held out as the control group" in page
    someone = stored.user_id.iloc[0]
    profile = app.get(f"/customers/{someone}").text.split('id="customer-campaigns"')[1]
    assert f'href="/campaigns/{link}"' in profile.split("</table>")[0]
    listed = page.count('class="customer-link"')
    assert listed == min(len(stored), 200)
    exported = list(csv.DictReader(io.StringIO(app.get(f"/campaigns/{link}?format=csv").text)))
    assert {r["user_id"] for r in exported} == set(stored.user_id)
    assert {r["action"] for r in exported} == set(stored.action)
    assert app.get("/campaigns/nope").status_code == 404
    assert app.get("/campaigns/nope?format=csv").status_code == 404
    assert "No campaign yet" in client(empty_dir).get("/campaigns").text


def test_pages_kept_per_orders_see_a_new_order_at_once(demo_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow

    def first_timers(page: str) -> int:
        note = page.split('id="moves-note">')[1].split("</p>")[0]
        return int(note.split("; ")[1].split(" bought")[0].replace(",", ""))

    app = writable_client(demo_dir, tmp_path)
    before = first_timers(app.get("/segments").text)
    assert first_timers(app.get("/segments").text) == before  # the kept frame, same answer
    with Store.open(tmp_path / "shop" / "retain.duckdb") as store:
        last = store.query_arrow("SELECT max(ts) AS t FROM orders").to_pylist()[0]["t"]
        order = pa.table(
            {"order_id": ["new-1"], "user_id": ["U99999"], "ts": [str(last)], "amount": [20.0]}
        )
        ingest_arrow(store, "orders", order, source="t", now=dt.datetime(2030, 1, 1))
    assert first_timers(app.get("/segments").text) == before + 1
    assert "RFM segment on" in app.get("/customers/U99999").text


def test_a_campaign_without_control_group_or_with_an_audience_reads_plainly(
    demo_dir: Path, tmp_path: Path
) -> None:
    from retain.data import Store
    from retain.retention.campaign import build_campaign

    app = writable_client(demo_dir, tmp_path)
    with Store.open(tmp_path / "shop" / "retain.duckdb") as store:
        scored = store.query_df("SELECT user_id FROM user_scores ORDER BY user_id LIMIT 300")
        made = build_campaign(store, 30.0, audience=set(scored.user_id), audience_name="first 300")
    listing = app.get("/campaigns").text
    row = listing.split(f'href="/campaigns/{made.campaign_id}"')[1].split("</tr>")[0]
    assert "first 300" in row and "<td>none</td>" in row and not re.search(r"\bnan\b", row)
    page = app.get(f"/campaigns/{made.campaign_id}").text
    note = page.split('<p class="note">')[1].split("</p>")[0]
    assert "for first 300" in note and "held out" not in note
    assert not re.search(r"\bnan\b", page)


def test_an_at_risk_customer_who_bought_since_is_marked_so(demo_dir: Path, tmp_path: Path) -> None:
    """The list is as of the scores' cutoff: a customer who ordered since is not acted on."""
    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow

    app = writable_client(demo_dir, tmp_path)
    page = app.get("/at-risk").text
    assert "Scores as of 20" in page and 'id="bought-since"' not in page
    assert 'id="bought-since"' not in app.get("/").text
    user = page.split('class="customer-link" href="/customers/')[1].split('"')[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with Store.open(tmp_path / "shop" / "retain.duckdb") as store:
        order = pa.table({"order_id": ["came-back"], "user_id": [user], "amount": [30.0],
                          "ts": [(now - dt.timedelta(minutes=5)).isoformat(sep=" ")]})  # fmt: skip
        ingest_arrow(store, "orders", order, source="today")
    marked = app.get("/at-risk").text
    assert "1 of them bought since" in marked
    row = marked.split(f'href="/customers/{user}"')[1].split("</tr>")[0]
    assert "none: bought since" in row
    assert "1 of the scored customers bought since" in app.get("/").text  # the overview too


def test_at_risk_customers_link_to_their_profile_with_reasons(demo_dir: Path) -> None:
    app = client(demo_dir)
    page = app.get("/at-risk").text
    assert "coupon_" in page or "care_contact" in page or "recommendation_message" in page
    user = page.split('class="customer-link" href="/customers/')[1].split('"')[0]
    profile = app.get(f"/customers/{user}")
    assert profile.status_code == 200 and 'id="reasons"' in profile.text
    # The recommender's list for this customer, each item with its reason.
    segments = profile.text.split('id="customer-segments"')[1].split("</p>")[0]
    assert "RFM segment on" in segments and "Learned segment" in segments
    assert "Taste segment" in segments and "/segments/taste/" in segments
    recommended = profile.text.split('id="recommended"')[1].split("</table>")[0]
    assert recommended.count("<tr><td>") == 10
    reasons = ("bought", "similar", "popular", "shopping", "tastes", "coming back")
    assert any(w in recommended for w in reasons)


@pytest.mark.parametrize("path", PAGES)
def test_an_empty_shop_explains_instead_of_failing(empty_dir: Path, path: str) -> None:
    response = client(empty_dir).get(path)
    assert response.status_code == 200
    assert any(
        text in response.text
        for text in (
            "No orders yet",
            "No scores yet",
            "No experiments yet",
            "No recommendations",
            "No review scores yet",
            "No campaign yet",
        )
    )


@pytest.mark.parametrize("path", PAGES)
def test_a_one_day_shop_renders(one_day_dir: Path, path: str) -> None:
    response = client(one_day_dir).get(path)
    assert response.status_code == 200
    if path.startswith("/cohorts"):
        assert "Only one period of data so far" in response.text


def test_the_hand_off_page_shows_the_open_queue_with_conversations(
    demo_dir: Path, tmp_path: Path, empty_dir: Path
) -> None:
    assert "No hand-offs waiting" in client(empty_dir).get("/handoffs").text
    app = writable_client(demo_dir, tmp_path)
    asked = app.post("/customers/U00012/chat", json={"message": "let me speak to a person"}).json()
    assert asked["handed_off"]
    page = app.get("/handoffs").text
    queue = page.split('id="handoffs"')[1]
    assert 'href="/customers/U00012"' in queue and "asked for a person" in queue
    assert "let me speak to a person" in queue  # the conversation unfolds under the row
    assert app.get("/").text.count('href="/handoffs"') == 1  # in the navigation
    # Closing it (the row's button) takes it off the queue; a second close is a 404 page.
    handoff = queue.split('action="/handoffs/')[1].split("/close")[0]
    closed = app.post(f"/handoffs/{handoff}/close")
    assert closed.status_code == 200 and "No hand-offs waiting" in closed.text  # redirected
    again = app.post(f"/handoffs/{handoff}/close")
    assert again.status_code == 404 and "closed already" in again.text


def test_the_unanswered_page_groups_one_question_asked_in_other_words(
    demo_dir: Path, tmp_path: Path, empty_dir: Path
) -> None:
    assert "No unanswered questions" in client(empty_dir).get("/unanswered").text
    app = writable_client(demo_dir, tmp_path)
    for user, message in (
        ("U00012", "do you ship to Canada?"),
        ("U00013", "can you deliver my parcel to Canada"),
        ("U00014", "do you offer gift wrapping"),
    ):
        assert app.post(f"/customers/{user}/chat", json={"message": message}).json()["text"]
    table = app.get("/unanswered").text.split('id="unanswered"')[1]
    # Other tests may have asked questions of the demo shop before it was copied.
    rows = [r for r in table.split('<tr class="unanswered')[1:] if "Canada" in r or "gift" in r]
    assert len(rows) == 2  # Canada twice in other words, gift wrapping once
    canada = next(r for r in rows if "Canada" in r)
    assert "<details>" in canada and "<li>" in canada  # the other wording unfolds
    assert '<td class="num">2</td>' in canada  # asked twice, by two customers


def test_missing_store_unknown_customer_and_bad_period(tmp_path: Path, demo_dir: Path) -> None:
    assert "There is no store yet" in client(tmp_path / "none").get("/").text
    assert client(demo_dir).get("/customers/nobody").status_code == 404
    bad = client(demo_dir).get("/cohorts?period=day")
    assert bad.status_code == 400 and "period must be month or week" in bad.text
    script = client(demo_dir).get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000


def test_overview_shows_how_the_churn_model_did_on_the_shops_own_past(demo_dir: Path) -> None:
    page = client(demo_dir).get("/").text
    check = page.split('id="model-check"')[1].split("</p>")[0]
    assert "ranked them with AUC 0." in check and "BG/NBD 0." in check
    assert 'id="check-chart"' in page and "perfectly calibrated" in page


def test_amounts_show_the_shops_currency_once_it_is_named(demo_dir: Path) -> None:
    plain = client(demo_dir).get("/").text
    revenue = re.search(r"revenue \(completed, net of refunds\)<b>([^<]+)</b>", plain)
    assert revenue is not None and re.fullmatch(r"[\d,]+\.\d\d", revenue.group(1))
    app = TestClient(create_app(Settings(data_dir=demo_dir, currency="EUR")))
    for path in ("/", "/segments", "/campaigns"):
        page = app.get(path).text
        assert "€" in page, path
    # The LTV charts' axes and hover name it too.
    cohorts = html.unescape(app.get("/cohorts").text)  # figures are JSON in an attribute
    assert cohorts.count('"tickprefix":"\\u20ac"') == 2
    assert "\\u20ac%{y:,.2f} per customer" in cohorts
    assert f"revenue (completed, net of refunds)<b>€{revenue.group(1)}</b>" in app.get("/").text


def test_overview_counts_who_slipped_towards_leaving(demo_dir: Path, one_day_dir: Path) -> None:
    from retain.data import Store
    from retain.features.customer import FeatureTables
    from retain.retention.segments import count_moves, segment_moves

    page = client(demo_dir).get("/").text
    shown = page.split('id="kpi-slipped" href="/segments#moves">')[1].split("<")[0]
    with Store.open(demo_dir / "retain.duckdb", read_only=True) as store:
        tables = FeatureTables.from_store(store)
        day = store.query_arrow("SELECT max(ts)::DATE AS d FROM orders").to_pylist()[0]["d"]
        moves = tables.fetch(segment_moves(tables, day - dt.timedelta(days=30), day))
    assert int(shown.replace(",", "")) == count_moves(moves).slipped > 0
    assert 'id="kpi-slipped"' not in client(one_day_dir).get("/").text  # no earlier customers


def test_cohorts_page_splits_the_curves_by_segment_or_attribute(demo_dir: Path) -> None:
    app = client(demo_dir)
    page = app.get("/cohorts").text
    assert 'id="cohort-value"' in page and "all cohorts" in page  # LTV per cohort
    assert 'id="split-retention"' in page and "champions" in page  # RFM by default
    assert 'href="/cohorts?period=month&amp;by=channel"' in page  # the demo's attributes
    by_channel = app.get("/cohorts?by=channel&period=week").text
    assert 'id="split-value"' in by_channel
    assert all(name in by_channel for name in ("organic", "ads", "social", "referral"))
    by_first = app.get("/cohorts?by=first_category").text
    assert "category of the first purchase" in by_first and 'id="split-value"' in by_first
    assert 'href="/cohorts?period=month&amp;by=taste"' in page  # stored by `make run`
    by_taste = app.get("/cohorts?by=taste").text
    assert "taste segment (today&#39;s)" in by_taste and 'id="split-value"' in by_taste
    assert "0: buy " in by_taste and "more than most" in by_taste  # named in the legend
    unknown = app.get("/cohorts?by=country")
    assert unknown.status_code == 200 and 'id="split-note"' in unknown.text
    assert "no customer has an attribute" in unknown.text and "channel, language" in unknown.text
    odd = app.get("/cohorts?by=<b>x</b>").text
    assert "cannot split by" in odd and "<b>x" not in odd  # refused, and escaped on the page


def test_experiments_page_shows_the_campaign_holdout(demo_dir: Path) -> None:
    page = client(demo_dir).get("/experiments").text
    assert "campaign-C" in page and "held out" in page and "pending: the window ends" in page


def test_segments_page_lists_learned_segments_and_explains_tiny_shops(
    demo_dir: Path, one_day_dir: Path
) -> None:
    listing = client(demo_dir).get("/segments").text
    assert 'id="clusters"' in listing and "Learned on" in listing  # stored by `make run`
    assert 'id="tastes"' in listing and "more than most" in listing  # so are the tastes
    taste = listing.split('href="/segments/taste/')[1].split('"')[0]
    members = client(demo_dir).get(f"/segments/taste/{taste}").text
    assert f"taste segment {taste}" in members and 'id="members"' in members
    assert client(demo_dir).get("/segments/taste/99").status_code == 404
    assert 'id="moves-chart"' in listing and "customers changed segment" in listing
    assert "not a customer yet" in listing  # the demo shop keeps gaining customers
    cell = listing.split('class="move-link" href="')[1].split('"')[0].replace("&amp;", "&")
    moved = client(demo_dir).get(cell).text
    assert "since" in moved and 'id="members"' in moved and "&amp;from=" in moved
    tiny = client(one_day_dir).get("/segments").text
    assert "No moves yet: nobody had bought by" in tiny and 'id="moves-chart"' not in tiny
    assert "No learned segments: clustering needs at least 10 customers" in tiny
    assert "No taste segments: no purchases of catalogued items" in tiny


def test_segments_are_fitted_for_the_page_until_training_stores_them(tmp_path: Path) -> None:
    from retain.data import Store
    from retain.data.ingest import ingest_file
    from retain.demo import DEMO_FILES, generate_demo_shop
    from retain.retention.cluster_training import train_segments

    generate_demo_shop(tmp_path / "demo", seed=2, n_users=300)
    with Store.open(tmp_path / "retain.duckdb") as store:
        for name, table in DEMO_FILES.items():
            ingest_file(store, table, tmp_path / "demo" / name)
    app = client(tmp_path)
    fitted = app.get("/segments").text
    assert 'id="clusters"' in fitted and "Fitted for this page and not stored" in fitted
    assert app.get("/segments/cluster/0").status_code == 200
    with Store.open(tmp_path / "retain.duckdb") as store:
        trained = train_segments(store, tmp_path / "models", k=3)
    stored = app.get("/segments").text
    assert f"(model {trained.version})" in stored
    assert app.get("/segments/cluster/2").status_code == 200
    assert app.get("/segments/cluster/3").status_code == 404


def test_a_segment_lists_its_customers_most_at_stake_first_and_exports_them(
    demo_dir: Path, empty_dir: Path
) -> None:
    import csv
    import io

    from retain.data import Store
    from retain.features.customer import FeatureTables
    from retain.retention.segments import rfm_segments

    app = client(demo_dir)
    listing = app.get("/segments").text
    assert 'href="/segments/rfm/at%20risk"' in listing and 'href="/segments/cluster/' in listing
    with Store.open(demo_dir / "retain.duckdb", read_only=True) as store:
        tables = FeatureTables.from_store(store)
        day = store.query_arrow("SELECT max(ts)::DATE AS d FROM orders").to_pylist()[0]["d"]
        truth = tables.fetch(rfm_segments(tables, day))
    at_risk = set(truth[truth.segment == "at risk"].user_id)
    page = app.get("/segments/rfm/at risk").text
    listed = [c.split('"')[0] for c in page.split('class="customer-link" href="/customers/')[1:]]
    assert listed and set(listed) <= at_risk and "personal win-back offer" in page
    exported = app.get("/segments/rfm/at risk?format=csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["user_id"] for r in rows} == at_risk  # every member, not only those shown
    at_stake = [float(r["at_stake"]) for r in rows]
    assert at_stake == sorted(at_stake, reverse=True)
    assert listed == [r["user_id"] for r in rows][: len(listed)]
    cluster = listing.split('href="/segments/cluster/')[1].split('"')[0]
    assert 'id="members"' in app.get(f"/segments/cluster/{cluster}").text
    for missing in ("/segments/rfm/nobody", "/segments/cluster/99", "/segments/other/x"):
        assert app.get(missing).status_code == 404, missing
    assert client(empty_dir).get("/segments/rfm/champions").status_code == 404
    assert client(empty_dir).get("/segments/rfm/champions?format=csv").status_code == 404
    nowhere = client(empty_dir.parent / "no-store-here")
    assert nowhere.get("/segments/rfm/champions?format=csv").status_code == 404


def test_odd_customer_ids_are_found_and_escaped(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow

    odd = "shop/7<b>x</b>"
    with Store.open(tmp_path / "retain.duckdb") as store:
        orders = pa.table({"order_id": ["o1"], "user_id": [odd], "ts": ["2025-01-02"],
                           "amount": [3.0]})  # fmt: skip
        ingest_arrow(store, "orders", orders, source="t", now=dt.datetime(2030, 1, 1))
    page = client(tmp_path).get("/customers/shop/7%3Cb%3Ex%3C/b%3E")
    assert page.status_code == 200
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


def test_a_customer_page_says_when_an_order_was_returned(tmp_path: Path) -> None:
    """A growth team reading a lost customer's history needs the day the order
    came back, not only that it did; an order with no date shows its status alone."""
    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow

    with Store.open(tmp_path / "retain.duckdb") as store:
        orders = pa.table({"order_id": ["o1", "o2"], "user_id": ["u1", "u1"],
                           "ts": ["2025-01-02", "2025-02-01"], "amount": [3.0, 4.0],
                           "status": ["returned", "completed"],
                           "status_ts": ["2025-01-15", None]})  # fmt: skip
        ingest_arrow(store, "orders", orders, source="t", now=dt.datetime(2030, 1, 1))
    page = client(tmp_path).get("/customers/u1")
    assert page.status_code == 200
    cells = re.findall(r"<td>(returned[^<]*|completed[^<]*)</td>", page.text)
    assert cells == ["completed", "returned on 2025-01-15"]
    assert 'id="marketing-consent"' not in page.text  # not known: nothing said
    # A customer who declined marketing is shown so, beside their campaigns.
    with Store.open(tmp_path / "retain.duckdb") as store:
        users = pa.table({"user_id": ["u1"], "marketing_consent": ["no"]})
        ingest_arrow(store, "users", users, source="profiles", now=dt.datetime(2030, 1, 1))
    declined = client(tmp_path).get("/customers/u1").text
    assert "Declined marketing: campaigns give this customer no coupon" in declined
    # An opt-out reported through the API says when and where from.
    from retain.data.consent import ConsentChange, record_consent

    when = dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC)
    with Store.open(tmp_path / "retain.duckdb") as store:
        record_consent(store, ConsentChange.new("u1", False, changed_at=when, source="mailchimp"))
    dated = client(tmp_path).get("/customers/u1").text
    assert "Declined marketing on 2026-05-04 (mailchimp): campaigns give" in dated


def test_a_customer_page_shows_a_review_its_writer_edited(tmp_path: Path) -> None:
    """A one-star review made five stars reads as it is now, with when it was
    edited and the rating it had, so the team sees the recovery."""
    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow

    review = {"review_id": ["r1"], "user_id": ["u1"], "ts": ["2025-01-03"]}
    with Store.open(tmp_path / "retain.duckdb") as store:
        orders = pa.table({"order_id": ["o1"], "user_id": ["u1"], "ts": ["2025-01-02"],
                           "amount": [3.0], "refunded_amount": [1.25]})  # fmt: skip
        ingest_arrow(store, "orders", orders, source="t", now=dt.datetime(2030, 1, 1))
        first = pa.table({**review, "rating": [1], "text": ["Broken"]})
        ingest_arrow(store, "reviews", first, source="r", now=dt.datetime(2030, 1, 1))
        edited = pa.table({**review, "rating": [5], "text": ["Replaced fast"],
                           "edited_ts": ["2025-01-09"]})  # fmt: skip
        ingest_arrow(store, "reviews", edited, source="r2", now=dt.datetime(2030, 1, 1))
    page = client(tmp_path).get("/customers/u1").text
    assert "Replaced fast" in page and "Broken" not in page
    assert "(edited 2025-01-09, rated 1 before)" in page
    assert "completed, 1.25 refunded" in page  # part of the order came back


def test_recommendations_for_a_chosen_customer(demo_dir: Path) -> None:
    app = client(demo_dir)
    page = app.get("/recommendations", params={"user": "U00010"}).text
    listed = page.split('id="user-recommendations"')[1].split("</table>")[0]
    assert listed.count("<tr><td>") == 20 and "U00010" in page
    assert 'id="recent"' in page and "data-figure" in page
    unknown = app.get("/recommendations", params={"user": "nobody"}).text
    assert "No list for nobody" in unknown


def test_reviews_page_shows_trend_aspects_and_grounded_alerts(demo_dir: Path) -> None:
    page = client(demo_dir).get("/reviews").text
    assert 'id="trend-chart"' in page and 'id="aspects-chart"' in page
    assert 'id="aspects-by-category"' in page and "all reviews" in page
    alerts = page.split('id="alerts"')[1].split("</table>")[0]
    assert alerts.count('<tr class="alert') >= 1
    # Drafts quote the demo shop's policy articles, in the review's language.
    assert "Our policy:" in alerts or "我们的政策" in alerts
    # The demo model learned from a few hundred phrase-built texts; the page says so.
    note = page.split('id="model-note">')[1].split("</p>")[0]
    assert "distinct review texts from this shop, with" in note
    assert "so wording particular to this shop may still be misread" in note


def test_a_shop_where_bgnbd_sees_nobody_leave_says_so_on_the_customer_page(
    demo_dir: Path, tmp_path: Path
) -> None:
    """ "Still active 98.5%" beside a 63% churn risk must not read as good news."""
    from retain.data import Store

    app = writable_client(demo_dir, tmp_path)
    someone = app.get("/at-risk").text.split('href="/customers/')[1].split('"')[0]
    assert 'id="no-dropout"' not in app.get(f"/customers/{someone}").text  # the demo has dropout
    with Store.open(tmp_path / "shop" / "retain.duckdb") as store:
        store.execute("UPDATE user_scores SET p_alive = greatest(p_alive, 0.74)")
    page = app.get(f"/customers/{someone}").text
    assert 'id="no-dropout"' in page and "is what to act on" in page


def test_the_far_end_of_a_curve_over_all_cohorts_says_it_rests_on_the_oldest_alone(
    demo_dir: Path, empty_dir: Path
) -> None:
    """On the UCI Online Retail year the curve climbed from 23% to 50% at its end.

    The end is the data's first month alone, which holds established customers.
    """
    import html
    import json

    from retain.data import Store

    with Store.open(demo_dir / "retain.duckdb", read_only=True) as store:
        first = store.query_df("SELECT min(ts) AS t FROM orders").t[0]
    overview = client(demo_dir).get("/").text
    note = overview.split('id="curve-note">')[1].split("</p>")[0]
    assert f"the oldest cohort alone ({first:%Y-%m}-01, " in note
    assert "rests on fewer than 3" in note
    raw = overview.split('id="curve-chart" class="chart" data-figure=\'')[1].split("'></div>")[0]
    figure = json.loads(html.unescape(raw))
    points = figure["data"][0]["customdata"]
    assert points[-1][1] == 1 and points[0][1] > 3  # cohorts behind the last and first points
    cohorts = client(demo_dir).get("/cohorts?period=week").text
    assert "weeks on it rests on fewer than 3" in cohorts.split('id="ltv-note">')[1]
    assert 'id="curve-note"' not in client(empty_dir).get("/").text


def test_the_campaigns_page_shows_what_a_campaign_may_do_as_configured(
    demo_dir: Path, empty_dir: Path
) -> None:
    from retain.config import ActionConfig, CampaignConfig

    built_in = client(demo_dir).get("/campaigns").text.split('id="campaign-actions"')[1]
    rows = built_in.split("</table>")[0].split("<tr>")[2:]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == [
        "coupon_5", "coupon_15", "recommendation_message", "care_contact"
    ]  # fmt: skip
    coupon = rows[1]
    assert "15.00" in coupon and "12 pts" in coupon and "30 days of any coupon" in coupon
    assert "a recommendation list" in rows[2] and "a recent complaint" in rows[3]
    # Coupons and messages are marketing; a care contact is service.
    assert all("customers who have not declined marketing" in row for row in rows[:3])
    assert "marketing" not in rows[3]
    opt_in = Settings(data_dir=demo_dir, campaign=CampaignConfig(require_consent=True))
    strict = TestClient(create_app(opt_in)).get("/campaigns").text
    assert strict.count("customers who accepted marketing") == 3
    assert 'id="campaign-actions"' in client(empty_dir).get("/campaigns").text  # before any
    own = ActionConfig(name="coupon_40", description="40 off", cost_if_used=40.0,
                       max_uplift=0.08, cooldown_days=30, kind="coupon")  # fmt: skip
    app = TestClient(
        create_app(Settings(data_dir=demo_dir, campaign=CampaignConfig(actions=[own])))
    )
    table = app.get("/campaigns").text.split('id="campaign-actions"')[1].split("</table>")[0]
    assert table.count("<tr>") == 2 and "coupon_40" in table and "8 pts" in table
    assert "the shop's own, set under" in app.get("/campaigns").text
    assert "the built-in ones; a shop sets" in client(demo_dir).get("/campaigns").text
    assert "coupon_5" not in table
    # A shop that writes out the built-in four has chosen them; the API says so too.
    from retain.retention.policy import DEFAULT_ACTIONS

    chosen = [
        ActionConfig(**{k: getattr(a, k) for k in ActionConfig.model_fields if hasattr(a, k)})
        for a in DEFAULT_ACTIONS
    ]
    same = CampaignConfig(actions=chosen)
    assert same.to_actions() == DEFAULT_ACTIONS
    app = TestClient(create_app(Settings(data_dir=demo_dir, campaign=same)))
    assert "the shop's own, set under" in app.get("/campaigns").text
