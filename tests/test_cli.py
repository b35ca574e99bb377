"""The ``retain`` command as a user runs it: real processes, real output, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write

RETAIN = [sys.executable, "-m", "retain.cli"]


def retain(
    *args: str, data_dir: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETAIN_DATA_DIR": str(data_dir), "COLUMNS": "200", **(env or {})}
    env.pop("RETAIN_CONFIG", None)
    return subprocess.run(
        [*RETAIN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_ingest_prints_balanced_counts_and_reingest_adds_nothing(
    tmp_path: Path, data_dir: Path
) -> None:
    rows = ["event_id,user_id,item_id,event_type,ts"]
    rows += [f"e{i},u{i},i{i},view,2026-01-0{1 + i % 9}" for i in range(18)]
    rows += ["e18,u1,i1,clik,2026-01-01", "e19,,i1,view,2026-01-01"]
    path = write(tmp_path / "e.csv", "\n".join(rows) + "\n")
    first = retain("ingest", "events", str(path), data_dir=data_dir, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "20 records read" in first.stdout
    assert "accepted 18, duplicate 0, quarantined 2" in first.stdout
    assert "1 x event_type: 'clik' is not one of" in first.stdout
    assert "map its values: --value FIELD:SOURCE_VALUE=VALUE" in first.stdout
    again = retain("ingest", "events", str(path), data_dir=data_dir, cwd=tmp_path)
    assert "accepted 0, duplicate 18, quarantined 2" in again.stdout
    shown = retain("quarantine", "--table", "events", data_dir=data_dir, cwd=tmp_path)
    assert f"events {path}:20: event_type: 'clik'" in shown.stdout
    assert f"events {path}:21: missing required field 'user_id'" in shown.stdout
    # The shop's own spelling, mapped: the line is accepted and leaves the quarantine.
    mapped = retain("ingest", "events", str(path), "--value", "event_type:clik=click",
                    data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert "accepted 1, duplicate 18, quarantined 1" in mapped.stdout, mapped.stdout
    odd = retain("ingest", "events", str(path), "--value", "event_type=clik",
                 data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert odd.returncode == 1 and "--value expects FIELD:SOURCE_VALUE=VALUE" in odd.stderr
    # A views log written by R: ';'-separated, no event type, NA for anonymous visitors.
    views = write(tmp_path / "views.csv", "session;user_id;item_id;eventdate\n"
                  "1;NA;i1;2016-05-09\n2;u7;i2;2016-05-09\n")  # fmt: skip
    logged = retain("ingest", "events", str(views), "--delimiter", ";", "--map", "eventdate=ts",
                    "--map", "session=session_id", "--set", "event_type=view",
                    data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    assert "accepted 1, duplicate 0, quarantined 1" in logged.stdout
    assert "missing required field 'user_id' ('NA' marks a missing value)" in logged.stdout
    unset = retain("ingest", "events", str(views), "--set", "event_type", data_dir=data_dir,
                   cwd=tmp_path)  # fmt: skip
    assert unset.returncode == 1 and "--set expects FIELD=VALUE" in unset.stderr


def test_order_lines_and_status_updates_from_the_command_line(
    tmp_path: Path, data_dir: Path
) -> None:
    """A line-level order export loads with --lines; a later export moves statuses on."""
    head = "Order,Customer,Created at,Lineitem sku,Lineitem quantity,Lineitem price,Status\n"
    placed = write(
        tmp_path / "orders.csv",
        head + "#1001,C1,2026-01-02,S1,2,5,completed\n#1001,C1,2026-01-02,S2,1,3,completed\n",
    )
    returned = write(tmp_path / "later.csv", head + "#1001,C1,2026-01-02,S1,2,5,returned\n"
                     "#1001,C1,2026-01-02,S2,1,3,returned\n")  # fmt: skip
    maps = ["-m", "Order=order_id", "-m", "Customer=user_id", "-m", "Created at=ts"]
    maps += ["-m", "Lineitem sku=item_id", "-m", "Lineitem quantity=quantity"]
    maps += ["-m", "Lineitem price=price"]
    first = retain("ingest", "orders", str(placed), "--lines", *maps, data_dir=data_dir,
                   cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "2 order lines read" in first.stdout and "accepted 1, duplicate 0" in first.stdout
    later = retain("ingest", "orders", str(returned), "--lines", *maps, data_dir=data_dir,
                   cwd=tmp_path)  # fmt: skip
    assert "accepted 1 (1 updated with a later status or a refund), duplicate 0" in later.stdout
    # Without --lines the second line of the order is a conflict, with the hint.
    flat = retain("ingest", "orders", str(placed), *maps[:6], "-m", "Lineitem price=amount",
                  data_dir=tmp_path / "flat", cwd=tmp_path)  # fmt: skip
    assert "quarantined 1" in flat.stdout and "with --lines" in flat.stdout
    wrong = retain("ingest", "events", str(placed), "--lines", data_dir=data_dir, cwd=tmp_path)
    assert wrong.returncode == 1 and "does not apply to events" in wrong.stderr
    # A shop that names its currency holds back an export in another and shows its sign.
    dollars = write(tmp_path / "usd.csv", head.replace("Status", "Status,Currency")
                    + "#2001,C2,2026-01-03,S1,1,9,completed,USD\n")  # fmt: skip
    cny = {"RETAIN_CURRENCY": "CNY"}
    held = retain("ingest", "orders", str(dollars), "--lines", *maps, data_dir=data_dir,
                  cwd=tmp_path, env=cny)  # fmt: skip
    assert "quarantined 1" in held.stdout, held.stdout
    assert "currency: 'USD' is not this shop's currency, CNY" in held.stdout
    status = retain("status", data_dir=data_dir, cwd=tmp_path, env=cny)
    assert "completed revenue ¥0.00" in status.stdout, status.stdout
    # Shopify's Refunded Amount column is read by its name; revenue nets it.
    part = write(tmp_path / "refund.csv", head.replace("Status", "Status,Refunded Amount")
                 + "#3001,C3,2026-01-04,S1,2,10,partially_refunded,5\n")  # fmt: skip
    retain("ingest", "orders", str(part), "--lines", *maps, data_dir=data_dir, cwd=tmp_path,
           env=cny)  # fmt: skip
    status = retain("status", data_dir=data_dir, cwd=tmp_path, env=cny)
    net = "completed revenue ¥15.00 (net of ¥5.00 refunded in part on 1 order)"
    assert net in status.stdout, status.stdout


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path, data_dir: Path) -> None:
    missing = retain("ingest", "events", "nope.csv", data_dir=data_dir, cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no such file: nope.csv"
    bad_table = retain("ingest", "clicks", "x.csv", data_dir=data_dir, cwd=tmp_path)
    assert bad_table.returncode == 1 and "unknown table 'clicks'" in bad_table.stderr
    path = write(tmp_path / "e.csv", "a,b\n1,2\n")
    bad_map = retain("ingest", "events", str(path), "--map", "a", data_dir=data_dir, cwd=tmp_path)
    assert (
        bad_map.returncode == 1 and "--map expects SOURCE_COLUMN=FIELD, got 'a'" in bad_map.stderr
    )
    wrong_format = retain(
        "ingest", "events", str(path), "--format", "cdnow", data_dir=data_dir, cwd=tmp_path
    )
    assert (
        wrong_format.returncode == 1
        and "format cdnow fills orders, not events" in wrong_format.stderr
    )
    usage = retain("ingest", data_dir=data_dir, cwd=tmp_path)
    assert usage.returncode == 2
    # '\t' as a shell passes it is a tab; two characters are refused, not a traceback.
    tabs = write(tmp_path / "e.tsv.txt", "event_id\tuser_id\titem_id\tevent_type\tts\n"
                 "e1\tu1\ti1\tview\t2026-01-02\n")  # fmt: skip
    tabbed = retain("ingest", "events", str(tabs), "--format", "csv", "--delimiter", "\\t",
                    data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert tabbed.returncode == 0 and "accepted 1" in tabbed.stdout, tabbed.stderr
    two = retain("ingest", "events", str(tabs), "--format", "csv", "--delimiter", ";;",
                 data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert two.returncode == 1 and "error: the CSV delimiter must be one character" in two.stderr
    chinese = write(tmp_path / "r.csv", "review_id,user_id,item_id,text,ts\n"
                    "r1,u1,i1,物流很快,2026-01-02\n".encode("gb18030"))  # fmt: skip
    told = retain("ingest", "reviews", str(chinese), data_dir=data_dir, cwd=tmp_path)
    assert "the file reads as gb18030: pass --encoding gb18030" in told.stdout, told.stdout
    read = retain("ingest", "reviews", str(chinese), "--encoding", "gb18030",
                  data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert read.returncode == 0 and "accepted 1" in read.stdout, read.stderr


def test_public_format_ingest(shared_data: Path, tmp_path: Path, data_dir: Path) -> None:
    result = retain(
        "ingest",
        "orders",
        str(shared_data / "cdnow" / "CDNOW_sample.txt"),
        "--format",
        "cdnow",
        data_dir=data_dir,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "accepted 6,919, duplicate 0, quarantined 0" in result.stdout


def test_run_builds_and_loads_the_demo_shop_idempotently(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SASRec trains for at most a few seconds here; the full run is `make run`.
    monkeypatch.setenv("RETAIN_RECOMMEND__MAX_TRAIN_SECONDS", "5")
    first = retain("run", data_dir=data_dir, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "events: " in first.stdout and "quarantined 0" in first.stdout
    assert "repeat-purchase rate" in first.stdout
    assert "orders 20" in first.stdout and "; events 20" in first.stdout  # both spans
    assert "customers into user_scores" in first.stdout
    assert "customers get an action" in first.stdout
    assert "rows in recommendations" in first.stdout
    assert "reviews into review_scores" in first.stdout
    assert "customers in customer_clusters" in first.stdout
    assert (data_dir / "retain.duckdb").is_file() and (
        data_dir / "demo" / "manifest.json"
    ).is_file()
    second = retain("run", data_dir=data_dir, cwd=tmp_path)
    assert second.returncode == 0
    assert "accepted 0" in second.stdout and "accepted 1" not in second.stdout
    status = retain("status", data_dir=data_dir, cwd=tmp_path)
    assert status.returncode == 0 and "│ users         │  1,500 │" in status.stdout
    assert re.search(r"churn scores: [\d,]+ customers as of \d{4}-\d\d-\d\d", status.stdout)
    assert "bought since" not in status.stdout  # scored as of the last order day
    shown = retain("scores", "--top", "3", data_dir=data_dir, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "churn risk" in shown.stdout and "next 90 days" in shown.stdout
    wrong = retain("scores", "--by", "age", data_dir=data_dir, cwd=tmp_path)
    assert wrong.returncode == 1 and "choose one of: churn_risk" in wrong.stderr
    cohorts = retain("cohorts", "--period", "week", data_dir=data_dir, cwd=tmp_path)
    assert cohorts.returncode == 0, cohorts.stderr
    assert "retention by week of first purchase" in cohorts.stdout
    assert "retention curve (complete periods only): +0: 100.0%" in cohorts.stdout
    assert "the last filled cell of each row is still running on" in cohorts.stdout
    assert "is the oldest cohort alone (" in cohorts.stdout  # the page's note, on the CLI too
    split = retain("cohorts", "--by", "channel", data_dir=data_dir, cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    assert "revenue per customer so far (LTV)" in split.stdout and "referral" in split.stdout
    nobody = retain("cohorts", "--by", "country", data_dir=data_dir, cwd=tmp_path)
    assert nobody.returncode == 1 and "attribute: channel, language" in nobody.stderr
    checked = tmp_path / "check.json"
    check = retain("bench", "predict", "--store", "--json", str(checked),
                   data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert check.returncode == 0, check.stderr
    report = json.loads(checked.read_text())
    assert report["data"] == "the shop's store" and report["horizon_days"] == 90
    assert 0.5 < report["metrics"]["auc"] <= 1.0 and "bgnbd_retain_fit" in report["baselines"]
    both = retain("bench", "predict", "--store", "--data", str(checked), data_dir=data_dir,
                  cwd=tmp_path)  # fmt: skip
    assert both.returncode == 1 and "not both" in both.stderr
    segments = retain("segments", "--moves", "30", data_dir=data_dir, cwd=tmp_path)
    assert segments.returncode == 0 and "champions" in segments.stdout
    assert "largest moves between segments" in segments.stdout
    assert "customers changed segment" in segments.stdout
    no_days = retain("segments", "--moves", "0", data_dir=data_dir, cwd=tmp_path)
    assert no_days.returncode == 1 and "at least 1" in no_days.stderr
    members_csv = tmp_path / "at_risk.csv"
    members = retain("segments", "--members", "at risk", "--csv", str(members_csv),
                     data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert members.returncode == 0, members.stderr
    assert "personal win-back offer" in members.stdout and members_csv.is_file()
    assert members_csv.read_text().startswith("user_id,recency_days,frequency,monetary")
    nobody = retain("segments", "--members", "vips", data_dir=data_dir, cwd=tmp_path)
    assert nobody.returncode == 1 and "no rfm segment 'vips'; segments: champions" in nobody.stderr
    explored = retain("clusters", "--k", "4", data_dir=data_dir, cwd=tmp_path)
    assert explored.returncode == 0 and "fitted now and not stored" in explored.stdout
    stored = retain("clusters", data_dir=data_dir, cwd=tmp_path)
    assert stored.returncode == 0 and "(model " in stored.stdout
    retrained = retain("train", "segments", data_dir=data_dir, cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr
    assert "kept the numbers 0, 1" in retrained.stdout  # same data, same segments
    assert "taste segments of" in retrained.stdout and "customer_tastes" in retrained.stdout
    tastes = retain("clusters", "--kind", "taste", data_dir=data_dir, cwd=tmp_path)
    assert tastes.returncode == 0 and "more than most" in tastes.stdout
    listed = retain("segments", "--kind", "taste", data_dir=data_dir, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout == tastes.stdout  # one listing, two ways
    wrong_kind = retain("segments", "--kind", "vips", data_dir=data_dir, cwd=tmp_path)
    assert wrong_kind.returncode == 1 and "rfm, cluster or taste" in wrong_kind.stderr
    csv = tmp_path / "campaign.csv"
    campaign = retain("campaign", "--budget", "200", "--csv", str(csv), "--holdout", "0.2",
                      data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert campaign.returncode == 0, campaign.stderr
    assert "expected cost" in campaign.stdout and csv.is_file()
    assert "uplift assumed for every action" in campaign.stdout
    name = campaign.stdout.split("experiment ")[1].split(":")[0]
    report = retain("experiment", name, data_dir=data_dir, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "pending" in report.stdout  # exposure is today; no window has passed yet
    user = "U00010"
    recs = retain("recommend", user, "--k", "5", data_dir=data_dir, cwd=tmp_path)
    assert recs.returncode == 0, recs.stderr
    assert recs.stdout.count("│ I0") == 5 and "why" in recs.stdout
    session = retain("recommend", "--item", "I00003", "--item", "nope", data_dir=data_dir,
                     cwd=tmp_path)  # fmt: skip
    assert session.returncode == 0 and "ignored unknown items: nope" in session.stderr
    bad = retain("recommend", user, "--k", "0", data_dir=data_dir, cwd=tmp_path)
    assert bad.returncode == 1 and "k must be a whole number from 1 to 500" in bad.stderr
    # A campaign for one cell of the moves: who slipped into "about to sleep" from "promising".
    cell = ("--members", "about to sleep", "--moved-from", "promising")
    moved_csv = tmp_path / "moved.csv"
    moved = retain("segments", *cell, "--csv", str(moved_csv), data_dir=data_dir, cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert "were promising on" in moved.stdout
    narrowed_csv = tmp_path / "narrowed.csv"
    narrowed = retain("campaign", "--budget", "50", "--segment", "about to sleep",
                      "--moved-from", "promising", "--csv", str(narrowed_csv),
                      data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert narrowed.returncode == 0, narrowed.stderr
    assert "audience: about to sleep (from promising since" in narrowed.stdout
    audience = {line.split(",")[0] for line in moved_csv.read_text().splitlines()[1:]}
    planned = {line.split(",")[0] for line in narrowed_csv.read_text().splitlines()[1:]}
    assert audience >= planned and planned
    listed = retain("campaigns", data_dir=data_dir, cwd=tmp_path)
    assert listed.returncode == 0 and "about to sleep (from promising since" in listed.stdout
    newest = listed.stdout.split("│ C")[1].split(" ")[0]
    rows_csv = tmp_path / "rows.csv"
    rows = retain("campaigns", f"C{newest}", "--csv", str(rows_csv), data_dir=data_dir,
                  cwd=tmp_path)  # fmt: skip
    assert rows.returncode == 0, rows.stderr
    written = {line.split(",")[0] for line in rows_csv.read_text().splitlines()[1:]}
    assert written == planned  # no control group here, so the same customers
    assert retain("campaigns", "nope", data_dir=data_dir, cwd=tmp_path).returncode == 1
    wrong = retain("campaign", "--segment", "0", "--kind", "cluster", "--moved-from", "promising",
                   data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert wrong.returncode == 1 and "needs kind rfm" in wrong.stderr
    no_cluster = retain("campaign", "--segment", "99", "--kind", "cluster", data_dir=data_dir,
                        cwd=tmp_path)  # fmt: skip
    assert no_cluster.returncode == 1
    assert "no cluster segment '99'; segments: 0, 1" in no_cluster.stderr
    # A coupon-only campaign: the other actions are left out; a typo is named, not ignored.
    coupons_csv = tmp_path / "coupons.csv"
    coupons = retain("campaign", "--budget", "100", "--action", "coupon_5", "--action",
                     "coupon_15", "--csv", str(coupons_csv), data_dir=data_dir,
                     cwd=tmp_path)  # fmt: skip
    assert coupons.returncode == 0, coupons.stderr
    given = {line.split(",")[1] for line in coupons_csv.read_text().splitlines()[1:]}
    assert given and given <= {"coupon_5", "coupon_15"}, given
    typo = retain("campaign", "--action", "coupon5", data_dir=data_dir, cwd=tmp_path)
    assert typo.returncode == 1
    assert "--action: no action 'coupon5'; the built-in actions are coupon_5, coupon_15" in (
        typo.stderr
    )
    # The shop's own actions from ./retain.toml; a coupon this small earns a note.
    (tmp_path / "retain.toml").write_text(
        '[campaign]\nactions = [{ name = "coupon_1", cost_if_used = 1.0, max_uplift = 0.05 }]\n'
    )
    own = retain("campaign", "--budget", "20", data_dir=data_dir, cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    assert "get an action (" in own.stdout and "coupon_1)" in own.stdout
    assert "coupon_5" not in own.stdout and "coupon_15" not in own.stdout
    assert "every coupon (coupon_1 (1.00)) is under 5% of it" in own.stdout
    (tmp_path / "retain.toml").write_text('[campaign]\nactions = [{ name = "x" }]\n')
    broken = retain("campaign", data_dir=data_dir, cwd=tmp_path)
    assert broken.returncode != 0 and "campaign.actions.0.max_uplift: Field required" in (
        broken.stderr
    )
    (tmp_path / "retain.toml").unlink()


def test_demo_data_command(tmp_path: Path, data_dir: Path) -> None:
    result = retain(
        "demo-data",
        "--out",
        str(tmp_path / "shop"),
        "--users",
        "50",
        "--items",
        "16",
        data_dir=data_dir,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "users 50" in result.stdout
    assert (tmp_path / "shop" / "events.csv").is_file()
    bad = retain("demo-data", "--items", "2", data_dir=data_dir, cwd=tmp_path)
    assert bad.returncode == 1 and "n_items >= 8" in bad.stderr


def test_bench_ingest_writes_json(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "b.json"
    result = retain(
        "bench",
        "ingest",
        "--rows",
        "20000",
        "--bad-fraction",
        "0.1",
        "--json",
        str(out),
        data_dir=data_dir,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    m = doc["metrics"]
    assert m["accepted"] + m["quarantined"] == 20000 and m["quarantined"] == doc["malformed_rows"]
    assert m["reingest_accepted"] == 0 and m["reingest_duplicates"] == m["accepted"]
    assert m["events_per_second"] > 0
    assert "duckdb_insert_no_validation" in doc["baselines"]


def test_train_all_trains_what_the_shops_data_allows(tmp_path: Path, data_dir: Path) -> None:
    nothing = retain("train", "all", data_dir=data_dir, cwd=tmp_path)
    assert nothing.returncode == 1 and "nothing trained" in nothing.stderr
    assert "skipped predict: there are no orders in the store" in nothing.stdout
    demo = tmp_path / "demo"
    made = retain(
        "demo-data", "--out", str(demo), "--users", "500", data_dir=data_dir, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    for table, name in (("orders", "orders.jsonl"), ("reviews", "reviews.csv")):
        loaded = retain("ingest", table, str(demo / name), data_dir=data_dir, cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr
    trained = retain("train", "all", data_dir=data_dir, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    # No events: the recommender learns from the orders' item lists; taste needs a catalogue.
    for line in ("into user_scores", "reviews into review_scores", "in customer_clusters",
                 "rows in recommendations",
                 "skipped tastes: no purchases of catalogued items"):  # fmt: skip
        assert line in trained.stdout, line
    # The steps ran in order: the churn features read the review model's verdicts.
    steps = trained.stderr
    assert steps.index("training the review model") < steps.index("training churn")
    assert steps.index("training churn") < steps.index("raising review_alerts")


def test_train_predict_after_ingesting_orders(tmp_path: Path, data_dir: Path) -> None:
    no_scores = retain("scores", data_dir=data_dir, cwd=tmp_path)
    assert no_scores.returncode == 1 and "no store" in no_scores.stderr
    missing = retain("train", "predict", data_dir=data_dir, cwd=tmp_path)
    assert missing.returncode == 1 and "no orders in the store" in missing.stderr
    empty = retain("cohorts", data_dir=data_dir, cwd=tmp_path)
    assert empty.returncode == 1 and "no orders in the store" in empty.stderr
    run = retain("demo-data", "--out", str(tmp_path / "demo"), data_dir=data_dir, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ingest = retain(
        "ingest", "orders", str(tmp_path / "demo" / "orders.jsonl"), data_dir=data_dir, cwd=tmp_path
    )
    assert ingest.returncode == 0, ingest.stderr
    bad_day = retain("train", "predict", "--cutoff", "30/09/1997", data_dir=data_dir, cwd=tmp_path)
    assert bad_day.returncode == 1 and "--cutoff must be a date like" in bad_day.stderr
    trained = retain("train", "predict", "--horizon-days", "60", data_dir=data_dir, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "scored" in trained.stdout and "into user_scores" in trained.stdout
    assert "check: refitted as of" in trained.stdout and "AUC 0." in trained.stdout
    assert (data_dir / "models" / "predict" / "CURRENT").is_file()
    quick = retain("train", "predict", "--no-check", data_dir=data_dir, cwd=tmp_path)
    assert quick.returncode == 0 and "no check: not asked for" in quick.stdout


@pytest.mark.shared_data
def test_bench_predict_on_the_cdnow_sample(
    shared_data: Path, tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "predict.json"
    result = retain(
        "bench", "predict",
        "--data", str(shared_data / "cdnow" / "CDNOW_sample.txt"),
        "--format", "cdnow",
        "--calibration-end", "1997-09-30",
        "--holdout-end", "1998-06-30",
        "--json", str(out),
        data_dir=data_dir, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["customers"] == 2357 and report["metrics"]["total_actual"] == 1882
    assert set(report["baselines"]) == {"bgnbd", "bgnbd_retain_fit"}
    for name in (
        "mae",
        "mae_median",
        "rmse",
        "auc",
        "brier",
        "total_predicted",
        "total_actual",
        "spend_mae",
    ):
        assert name in report["metrics"] and name in report["baselines"]["bgnbd"]
    assert report["btyd_params"]["r"] == pytest.approx(0.243, rel=0.01)
    assert report["btyd_params"]["alpha"] == pytest.approx(4.414, rel=0.01)


@pytest.mark.shared_data
def test_bench_aspects_on_semeval_laptops(
    shared_data: Path, tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "aspects.json"
    result = retain(
        "bench", "aspects",
        "--data", str(shared_data / "semeval14-absa" / "Laptops_Test_Gold.xml.seg"),
        "--reviews", str(shared_data / "amazon-multidomain-sentiment"),
        "--json", str(out),
        data_dir=data_dir, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["data"]["polar_terms"] == 469 and report["data"]["neutral_left_out"] == 169
    assert set(report["baselines"]) == {"sentence", "clause_only"}
    # Far above always saying "positive" (0.727), though trained on no aspect label.
    assert report["metrics"]["accuracy"] > report["data"]["majority_accuracy"] + 0.05
    bad = retain(
        "bench", "aspects",
        "--data", str(write(tmp_path / "bad.xml.seg", "no mark\nterm\n1\n")),
        "--reviews", str(shared_data / "amazon-multidomain-sentiment"),
        data_dir=data_dir, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 1 and "line 1: the sentence must hold $T$ once" in bad.stderr


def test_bench_assistant_refuses_an_unknown_format_and_a_folder_without_ecd(
    tmp_path: Path, data_dir: Path
) -> None:
    bad = retain("bench", "assistant", "--data", str(tmp_path), "--format", "xml",
                 data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 1 and "--format must be intents or ecd, got 'xml'" in bad.stderr
    empty = retain("bench", "assistant", "--data", str(tmp_path), "--format", "ecd",
                   data_dir=data_dir, cwd=tmp_path)  # fmt: skip
    assert empty.returncode == 1 and "holds neither train.txt nor test.txt" in empty.stderr


def test_sample_size(tmp_path: Path, data_dir: Path) -> None:
    result = retain("sample-size", "--baseline", "0.1", "--effect", "0.02", data_dir=data_dir,
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0 and "3,841 users per arm" in result.stdout
    bad = retain("sample-size", "--baseline", "1.5", "--effect", "0.02", data_dir=data_dir,
                 cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 1 and "0 < baseline < 1" in bad.stderr


def test_chat_prints_citations_verbatim(tmp_path: Path) -> None:
    """A citation like [kb-shipping-en] reaches the terminal as written."""

    from retain.assistant.service import train_assistant
    from retain.data import Store
    from retain.data.ingest import ingest_arrow
    from retain.demo.shop import kb_table

    data = tmp_path / "data"
    with Store.open(data / "retain.duckdb") as store:
        ingest_arrow(store, "kb_articles", kb_table(), source="kb")
    train_assistant(data / "models")
    done = retain(
        "chat", "--user", "u1", "-m", "how much does shipping cost", data_dir=data, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "[kb-shipping-en]" in done.stdout


def test_sentiment_commands_train_score_alert_and_summarise(tmp_path: Path) -> None:
    """Train on a labelled CSV, score the store's reviews, then read alerts and aspects."""
    import pyarrow as pa

    from retain.data import Store
    from retain.data.ingest import ingest_arrow
    from tests.sentiment.conftest import phrase_reviews

    texts, labels, _ = phrase_reviews(200, seed=3)
    training = tmp_path / "labelled.csv"
    rows = "".join(f'{y},"{t}"\n' for t, y in zip(texts, labels, strict=True))
    write(training, ("label,review\n" + rows + "1,\n").encode("gb18030"))  # Chinese Excel
    data = tmp_path / "data"
    with Store.open(data / "retain.duckdb") as store:
        reviews = {
            "review_id": ["r1", "r2"],
            "user_id": ["u1", "u2"],
            "ts": ["2025-01-01", "2025-01-02"],
            "text": ["Delivery was very slow, took over a week.", "质量很好，做工精细。"],
        }
        ingest_arrow(store, "reviews", pa.table(reviews), source="t")
    unnamed = retain("train", "sentiment", "--data", str(training), data_dir=data, cwd=tmp_path)
    assert unnamed.returncode == 1 and "pass --encoding gb18030" in unnamed.stderr
    trained = retain("train", "sentiment", "--data", str(training), "--encoding", "gb18030",
                     data_dir=data, cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "200 reviews" in trained.stdout and "scored 2 reviews, 1 alerts" in trained.stdout
    assert "left out 1 rows (first: line 202, empty review)" in trained.stderr
    scored = retain("sentiment", "Runs small, does not fit", "", data_dir=data, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert "negative" in scored.stdout and "size -" in scored.stdout
    assert "empty review: nothing to score" in scored.stdout
    # 200 phrase-built reviews repeat each other: fewer distinct texts than reviews.
    assert re.search(r"note: this model learned from 1\d\d distinct review texts", scored.stdout)
    shown = retain("alerts", data_dir=data, cwd=tmp_path)
    assert shown.returncode == 0 and "r1 by u1" in shown.stdout and "draft: " in shown.stdout
    summary = retain("aspects", "--by", "week", data_dir=data, cwd=tmp_path)
    assert summary.returncode == 0 and "delivery" in summary.stdout
    wrong = retain("aspects", "--by", "colour", data_dir=data, cwd=tmp_path)
    assert wrong.returncode == 1 and "choose one of" in wrong.stderr


def test_keys_are_shown_once_stored_hashed_and_revocable(tmp_path: Path, data_dir: Path) -> None:
    made = retain("keys", "create", "storefront", "--role", "read", data_dir=data_dir, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("rtn_")
    key_id = secret.split("_")[1]
    listed = retain("keys", "list", data_dir=data_dir, cwd=tmp_path)
    assert key_id in listed.stdout and "storefront" in listed.stdout
    assert secret.split("_", 2)[2] not in listed.stdout
    from retain.data import Store

    with Store.open(data_dir / "retain.duckdb", read_only=True) as store:
        dump = str(store.execute("SELECT * FROM api_keys").fetchall())
    assert secret.split("_", 2)[2] not in dump
    assert retain("keys", "revoke", key_id, data_dir=data_dir, cwd=tmp_path).returncode == 0
    again = retain("keys", "revoke", key_id, data_dir=data_dir, cwd=tmp_path)
    assert again.returncode == 1 and "no live API key" in again.stderr
    bad = retain("keys", "create", "x", "--role", "root", data_dir=data_dir, cwd=tmp_path)
    assert bad.returncode == 1 and "unknown role 'root'" in bad.stderr


def test_consent_taken_by_phone_is_recorded_and_shown(tmp_path: Path, data_dir: Path) -> None:
    unknown = retain("consent", "U1", data_dir=data_dir, cwd=tmp_path)
    assert unknown.returncode == 0 and "U1: consent not known" in unknown.stdout
    said = retain("consent", "U1", "--decline", "--source", "phone call", data_dir=data_dir,
                  cwd=tmp_path)  # fmt: skip
    assert said.returncode == 0 and "U1: declined marketing" in said.stdout
    shown = retain("consent", "U1", data_dir=data_dir, cwd=tmp_path).stdout
    assert "U1: declined marketing" in shown
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC declined \(phone call\)", shown)
    empty = retain("consent", " ", "--accept", data_dir=data_dir, cwd=tmp_path)
    assert empty.returncode == 1 and "a user id is required" in empty.stderr


def test_models_list_promote_and_rollback(tmp_path: Path, data_dir: Path) -> None:
    from retain.artifacts import publish

    first = publish(data_dir / "models", "demo", lambda f: (f / "m.txt").write_text("1"))
    second = publish(data_dir / "models", "demo", lambda f: (f / "m.txt").write_text("2"))
    listed = retain("models", "list", data_dir=data_dir, cwd=tmp_path)
    assert first in listed.stdout and second in listed.stdout
    back = retain("models", "rollback", "demo", data_dir=data_dir, cwd=tmp_path)
    assert back.returncode == 0 and first in back.stdout
    forward = retain("models", "promote", "demo", second, data_dir=data_dir, cwd=tmp_path)
    assert forward.returncode == 0 and f"{second} is current" in forward.stdout
    missing = retain("models", "promote", "demo", "nope", data_dir=data_dir, cwd=tmp_path)
    assert missing.returncode == 1 and "no demo model version nope" in missing.stderr


def test_every_help_text_shows_its_bracketed_words() -> None:
    """Rich reads ``[campaign]`` as a style tag and drops it from ``--help``.

    Every command's help, and each option's, must show the settings sections
    and other bracketed words it names, so a user reading "the [campaign]
    section" is not left with "the  section".
    """

    import typer.main
    from typer.testing import CliRunner

    from retain.cli import app

    def commands(group: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield path, group
        if hasattr(group, "commands"):  # a group (typer ships its own click)
            for name, sub in group.commands.items():
                yield from commands(sub, (*path, name))

    runner = CliRunner()
    checked = 0
    for path, command in commands(typer.main.get_command(app), ()):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        wanted = {
            m for t in texts for m in re.findall(r"\[[A-Za-z_][\w.-]*\]", t.replace("\\", ""))
        }
        if not wanted:
            continue
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        flat = " ".join(shown.output.replace("│", " ").split())
        missing = sorted(w for w in wanted if w not in flat)
        assert not missing, f"retain {' '.join(path)} --help drops {missing}"
        checked += 1
    assert checked >= 2  # train recommend's [recommend], campaign's [campaign]
