"""The dashboard in a real headless Chromium: loads clean, draws charts, navigates.

Uses Debian's /usr/bin/chromium (``.ci/run`` installs it) through Playwright;
Playwright's own browser download is never used. Screenshots are kept in
``test-artifacts/screenshots`` for a human to look at.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from retain.config import Settings
from retain.serve.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium not installed (apt-get install chromium; .ci/run does it)",
)


def _serve(data_dir: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(Settings(data_dir=data_dir)), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo_site(demo_dir: Path) -> Iterator[str]:
    yield from _serve(demo_dir)


@pytest.fixture(scope="module")
def empty_site(empty_dir: Path) -> Iterator[str]:
    yield from _serve(empty_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _visit(browser: object, url: str, shot: str) -> tuple[object, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    return page, problems


@pytest.mark.parametrize(
    ("path", "charts"),
    [
        ("/", 3),
        ("/cohorts", 4),
        ("/cohorts?period=week", 4),
        ("/cohorts?by=channel", 4),
        ("/segments", 2),
        ("/campaigns", 0),
        ("/at-risk", 0),
        ("/experiments", 0),
        ("/recommendations", 1),
        ("/reviews", 2),
        ("/handoffs", 0),
        ("/unanswered", 0),
    ],
)
def test_every_page_loads_without_errors_and_draws_its_charts(
    browser: object, demo_site: str, path: str, charts: int
) -> None:
    name = (
        "demo-home"
        if path == "/"
        else "demo" + path.replace("/", "-").replace("?", "-").replace("=", "-")
    )
    page, problems = _visit(browser, demo_site + path, name)
    assert problems == []
    drawn = page.locator(".js-plotly-plot .main-svg")  # type: ignore[attr-defined]
    assert page.locator(".js-plotly-plot").count() == charts  # type: ignore[attr-defined]
    if charts:
        assert drawn.count() >= charts
        # Data reached every chart: each plotted trace holds points (x) or cells (z).
        sizes = page.evaluate(  # type: ignore[attr-defined]
            """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                 .map(el => el._fullData.map(t => (t.z || t.x || []).length)
                 .reduce((a, b) => a + b, 0))"""
        )
        assert len(sizes) == charts and min(sizes) > 0
    page.close()  # type: ignore[attr-defined]


def test_a_user_clicks_from_an_at_risk_customer_to_their_profile(
    browser: object, demo_site: str
) -> None:
    page, problems = _visit(browser, demo_site + "/at-risk", "demo-at-risk-click")
    link = page.locator("a.customer-link").first  # type: ignore[attr-defined]
    customer = link.inner_text()
    link.click()
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.url.endswith(f"/customers/{customer}")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == f"Customer {customer}"  # type: ignore[attr-defined]
    assert page.locator("#reasons li").count() >= 1  # type: ignore[attr-defined]
    assert page.locator("#recommended tr").count() == 11  # type: ignore[attr-defined]
    # The assistant preview answers as this customer, about their own orders.
    orders = page.locator("#orders tr td:first-child").all_inner_texts()  # type: ignore[attr-defined]
    page.fill("#chat-input", "where is my order?")  # type: ignore[attr-defined]
    page.click("#chat-form button")  # type: ignore[attr-defined]
    answer = page.locator(".chat-bot").first  # type: ignore[attr-defined]
    answer.wait_for(timeout=60_000)
    assert any(order in answer.inner_text() for order in orders)
    page.screenshot(path=str(SHOTS / "demo-customer.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


def test_a_user_splits_the_cohort_curves_by_acquisition_channel(
    browser: object, demo_site: str
) -> None:
    page, problems = _visit(browser, demo_site + "/cohorts", "demo-cohorts-split-click")
    page.locator("#splits a", has_text="channel").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.url.endswith("/cohorts?period=month&by=channel")  # type: ignore[attr-defined]
    names = page.evaluate(  # type: ignore[attr-defined]
        "() => document.getElementById('split-value')._fullData.map(t => t.name)"
    )
    assert sorted(n.split(" (")[0] for n in names) == ["ads", "organic", "referral", "social"]
    page.screenshot(path=str(SHOTS / "demo-cohorts-by-channel-click.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


def test_a_user_opens_a_segment_and_one_of_its_customers(browser: object, demo_site: str) -> None:
    page, problems = _visit(browser, demo_site + "/segments", "demo-segments-click")
    page.locator("#segments a.segment-link", has_text="at risk").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Segment: at risk"  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "demo-segment-at-risk.png"), full_page=True)  # type: ignore[attr-defined]
    link = page.locator("#members a.customer-link").first  # type: ignore[attr-defined]
    customer = link.inner_text()
    link.click()
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == f"Customer {customer}"  # type: ignore[attr-defined]
    # From the customer to everyone who buys what they buy.
    page.locator("#customer-segments a[href^='/segments/taste/']").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text().startswith("Segment: taste segment ")  # type: ignore[attr-defined]
    assert "more than most" in page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert page.locator("#members a.customer-link", has_text=customer).count() == 1  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "demo-taste-segment.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


def test_a_user_follows_a_move_and_opens_a_campaign(browser: object, demo_site: str) -> None:
    page, problems = _visit(browser, demo_site + "/segments", "demo-segments-moves")
    move = page.locator("#moves a.move-link").first  # type: ignore[attr-defined]
    count = int(move.inner_text().replace(",", ""))
    move.click()
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert " (from " in page.locator("h1").inner_text()  # type: ignore[attr-defined]
    assert page.locator("#members a.customer-link").count() == min(count, 200)  # type: ignore[attr-defined]
    page.goto(demo_site + "/campaigns")  # type: ignore[attr-defined]
    page.locator("#campaigns a.campaign-link").first.click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text().startswith("Campaign C")  # type: ignore[attr-defined]
    assert page.locator("#campaign-rows a.customer-link").count() > 0  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "demo-campaign.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/cohorts",
        "/at-risk",
        "/segments",
        "/campaigns",
        "/experiments",
        "/reviews",
        "/handoffs",
        "/unanswered",
    ],
)
def test_an_empty_shop_shows_an_explanation(browser: object, empty_site: str, path: str) -> None:
    name = "empty-home" if path == "/" else "empty" + path.replace("/", "-")
    page, problems = _visit(browser, empty_site + path, name)
    assert problems == []
    assert page.locator(".empty").count() >= 1  # type: ignore[attr-defined]


def test_a_user_picks_a_customer_and_sees_their_recommendations(
    browser: object, demo_site: str
) -> None:
    page, problems = _visit(browser, demo_site + "/recommendations", "demo-recommendations")
    page.fill("#choose-user input[name=user]", "U00042")  # type: ignore[attr-defined]
    page.click("#choose-user button")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.url.endswith("/recommendations?user=U00042")  # type: ignore[attr-defined]
    rows = page.locator("#user-recommendations tr")  # type: ignore[attr-defined]
    assert rows.count() == 21  # header + the 20 stored items
    assert rows.nth(1).locator("td").nth(2).inner_text()  # a reason for the first item
    page.screenshot(path=str(SHOTS / "demo-recommendations-user.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


def test_a_user_reads_an_alert_opens_its_draft_and_the_customer(
    browser: object, demo_site: str
) -> None:
    """The Reviews page puts urgent alerts first; the draft unfolds; the customer opens."""
    page, problems = _visit(browser, demo_site + "/reviews", "demo-reviews-alert")
    rows = page.locator("#alerts tr.alert")  # type: ignore[attr-defined]
    assert rows.count() >= 1
    priorities = rows.locator("td:first-child").all_inner_texts()
    assert priorities == sorted(priorities, key=lambda p: p != "high")  # high ones first
    first = rows.first
    first.locator("summary").click()
    assert first.locator(".draft").is_visible()
    assert len(first.locator(".draft").inner_text()) > 40
    link = first.locator("a.customer-link")
    customer = link.inner_text()
    link.click()
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == f"Customer {customer}"  # type: ignore[attr-defined]
    assert problems == []


def test_a_question_the_assistant_cannot_answer_is_listed_for_the_shop(
    browser: object, demo_site: str
) -> None:
    page, problems = _visit(browser, demo_site + "/customers/U00007", "demo-customer-gap")
    question = "Do you offer engraving on the watches?"
    page.fill("#chat-input", question)  # type: ignore[attr-defined]
    page.click("#chat-form button")  # type: ignore[attr-defined]
    page.locator(".chat-bot").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.goto(demo_site + "/unanswered")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    rows = page.locator("#unanswered tr.unanswered").all_inner_texts()  # type: ignore[attr-defined]
    assert any(question in row for row in rows)
    page.screenshot(path=str(SHOTS / "demo-unanswered.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []
