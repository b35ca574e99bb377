"""Ingestion: what a shop relies on when it loads its files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retain.data import IngestReport, Store, ingest_arrow, ingest_file
from retain.data.ingest import batches as batch_module
from retain.data.summary import median_order_value, shop_summary
from retain.errors import InvalidInputError, NotFoundError
from tests.conftest import write

HEADER = "event_id,user_id,item_id,event_type,ts,value,session_id\n"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _events_csv(path: Path, n: int, bad_every: int = 0) -> tuple[Path, int]:
    """n events; every bad_every-th row broken in a rotating way."""
    rows, bad = [], 0
    damage = [
        lambda r: r.replace("2026-01-", "2026-13-"),  # impossible date
        lambda r: r.replace(",view,", ",clik,"),  # unknown event type
        lambda r: r.replace(",3.5,", ",-3.5,"),  # negative value
        lambda r: r.replace(",u", ",", 1),  # user id kept, but see below
    ]
    for i in range(n):
        row = f"e{i},u{i % 50},i{i % 30},view,2026-01-{1 + i % 28:02d}T10:00:00Z,3.5,s{i}"
        if bad_every and i % bad_every == 0:
            kind = (i // bad_every) % 4
            row = damage[kind](row) if kind < 3 else f"e{i},,i1,view,2026-01-02,1,s"
            bad += 1
        rows.append(row)
    return write(path, HEADER + "\n".join(rows) + "\n"), bad


def test_valid_file_is_accepted_with_typed_values(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.csv",
        HEADER + "e1,u1,i1,View,2026-01-02T10:00:00+08:00,12.5,s1\ne2,u1,,search,2026-01-02,,s1\n",
    )
    report = ingest_file(store, "events", path, now=NOW)
    assert (report.rows, report.accepted, report.duplicates, report.quarantined) == (2, 2, 0, 0)
    rows = store.query_df("SELECT * FROM events ORDER BY event_id")
    assert rows.event_type.tolist() == ["view", "search"]
    assert str(rows.ts[0]) == "2026-01-02 02:00:00"  # +08:00 stored as UTC
    assert rows.value[0] == 12.5
    assert pd.isna(rows.item_id[1])  # search events need no item


def test_ten_percent_malformed_rows_are_quarantined_with_reasons(
    store: Store, tmp_path: Path
) -> None:
    path, bad = _events_csv(tmp_path / "e.csv", 1000, bad_every=10)
    report = ingest_file(store, "events", path, now=NOW, batch_size=128)
    assert bad == 100
    assert report.quarantined == 100 and report.accepted == 900
    assert report.accepted + report.duplicates + report.quarantined == report.rows == 1000
    assert store.count("events") == 900 and store.count("quarantine") == 100
    reasons = store.query_df("SELECT line, reason, record FROM quarantine ORDER BY line")
    assert reasons.line.tolist() == [2 + i for i in range(0, 1000, 10)]
    joined = " | ".join(reasons.reason)
    assert "ts: cannot read '2026-13-01T10:00:00Z' as a timestamp" in joined
    assert "event_type: 'clik' is not one of: impression, view" in joined
    assert "value: must not be negative, got '-3.5'" in joined
    assert "missing required field 'user_id'" in joined
    assert json.loads(reasons.record[0])["event_id"] == "e0"


def test_reingesting_the_same_file_adds_nothing(store: Store, tmp_path: Path) -> None:
    path, _ = _events_csv(tmp_path / "e.csv", 500, bad_every=10)
    first = ingest_file(store, "events", path, now=NOW, batch_size=64)
    again = ingest_file(store, "events", path, now=NOW, batch_size=64)
    assert again.accepted == 0
    assert again.duplicates == first.accepted and again.quarantined == first.quarantined
    assert store.count("events") == first.accepted
    assert store.count("quarantine") == first.quarantined
    runs = store.query_df("SELECT status, rows FROM ingest_runs")
    assert runs.status.tolist() == ["completed", "completed"] and runs.rows.tolist() == [500, 500]


def test_duplicate_keys_inside_a_file_count_once(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.csv",
        HEADER
        + "e1,u1,i1,view,2026-01-02,,\ne1,u1,i1,view,2026-01-02,,\ne2,u2,i2,cart,2026-01-03,,\n",
    )
    report = ingest_file(store, "events", path, now=NOW)
    assert (report.accepted, report.duplicates, report.quarantined) == (2, 1, 0)


def test_rows_without_ids_get_stable_content_ids(store: Store, tmp_path: Path) -> None:
    body = "user_id,item_id,event_type,ts\nu1,i1,view,2026-01-02\nu1,i1,view,2026-01-02\n"
    path = write(tmp_path / "e.csv", body)
    first = ingest_file(store, "events", path, now=NOW)
    assert first.derived_key and first.accepted == 2  # two real views, not one
    copy = write(tmp_path / "copy.csv", body)
    assert ingest_file(store, "events", copy, now=NOW).duplicates == 2


def test_future_timestamps_are_rejected_beyond_the_tolerance(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.csv",
        HEADER + "e1,u1,i1,view,2026-06-01T00:04:00Z,,\ne2,u1,i1,view,2026-06-01T00:06:00Z,,\n",
    )
    report = ingest_file(store, "events", path, now=NOW, future_tolerance_seconds=300)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "2026-06-01 00:06:00 UTC is in the future" in next(iter(report.reasons))


def _stored_times(store: Store) -> dict[str, str]:
    """Each stored event's time, to the minute."""
    rows = store.execute("SELECT event_id, strftime(ts, '%Y-%m-%d %H:%M') FROM events").fetchall()
    return dict(rows)


def test_timestamp_formats(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "e.csv",
        HEADER + "a,u,i,view,20260105,,\nb,u,i,view,1767225600,,\nc,u,i,view,1767225600000,,\n"
        "d,u,i,view,2026-01-05 13:45:00,,\n",
    )
    assert ingest_file(store, "events", path, now=NOW).accepted == 4
    assert _stored_times(store) == {
        "a": "2026-01-05 00:00",
        "b": "2026-01-01 00:00",
        "c": "2026-01-01 00:00",
        "d": "2026-01-05 13:45",
    }


def test_times_as_spreadsheets_and_logs_write_them(store: Store, tmp_path: Path) -> None:
    """Chinese dates and a spaced offset are read unaided; 02/01/2026 once its order is named."""
    rows = {
        "zh": "2026年1月5日",
        "zh_time": "2026年1月5日 13:45",
        "offset": "2026-01-05 21:45:00 +0800",
        "slashes": "02/01/2026 13:45",
        "dots": "02.01.2026",
        "iso": "2026-01-05T13:45:00Z",
    }
    body = "".join(f"{k},u,i,view,{v},,\n" for k, v in rows.items())
    path = write(tmp_path / "e.csv", HEADER + body)
    guessed = ingest_file(store, "events", path, now=NOW)
    assert (guessed.accepted, guessed.quarantined) == (4, 2)  # day or month first? not guessed
    reason = store.execute("SELECT reason FROM quarantine WHERE line = 5").fetchone()
    assert reason == (
        "ts: cannot read '02/01/2026 13:45' as a timestamp (use ISO 8601 such as "
        "2024-05-01T13:45:00Z, YYYYMMDD or epoch seconds, or name the format with "
        "--time-format, e.g. %d/%m/%Y %H:%M)",
    )
    named = ingest_file(store, "events", path, now=NOW, time_formats=["%d/%m/%Y %H:%M", "%d.%m.%Y"])
    assert (named.accepted, named.duplicates, named.quarantined) == (2, 4, 0)
    assert _stored_times(store) == {
        "zh": "2026-01-05 00:00",
        "zh_time": "2026-01-05 13:45",
        "offset": "2026-01-05 13:45",
        "slashes": "2026-01-02 13:45",
        "dots": "2026-01-02 00:00",
        "iso": "2026-01-05 13:45",
    }
    with pytest.raises(InvalidInputError, match=r"--time-format '%Q': .*%Q"):
        ingest_file(store, "events", path, time_formats=["%Q"])


def test_amounts_as_a_spreadsheet_displays_them(store: Store, tmp_path: Path) -> None:
    """Excel saves a currency-formatted column as it shows it: ¥128.00, 1,234.56, 12,50 €."""
    amounts = {
        "plain": ("128.00", 128.0),
        "yuan_sign": ("¥128.00", 128.0),
        "fullwidth_yuan": ("￥128.00", 128.0),
        "yuan_word": ("128元", 128.0),
        "code": ("RMB 1,200.00", 1200.0),
        "us": ("1,234.56", 1234.56),
        "german": ("1.234,56", 1234.56),
        "french": ("1\u202f234,56", 1234.56),
        "decimal_comma": ("12,50", 12.5),
    }
    refused = {
        "ambiguous": "1,234",
        "unit": "100PCS",
        "bracketed": "(12.50)",  # accounting's minus: read, then refused as negative
    }
    rows = [f'{k},u1,2026-01-02,"{v}","1,200"' for k, (v, _) in amounts.items()]
    rows += [f'{k},u1,2026-01-02,"{v}",1' for k, v in refused.items()]
    path = write(tmp_path / "o.csv", "order_id,user_id,ts,amount,num_items\n" + "\n".join(rows))
    report = ingest_file(store, "orders", path, now=NOW)
    assert (report.accepted, report.quarantined) == (len(amounts), len(refused))
    stored = dict(store.execute("SELECT order_id, amount FROM orders").fetchall())
    assert stored == pytest.approx({k: want for k, (_, want) in amounts.items()})
    # A whole number cannot hold a decimal comma, so 1,200 items are 1200.
    assert store.execute("SELECT DISTINCT num_items FROM orders").fetchall() == [(1200,)]
    reasons = dict(store.execute("SELECT line, reason FROM quarantine").fetchall())
    first = len(amounts) + 2
    assert reasons[first].startswith("amount: '1,234' is not a number: a comma before three")
    assert reasons[first + 1] == "amount: '100PCS' is not a number"
    assert reasons[first + 2] == "amount: must not be negative, got '(12.50)'"


def test_a_file_that_mixes_currencies_keeps_its_main_one_and_quarantines_the_rest(
    store: Store, tmp_path: Path
) -> None:
    """¥128 and $12.50 summed as one currency would make every revenue figure wrong."""
    header = "order_id,user_id,ts,amount\n"
    euros = ["€ 12.50", "1.234,56 €", "12,50 EUR", "7"]
    path = write(
        tmp_path / "eu.csv",
        header + "".join(f'e{i},u1,2026-01-02,"{a}"\n' for i, a in enumerate(euros)),
    )
    assert ingest_file(store, "orders", path, now=NOW).accepted == len(euros)
    mixed = ["¥128.00", "128元", "RMB 99", "$12.50", "55", "(¥5.00)"]
    rows = "".join(f'm{i},u1,2026-01-02,"{a}"\n' for i, a in enumerate(mixed))
    path = write(tmp_path / "mixed.csv", header + rows)
    report = ingest_file(store, "orders", path, now=NOW)
    assert (report.accepted, report.quarantined) == (4, 2)
    reasons = dict(store.execute("SELECT line, reason FROM quarantine").fetchall())
    assert reasons[5] == (
        "amount: '$12.50' is in $, while 4 of the 5 amount values with a currency loaded "
        "with it are in ¥, and amounts are summed as one currency: convert these or load "
        "them on their own"
    )
    assert reasons[7] == "amount: must not be negative, got '(¥5.00)'"
    # Converted to yuan, the order loads and leaves the quarantine.
    fixed = write(tmp_path / "mixed.csv", header + rows.replace("$12.50", "¥90.00"))
    assert ingest_file(store, "orders", fixed, now=NOW).accepted == 1
    assert store.execute("SELECT line FROM quarantine").fetchall() == [(7,)]
    assert store.execute("SELECT amount FROM orders WHERE order_id = 'm3'").fetchall() == [(90.0,)]
    # Order lines are summed into orders, so one line in another currency holds its order back.
    lines = write(
        tmp_path / "lines.csv",
        "order_id,user_id,ts,item_id,price\n"
        "L1,u1,2026-01-02,i1,¥10\nL1,u1,2026-01-02,i2,$3\nL2,u2,2026-01-02,i1,¥10\n",
    )
    report = ingest_file(store, "orders", lines, now=NOW, lines=True)
    assert (report.accepted, report.quarantined) == (1, 2)
    held = dict(
        store.execute("SELECT line, reason FROM quarantine WHERE source LIKE '%lines%'").fetchall()
    )
    assert held[3].startswith("price: '$3' is in $, while 2 of the 3 price values")


def test_a_shop_that_names_its_currency_refuses_amounts_in_another(
    store: Store, tmp_path: Path
) -> None:
    """A file wholly in dollars looks consistent on its own; only the shop's own
    currency shows that its amounts must not be summed with the yuan already stored."""
    header = "order_id,user_id,ts,amount\n"
    amounts = ["¥128.00", "128元", "RMB 99", "55", "$12.50", "JPY 100", "1.234,56 €"]
    rows = "".join(f'c{i},u1,2026-01-02,"{a}"\n' for i, a in enumerate(amounts))
    path = write(tmp_path / "cny.csv", header + rows)
    report = ingest_file(store, "orders", path, now=NOW, currency="CNY")
    assert (report.accepted, report.quarantined) == (4, 3)
    reasons = dict(store.execute("SELECT line, reason FROM quarantine").fetchall())
    assert reasons[6] == (
        "amount: '$12.50' is in $, not this shop's currency, CNY (the currency setting), "
        "and amounts are summed as one currency: convert it to CNY before loading"
    )
    assert reasons[7].startswith("amount: 'JPY 100' is in JPY, not this shop's currency, CNY")
    assert reasons[8].startswith("amount: '1.234,56 €' is in €, not this shop's currency")
    # One currency throughout passes the within-file check, not the shop's.
    dollars = write(tmp_path / "usd.csv", header + 'd1,u1,2026-01-02,"$5"\nd2,u1,2026-01-02,$7\n')
    assert ingest_file(store, "orders", dollars, now=NOW).accepted == 2
    store.execute("DELETE FROM orders WHERE order_id LIKE 'd%'")
    dollars = write(tmp_path / "usd2.csv", header + 'd1,u1,2026-01-02,"$5"\nd2,u1,2026-01-02,$7\n')
    assert ingest_file(store, "orders", dollars, now=NOW, currency="CNY").quarantined == 2
    # A dollar shop tells its dollar from Hong Kong's, which a sign alone cannot.
    mixed = write(tmp_path / "hkd.csv", header + "h1,u1,2026-01-02,$5\nh2,u1,2026-01-02,HKD 7\n")
    report = ingest_file(store, "orders", mixed, now=NOW, currency="USD")
    assert (report.accepted, report.quarantined) == (1, 1)
    with pytest.raises(InvalidInputError, match="'yuan' is not an ISO 4217 code"):
        ingest_file(store, "orders", mixed, now=NOW, currency="yuan")


def test_an_orders_currency_column_is_checked_and_kept(store: Store, tmp_path: Path) -> None:
    """Shop exports name each order's currency in a column of its own (Shopify's Currency)."""
    header = "order_id,user_id,ts,amount,Currency\n"
    rows = "o1,u1,2026-01-02,10,CNY\no2,u1,2026-01-03,20,cny\no3,u2,2026-01-02,30,USD\n"
    rows += "o4,u2,2026-01-04,40,US Dollar\no5,u3,2026-01-02,50,\n"
    path = write(tmp_path / "o.csv", header + rows)
    report = ingest_file(store, "orders", path, now=NOW)
    assert (report.accepted, report.quarantined) == (3, 2)
    stored = store.execute("SELECT order_id, currency FROM orders ORDER BY 1").fetchall()
    assert stored == [("o1", "CNY"), ("o2", "CNY"), ("o5", None)]
    reasons = dict(store.execute("SELECT line, reason FROM quarantine").fetchall())
    assert reasons[4] == (
        "currency: 'USD' is not CNY, the currency of 2 of the 3 currency values loaded with "
        "it, and amounts are summed as one currency: convert these or load them on their own"
    )
    assert reasons[5] == "currency: 'US Dollar' is not a currency code such as CNY or USD"
    # Against the shop's own currency, a file wholly in another is refused.
    usd = write(tmp_path / "usd.csv", header + "u1,u1,2026-01-02,10,USD\n")
    report = ingest_file(store, "orders", usd, now=NOW, currency="CNY")
    assert report.quarantined == 1
    reason = store.execute("SELECT reason FROM quarantine WHERE line = 2 AND source LIKE '%usd%'")
    assert reason.fetchall()[0][0].startswith(
        "currency: 'USD' is not this shop's currency, CNY (the currency setting)"
    )
    # Order lines carry it to their order; a line in another currency holds its order back.
    lines = write(
        tmp_path / "lines.csv",
        "order_id,user_id,ts,item_id,price,currency\n"
        "L1,u1,2026-01-02,i1,10,CNY\nL1,u1,2026-01-02,i2,3,USD\nL2,u2,2026-01-02,i1,10,CNY\n",
    )
    report = ingest_file(store, "orders", lines, now=NOW, lines=True, currency="CNY")
    assert (report.accepted, report.quarantined) == (1, 2)
    assert store.execute("SELECT currency FROM orders WHERE order_id = 'L2'").fetchall() == [
        ("CNY",)
    ]
    held = dict(
        store.execute("SELECT line, reason FROM quarantine WHERE source LIKE '%lines%'").fetchall()
    )
    assert held[2] == "order L1 is loaded only whole: line 3 of this order is invalid"
    assert held[3].startswith("currency: 'USD' is not this shop's currency, CNY")


def test_malformed_csv_records_and_bad_utf8_are_quarantined_with_lines(
    store: Store, tmp_path: Path
) -> None:
    raw = (
        HEADER.encode()
        + b"e1,u1,i1,view,2026-01-02,,\n"
        + b'e2,"two\nline user",i1,view,2026-01-02,,\n'
        + b"e3,u3,i3,view\n"
        + b"e4,u\xff\xfe,i4,view,2026-01-02,,\n"
        + b"e5,u5,i5,view,2026-01-02,,\n"
    )
    path = write(tmp_path / "e.csv", raw)
    report = ingest_file(store, "events", path, now=NOW)
    assert (report.rows, report.accepted, report.quarantined) == (5, 3, 2)
    q = dict(store.execute("SELECT line, reason FROM quarantine").fetchall())
    assert set(q) == {4, 5}
    assert "not valid UTF-8" in q[5]
    assert "Expected Number of Columns" in q[4]


def test_files_are_read_in_the_encoding_a_chinese_shops_tools_write(
    store: Store, tmp_path: Path
) -> None:
    """Excel on a Chinese Windows saves CSV as GB18030; its "Unicode text" is UTF-16 with tabs."""
    rows = [
        "review_id,user_id,item_id,rating,text,ts",
        "r1,u1,i1,1,质量很差，快递也慢,2026-01-02",
        "r2,u2,i1,5,非常好，物流很快,2026-01-03",
    ]
    gbk = write(tmp_path / "reviews.csv", ("\n".join(rows) + "\n").encode("gb18030"))
    unread = ingest_file(store, "reviews", gbk, now=NOW)
    assert (unread.accepted, unread.quarantined) == (0, 2)
    reasons = {r for (r,) in store.execute("SELECT reason FROM quarantine").fetchall()}
    assert reasons == {"not valid UTF-8 text; the file reads as gb18030: pass --encoding gb18030"}
    read = ingest_file(store, "reviews", gbk, now=NOW, encoding="gb18030")
    assert (read.accepted, read.quarantined) == (2, 0)
    assert store.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert store.execute("SELECT text FROM reviews WHERE review_id = 'r2'").fetchone() == (
        "非常好，物流很快",
    )
    # Excel's "Unicode text": UTF-16 with its byte-order mark, tab-separated; no --encoding needed.
    utf16 = write(
        tmp_path / "reviews.txt", ("\n".join(rows) + "\n").replace(",", "\t").encode("utf-16")
    )
    again = ingest_file(store, "reviews", utf16, format="csv", delimiter="\\t", now=NOW)
    assert (again.rows, again.accepted, again.duplicates) == (2, 0, 2)  # the same reviews
    # JSON lines in GB18030: the one line that does not decode is quarantined, the rest load.
    lines = [
        json.dumps({"review_id": "r3", "user_id": "u3", "item_id": "i2", "rating": 4,
                    "text": "包装很好", "ts": "2026-01-04"}, ensure_ascii=False).encode("gb18030"),
        b'{"review_id": "r4", "user_id": "u4", "item_id": "i2", "text": "\x81\x20", '
        b'"ts": "2026-01-04"}',
    ]  # fmt: skip
    jsonl = write(tmp_path / "reviews.jsonl", b"\n".join(lines) + b"\n")
    mixed = ingest_file(store, "reviews", jsonl, now=NOW, encoding="GB18030")
    assert (mixed.accepted, mixed.quarantined) == (1, 1)
    assert store.execute("SELECT line, reason FROM quarantine").fetchall() == [
        (2, "not valid gb18030 text (check --encoding)")
    ]
    with pytest.raises(InvalidInputError, match="unknown encoding 'gbkk'; name a Python codec"):
        ingest_file(store, "reviews", gbk, encoding="gbkk")
    pq.write_table(pa.table({"review_id": ["r5"]}), tmp_path / "r.parquet")
    with pytest.raises(InvalidInputError, match="--encoding applies to CSV and JSONL"):
        ingest_file(store, "reviews", tmp_path / "r.parquet", encoding="gbk")
    with pytest.raises(InvalidInputError, match=r"one character .*; got ';;'"):
        ingest_file(store, "reviews", gbk, delimiter=";;", encoding="gb18030")
    # The public review and FAQ formats take the encoding too; the others are UTF-8.
    labelled = write(tmp_path / "labelled.csv", "label,review\n1,很好\n".encode("gb18030"))
    public = ingest_file(store, "reviews", labelled, format="review-csv", encoding="gb18030")
    assert public.accepted == 1
    with pytest.raises(InvalidInputError, match="applies to csv, jsonl, review-csv, faq files"):
        ingest_file(store, "orders", labelled, format="cdnow", encoding="gb18030")


def test_a_utf8_file_with_a_damaged_record_is_not_taken_for_another_encoding(
    store: Store, tmp_path: Path
) -> None:
    raw = HEADER.encode() + "e1,ü1,i1,view,2026-01-02,,\ne2,ü2,i1,view,2026-01-02,,\n".encode()
    path = write(tmp_path / "e.csv", raw + b"e3,u\xe9,i1,view,2026-01-02,,\n")
    report = ingest_file(store, "events", path, now=NOW)
    assert (report.accepted, report.quarantined) == (2, 1)
    assert store.execute("SELECT reason FROM quarantine").fetchone() == (
        "not valid UTF-8 text (save the file as UTF-8)",
    )


def test_missing_required_column_fails_before_writing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "user,item,kind\nu1,i1,view\n")
    with pytest.raises(
        InvalidInputError, match=r"no column for required events field\(s\) user_id, event_type, ts"
    ):
        ingest_file(store, "events", path, now=NOW)
    assert store.count("events") == 0 and store.count("ingest_runs") == 0


def test_column_mapping_and_header_folding(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "uid,Item ID,Event-Type,time,extra\nu1,i1,pv,2026-01-02,x\n")
    report = ingest_file(store, "events", path, mapping={"uid": "user_id", "time": "ts"}, now=NOW)
    assert report.accepted == 1 and report.ignored_columns == ("extra",)
    assert store.execute("SELECT event_type FROM events").fetchone() == ("view",)
    with pytest.raises(InvalidInputError, match="events has no field 'userid'"):
        ingest_file(store, "events", path, mapping={"uid": "userid"}, now=NOW)


def test_profile_columns_without_a_field_are_kept_as_attributes(
    store: Store, tmp_path: Path
) -> None:
    """A flat profile export keeps its extra columns, so retention splits by them."""
    path = write(
        tmp_path / "users.csv",
        "customer,age,income,country\nU1,45-54,50-74K,DE\nU2,,25-34K,\n",
    )
    report = ingest_file(store, "users", path, mapping={"customer": "user_id"}, now=NOW)
    assert report.attribute_columns == ("age", "income", "country")
    assert report.ignored_columns == ()
    stored = store.query_df("SELECT user_id, attributes FROM users ORDER BY user_id")
    assert [json.loads(a) for a in stored.attributes] == [
        {"age": "45-54", "income": "50-74K", "country": "DE"},
        {"income": "25-34K"},  # empty values are left out
    ]
    assert ingest_file(store, "users", path, mapping={"customer": "user_id"}).duplicates == 2
    # A source with its own attributes column keeps it, and the rest is ignored.
    own = write(tmp_path / "own.csv", 'user_id,attributes,age\nU3,"{""channel"": ""ads""}",30\n')
    report = ingest_file(store, "users", own, now=NOW)
    assert report.ignored_columns == ("age",) and report.attribute_columns == ()
    assert store.execute("SELECT attributes FROM users WHERE user_id = 'U3'").fetchone() == (
        '{"channel": "ads"}',
    )


def test_parquet_and_jsonl_sources(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "order_id": ["o1", "o2"],
            "user_id": ["u1", "u2"],
            "ts": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 2)]),
            "amount": [10.0, -1.0],
        }
    )
    pq.write_table(table, tmp_path / "o.parquet")
    report = ingest_file(store, "orders", tmp_path / "o.parquet", now=NOW)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert store.execute("SELECT line FROM quarantine").fetchone() == (2,)
    lines = [
        json.dumps(
            {
                "order_id": "o3",
                "user_id": "u1",
                "ts": "2026-01-03",
                "amount": 5,
                "items": [{"item_id": "i1", "quantity": 1}],
            }
        ),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps(
            {
                "order_id": "o4",
                "user_id": "u1",
                "ts": "2026-01-03",
                "amount": 5,
                "items": {"not": "a list"},
            }
        ),
    ]
    write(tmp_path / "o.jsonl", "\n".join(lines) + "\n")
    report = ingest_file(store, "orders", tmp_path / "o.jsonl", now=NOW)
    assert (report.rows, report.accepted, report.quarantined) == (4, 1, 3)
    reasons = dict(
        store.execute("SELECT line, reason FROM quarantine WHERE source LIKE '%jsonl'").fetchall()
    )
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "expected a JSON object per line, got list"
    assert reasons[4] == "items: must be a JSON array"
    assert store.execute("SELECT status FROM orders WHERE order_id = 'o3'").fetchone() == (
        "completed",
    )


def test_jsonl_fields_that_cannot_be_column_names_are_ignored(store: Store, tmp_path: Path) -> None:
    """Empty, reserved, control-character and case-duplicate names never break staging."""
    record = {
        "order_id": "o9",
        "user_id": "u1",
        "ts": "2026-01-03",
        "amount": 5,
        "": "empty",
        "\u0000": "nul",
        "_row": "reserved",
        "USER_ID": "shadow",
    }
    write(tmp_path / "odd.jsonl", json.dumps(record) + "\n")
    report = ingest_file(store, "orders", tmp_path / "odd.jsonl", now=NOW)
    assert (report.rows, report.accepted) == (1, 1)
    assert store.execute("SELECT user_id FROM orders WHERE order_id = 'o9'").fetchone() == ("u1",)


def test_items_upsert_counts_identical_records_as_duplicates(store: Store, tmp_path: Path) -> None:
    head = "item_id,title,price\n"
    write(tmp_path / "a.csv", head + "i1,Red mug,10\ni2,保温杯,20\n")
    write(tmp_path / "b.csv", head + "i1,Red mug,10\ni2,保温杯,25\ni3,Lamp,5\n")
    assert ingest_file(store, "items", tmp_path / "a.csv", now=NOW).accepted == 2
    report = ingest_file(store, "items", tmp_path / "b.csv", now=NOW)
    assert (report.accepted, report.duplicates) == (2, 1)
    rows = dict(store.execute("SELECT item_id, price FROM items").fetchall())
    assert rows == {"i1": 10.0, "i2": 25.0, "i3": 5.0}
    langs = dict(store.execute("SELECT item_id, language FROM items").fetchall())
    assert langs["i2"] == "zh" and langs["i1"] == "en"


def test_a_file_with_some_columns_changes_only_those(store: Store, tmp_path: Path) -> None:
    """A price and stock feed keeps the catalogue's text; a consent export keeps profiles."""
    write(
        tmp_path / "catalogue.csv",
        "item_id,title,description,category,price,color\n"
        "i1,Red mug,A red mug,kitchen,9.5,red\ni2,保温杯,不锈钢,kitchen,20,silver\n",
    )
    ingest_file(store, "items", tmp_path / "catalogue.csv", now=NOW)
    write(tmp_path / "stock.csv", "item_id,price,available,warehouse\ni1,11,no,east\ni3,5,,\n")
    report = ingest_file(store, "items", tmp_path / "stock.csv", now=NOW)
    assert (report.accepted, report.duplicates) == (2, 0)
    rows = store.query_df("SELECT * FROM items ORDER BY item_id").set_index("item_id")
    assert rows.loc["i1", ["title", "description", "category", "language"]].tolist() == [
        "Red mug",
        "A red mug",
        "kitchen",
        "en",
    ]
    assert (rows.loc["i1", "price"], bool(rows.loc["i1", "available"])) == (11.0, False)
    assert json.loads(rows.loc["i1", "attributes"]) == {"color": "red", "warehouse": "east"}
    assert rows.loc["i2", "title"] == "保温杯" and rows.loc["i2", "price"] == 20.0
    assert pd.isna(rows.loc["i3", "title"]) and bool(rows.loc["i3", "available"])  # defaults
    again = ingest_file(store, "items", tmp_path / "stock.csv", now=NOW)
    assert (again.accepted, again.duplicates) == (0, 2)

    write(tmp_path / "customers.csv", "user_id,first_seen,tier\nu1,2026-01-05,gold\n")
    ingest_file(store, "users", tmp_path / "customers.csv", now=NOW)
    write(tmp_path / "consent.csv", "user_id,marketing_consent\nu1,no\n")
    assert ingest_file(store, "users", tmp_path / "consent.csv", now=NOW).accepted == 1
    user = store.query_df("SELECT * FROM users").iloc[0]
    assert str(user.first_seen).startswith("2026-01-05") and not user.marketing_consent
    assert json.loads(user.attributes) == {"tier": "gold"}
    # JSON written with spaces is the same JSON the next time: a duplicate, not a change.
    write(tmp_path / "profiles.csv", 'user_id,attributes\nu2,"{""tier"": ""new"", ""n"": 1}"\n')
    assert ingest_file(store, "users", tmp_path / "profiles.csv", now=NOW).accepted == 1
    assert ingest_file(store, "users", tmp_path / "profiles.csv", now=NOW).duplicates == 1


def test_a_whole_catalogue_takes_what_it_no_longer_lists_off_sale(
    store: Store, tmp_path: Path
) -> None:
    head = "item_id,title,price,available\n"
    write(tmp_path / "monday.csv", head + "i1,Mug,9,yes\ni2,Cup,5,no\ni3,Lamp,20,\ni4,Vase,7,\n")
    ingest_file(store, "items", tmp_path / "monday.csv", now=NOW)
    # Tuesday's catalogue drops the lamp; the vase's line is broken but still listed.
    write(tmp_path / "tuesday.csv", "item_id,title,price\ni1,Mug,9\ni2,Cup,5\ni4,Vase,x\n")
    report = ingest_file(store, "items", tmp_path / "tuesday.csv", now=NOW, complete=True)
    assert (report.withdrawn, report.relisted, report.quarantined) == (1, 0, 1)

    def on_sale() -> dict[str, bool]:
        return dict(store.execute("SELECT item_id, available FROM items").fetchall())

    # The cup stays out of stock: the catalogue says nothing of stock.
    assert on_sale() == {"i1": True, "i2": False, "i3": False, "i4": True}
    # Listed again, the lamp is back on sale; a broken export changes nothing.
    write(tmp_path / "wednesday.csv", "item_id,title,price\ni1,Mug,9\ni3,Lamp,20\ni4,Vase,7\n")
    again = ingest_file(store, "items", tmp_path / "wednesday.csv", now=NOW, complete=True)
    assert (again.withdrawn, again.relisted) == (0, 1)  # the cup was already off sale
    assert on_sale() == {"i1": True, "i2": False, "i3": True, "i4": True}
    write(tmp_path / "broken.csv", "item_id,title,price\n,Mug,9\n")
    broken = ingest_file(store, "items", tmp_path / "broken.csv", now=NOW, complete=True)
    assert (broken.withdrawn, broken.quarantined) == (0, 1)
    assert on_sale()["i1"]
    with pytest.raises(InvalidInputError, match="does not apply to users"):
        ingest_file(store, "users", tmp_path / "monday.csv", now=NOW, complete=True)


def test_fixing_a_line_clears_its_quarantine_entry(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", HEADER + "e1,u1,i1,clik,2026-01-02,,\n")
    ingest_file(store, "events", path, now=NOW)
    assert store.count("quarantine") == 1
    write(path, HEADER + "e1,u1,i1,click,2026-01-02,,\n")
    assert ingest_file(store, "events", path, now=NOW).accepted == 1
    assert store.count("quarantine") == 0


def test_a_failing_batch_rolls_back_whole_and_keeps_earlier_batches(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _events_csv(tmp_path / "e.csv", 300, bad_every=7)
    real = batch_module._write_quarantine
    calls = {"n": 0}

    def failing(*args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_module, "_write_quarantine", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(store, "events", path, now=NOW, batch_size=100)
    committed = store.count("events") + store.count("quarantine")
    assert committed == 100  # batch 1 whole, batch 2 nothing
    run = store.query_df("SELECT status, rows, error FROM ingest_runs")
    assert run.status[0] == "failed" and run.rows[0] == 100 and "disk full" in run.error[0]
    monkeypatch.setattr(batch_module, "_write_quarantine", real)
    report = ingest_file(store, "events", path, now=NOW, batch_size=100)
    assert store.count("events") + store.count("quarantine") == 300
    # Rows 0..99 hold 15 broken ones (every 7th): the 85 good ones are now duplicates.
    assert (report.duplicates, report.accepted + report.duplicates + report.quarantined) == (
        85,
        300,
    )


def test_text_rules_and_languages(store: Store, tmp_path: Path) -> None:
    data = pa.table(
        {
            "text": ["很好用，推荐", "Great value", "   ", "x" * 50, "😀😀"],
            "rating": ["5", "4", "3", "7", "2"],
        }
    )
    report = ingest_arrow(store, "reviews", data, source="mem", max_text_chars=40, now=NOW)
    assert (report.accepted, report.quarantined) == (3, 2)
    reasons = " | ".join(report.reasons)
    assert "missing required field 'text'" in reasons
    assert "text: text of 50 characters exceeds the limit of 40" in reasons
    assert "rating: '7' is outside 1..5" in reasons
    langs = dict(store.execute("SELECT text, language FROM reviews").fetchall())
    assert langs == {"很好用，推荐": "zh", "Great value": "en", "😀😀": "und"}


def test_missing_value_markers_are_missing_values_except_in_free_text(
    store: Store, tmp_path: Path
) -> None:
    """An R or pandas export writes NA, NaN or None where a value is missing.

    Read as an id, every anonymous row of a views log (DIGINETICA's sample
    writes user_id NA for 1,447 of its first 1,999 views) became one user
    called "NA", the busiest customer of the shop.
    """
    path = write(
        tmp_path / "e.csv",
        HEADER
        + "e1,NA,i1,view,2026-01-02,NaN,null\n"
        + "e2,u1,i1,view,2026-01-02,#N/A,None\n"
        + "e3, n/a ,i1,view,2026-01-02,1,s\n"
        + "e4,nan,i1,view,2026-01-02,1,s\n"
        + "e5,NAME,i1,view,2026-01-02,1,s\n",
    )
    report = ingest_file(store, "events", path, now=NOW)
    assert (report.accepted, report.quarantined) == (2, 3)
    reasons = sorted(report.reasons)
    assert "missing required field 'user_id' ('NA' marks a missing value)" in reasons[0]
    kept = store.query_df("SELECT user_id, value, session_id FROM events ORDER BY event_id")
    assert kept.user_id.tolist() == ["u1", "NAME"]  # a marker must be the whole value
    assert kept.value.isna().tolist() == [True, False] and kept.session_id.tolist()[1] == "s"
    assert pd.isna(kept.session_id[0])
    lines = store.query_df("SELECT line, record FROM quarantine ORDER BY line")
    assert lines.line.tolist() == [2, 4, 5]
    assert json.loads(lines.record[0])["user_id"] == "NA"  # the row as the file wrote it
    reviews = pa.table({"text": ["None", "NA"], "rating": ["NA", "4"]})
    ingest_arrow(store, "reviews", reviews, source="mem", now=NOW)
    stored = store.query_df("SELECT text, rating FROM reviews ORDER BY text")
    assert stored.text.tolist() == ["NA", "None"] and stored.rating.isna().tolist() == [False, True]


def test_a_value_every_record_shares_is_set_once_for_the_file(store: Store, tmp_path: Path) -> None:
    """A log of views only has no event_type column; --set event_type=view supplies it."""
    rows = "user_id,item_id,ts\nu1,i1,2026-01-02\nu2,i2,2026-01-03\n"
    views, buys = write(tmp_path / "views.csv", rows), write(tmp_path / "buys.csv", rows)
    with pytest.raises(InvalidInputError, match="or give a value every record shares with --set"):
        ingest_file(store, "events", views, now=NOW)
    seen = ingest_file(store, "events", views, constants={"event_type": "view"}, now=NOW)
    assert (seen.accepted, seen.quarantined, seen.ignored_columns) == (2, 0, ())
    # The same rows as purchases are other events: the constant is part of the derived key.
    codes = {"event_type": {"4": "purchase"}}
    bought = ingest_file(
        store, "events", buys, constants={"event_type": "4"}, values=codes, now=NOW
    )
    assert bought.accepted == 2
    again = ingest_file(store, "events", views, constants={"event_type": "view"}, now=NOW)
    assert (again.accepted, again.duplicates) == (0, 2)
    stored = store.query_df("SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
    assert dict(zip(stored.event_type, stored.n, strict=True)) == {"purchase": 2, "view": 2}
    odd = ingest_file(store, "events", views, constants={"event_type": "glance"}, now=NOW)
    assert odd.quarantined == 2 and "event_type: 'glance' is not one of" in next(iter(odd.reasons))
    for constants, message in (
        ({"kind": "view"}, "--set kind=view: events has no field 'kind'"),
        ({"user_id": "u9", "event_type": "view"}, "has a column for user_id"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            ingest_file(store, "events", views, constants=constants, now=NOW)
    with pytest.raises(InvalidInputError, match=r"has a column for event_type \(kind\)"):
        kinds = write(tmp_path / "k.csv", "user_id,item_id,ts,kind\nu1,i1,2026-01-02,v\n")
        ingest_file(
            store, "events", kinds, mapping={"kind": "event_type"},
            constants={"event_type": "view"}, now=NOW,
        )  # fmt: skip
    assert store.query_df("SELECT count(*) AS n FROM events").n[0] == 4  # refusals wrote nothing


def test_unknown_table_and_missing_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown table 'clicks'"):
        ingest_file(store, "clicks", tmp_path / "x.csv")
    with pytest.raises(NotFoundError, match="no such file"):
        ingest_file(store, "events", tmp_path / "x.csv")
    with pytest.raises(InvalidInputError, match="is empty"):
        ingest_file(store, "events", write(tmp_path / "empty.csv", ""))


def test_a_record_that_reuses_a_stored_key_with_other_values_is_a_conflict(
    store: Store, tmp_path: Path
) -> None:
    """Same key, other content: quarantined with both values, never counted a duplicate."""
    first = write(tmp_path / "a.csv", HEADER + "e1,u1,i1,view,2026-01-02,2,s1\n")
    ingest_file(store, "events", first, now=NOW)
    second = write(
        tmp_path / "b.csv",
        HEADER + "e1,u1,i1,view,2026-01-02,2,s1\ne1,u9,i1,view,2026-01-02,3,s1\n",
    )
    report = ingest_file(store, "events", second, now=NOW)
    assert (report.accepted, report.duplicates, report.quarantined) == (0, 1, 1)
    (reason,) = store.query_df("SELECT reason FROM quarantine").reason
    assert reason == (
        "event_id 'e1' is already stored with other values: "
        "user_id 'u1' stored, 'u9' here and value '2.0' stored, '3.0' here"
    )
    assert store.query_df("SELECT user_id FROM events").user_id.tolist() == ["u1"]


def test_order_lines_under_one_order_id_are_refused_with_a_hint(
    store: Store, tmp_path: Path
) -> None:
    """A line-level export mapped onto orders keeps no line silently: the first
    line is the order, every other line that disagrees is quarantined."""
    lines = write(
        tmp_path / "lines.csv",
        "basket,customer,time,line_value\n"
        "B1,U1,2026-01-02,3.5\nB1,U1,2026-01-02,1.25\nB1,U1,2026-01-02,3.5\n",
    )
    mapping = {"basket": "order_id", "customer": "user_id", "time": "ts", "line_value": "amount"}
    report = ingest_file(store, "orders", lines, mapping=mapping, now=NOW)
    assert (report.accepted, report.duplicates, report.quarantined) == (1, 1, 1)
    (reason,) = store.query_df("SELECT reason FROM quarantine").reason
    assert "amount '3.5' stored, '1.25' here" in reason
    assert "load a file with one row per order line with --lines" in reason


def test_a_later_order_status_updates_the_stored_order(store: Store, tmp_path: Path) -> None:
    """Shops re-export an order when it is returned: the status moves on, an older
    export loaded again does not move it back, and an impossible move is refused."""
    head = "order_id,user_id,ts,amount,status\n"
    placed = write(tmp_path / "a.csv", head + "O1,U1,2026-01-01,10,pending\nO2,U2,2026-01-02,20,\n")
    ingest_file(store, "orders", placed, now=NOW)
    later = write(
        tmp_path / "b.csv",
        head + "O1,U1,2026-01-01,10,completed\nO1,U1,2026-01-01,10,returned\n"
        "O2,U2,2026-01-02,20,cancelled\nO3,U3,2026-01-03,5,completed\n",
    )
    report = ingest_file(store, "orders", later, now=NOW)
    assert (report.accepted, report.updated, report.duplicates, report.quarantined) == (
        3,
        2,
        0,
        1,
    )
    (reason,) = store.query_df("SELECT reason FROM quarantine").reason
    assert reason == (
        "order_id 'O2' is already stored with other values: status 'completed' stored, "
        "'cancelled' here (no move leads from one to the other)"
    )
    again = ingest_file(store, "orders", placed, now=NOW)  # the older export
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 2, 0)
    statuses = store.query_df("SELECT order_id, status FROM orders ORDER BY 1")
    assert statuses.status.tolist() == ["returned", "completed", "completed"]
    # A source without the status column says nothing about it.
    bare = write(tmp_path / "c.csv", "order_id,user_id,ts,amount\nO1,U1,2026-01-01,10\n")
    assert ingest_file(store, "orders", bare, now=NOW).duplicates == 1
    assert store.query_df("SELECT status FROM orders WHERE order_id = 'O1'").status[0] == (
        "returned"
    )


DATED_HEAD = "order_id,user_id,ts,amount,status,status_ts\n"


def _load_dated(store: Store, path: Path, rows: str) -> IngestReport:
    """Ingest order ``rows`` (under :data:`DATED_HEAD`) as of :data:`NOW`."""
    return ingest_file(store, "orders", write(path, DATED_HEAD + rows), now=NOW)


def _statuses(store: Store) -> tuple[list[str], list[pd.Timestamp]]:
    """Every order's status and ``status_ts``, by order id."""
    dated = store.query_df("SELECT order_id, status, status_ts FROM orders ORDER BY 1")
    return dated.status.tolist(), dated.status_ts.tolist()


def test_a_status_move_is_dated_by_the_source_or_else_by_the_ingest(
    store: Store, tmp_path: Path
) -> None:
    """A feature computed as of an earlier day must see the old status, so each
    move records when it happened: the export's ``status_ts`` when it has one,
    else the ingest time. A later "updated at" alone is no conflict."""
    _load_dated(
        store, tmp_path / "a.csv", "O1,U1,2026-01-01,10,completed,\nO2,U2,2026-01-02,20,,\n"
    )
    moved = "O1,U1,2026-01-01,10,returned,2026-01-09T12:00:00Z\nO2,U2,2026-01-02,20,refunded,\n"
    assert _load_dated(store, tmp_path / "b.csv", moved).updated == 2
    assert _statuses(store) == (
        ["returned", "refunded"],
        [pd.Timestamp("2026-01-09 12:00"), pd.Timestamp(NOW.replace(tzinfo=None))],
    )
    early = "O4,U4,2026-01-05,10,returned,2026-01-04\n"
    assert _load_dated(store, tmp_path / "e.csv", early).quarantined == 1
    assert store.query_df("SELECT reason FROM quarantine WHERE line = 2").reason.tolist() == [
        "status_ts: 2026-01-04 00:00:00 UTC is before ts 2026-01-05 00:00:00"
    ]
    report = _load_dated(store, tmp_path / "c.csv", "O1,U1,2026-01-01,10,returned,2026-02-01\n")
    assert (report.duplicates, report.quarantined) == (1, 0)
    assert store.query_df("SELECT status_ts FROM orders WHERE order_id = 'O1'").status_ts[0] == (
        pd.Timestamp("2026-01-09 12:00")
    )


def test_a_refund_after_a_return_keeps_the_day_the_order_left(store: Store, tmp_path: Path) -> None:
    """Returned, then refunded: the order stopped being a purchase on the return
    day, so a feature as of a day between the two must not count it again."""
    placed = "O1,U1,2026-01-01,10,completed,\nO2,U2,2026-01-02,20,pending,\n"
    _load_dated(store, tmp_path / "a.csv", placed)
    returned = "O1,U1,2026-01-01,10,returned,2026-01-09\nO2,U2,2026-01-02,20,completed,2026-01-03\n"
    assert _load_dated(store, tmp_path / "b.csv", returned).updated == 2
    refunded = "O1,U1,2026-01-01,10,refunded,2026-01-20\nO2,U2,2026-01-02,20,refunded,\n"
    assert _load_dated(store, tmp_path / "c.csv", refunded).updated == 2
    # O1 left on its return day; O2 left with this refund, dated by the ingest.
    assert _statuses(store) == (
        ["refunded", "refunded"],
        [pd.Timestamp("2026-01-09"), pd.Timestamp(NOW.replace(tzinfo=None))],
    )


REVIEW_HEAD = "review_id,user_id,item_id,ts,rating,text\n"


def _reviews(store: Store) -> list[tuple[str, float, str]]:
    """Every stored review's id, rating and text."""
    rows = store.query_df("SELECT review_id, rating, text FROM reviews ORDER BY 1")
    return list(rows.itertuples(index=False, name=None))


def test_an_edited_review_replaces_the_stored_one_and_keeps_the_old(
    store: Store, tmp_path: Path
) -> None:
    """A writer who turns one star into five after the shop helped: the review
    takes the new words, dated by the ingest, and the old ones are kept with the
    span they held. An older export loaded again cannot undo the edit, and a
    review that changes writer is still a conflict."""
    first = write(
        tmp_path / "a.csv",
        REVIEW_HEAD + "R1,U1,I1,2026-01-05,1,Arrived broken\nR2,U2,I1,2026-01-06,5,Great\n",
    )
    ingest_file(store, "reviews", first, now=NOW)
    edited = write(
        tmp_path / "b.csv",
        REVIEW_HEAD + "R1,U1,I1,2026-01-05,5,Replaced in two days\nR2,U2,I1,2026-01-06,5,Great\n",
    )
    report = ingest_file(store, "reviews", edited, now=NOW)
    assert (report.accepted, report.updated, report.duplicates, report.quarantined) == (1, 1, 1, 0)
    assert _reviews(store) == [("R1", 5.0, "Replaced in two days"), ("R2", 5.0, "Great")]
    (when,) = store.query_df("SELECT edited_ts FROM reviews WHERE review_id = 'R1'").edited_ts
    assert when == pd.Timestamp(NOW.replace(tzinfo=None))
    old = store.query_df("SELECT * FROM review_versions").to_dict("records")
    assert [(v["review_id"], v["user_id"], v["rating"], v["text"], v["version"]) for v in old] == [
        ("R1", "U1", 1.0, "Arrived broken", 1)
    ]
    assert (old[0]["valid_from"], old[0]["valid_to"]) == (pd.Timestamp("2026-01-05"), when)
    again = ingest_file(store, "reviews", first, now=NOW)  # the older export
    assert (again.accepted, again.duplicates) == (0, 2)
    assert _reviews(store)[0] == ("R1", 5.0, "Replaced in two days")
    moved = write(tmp_path / "c.csv", REVIEW_HEAD + "R1,U9,I1,2026-01-05,5,Replaced in two days\n")
    assert ingest_file(store, "reviews", moved, now=NOW).quarantined == 1
    assert store.query_df("SELECT reason FROM quarantine").reason.tolist() == [
        "review_id 'R1' is already stored with other values: user_id 'U1' stored, 'U9' here"
    ]


def test_a_replaced_review_is_exported_and_erased_with_its_writer(
    store: Store, tmp_path: Path
) -> None:
    """The words a customer wrote before editing are theirs too."""
    from retain.privacy import erase_user, export_user

    ingest_file(store, "reviews", write(tmp_path / "a.csv", REVIEW_HEAD + "R1,U1,,,1,Bad\n"))
    ingest_file(store, "reviews", write(tmp_path / "b.csv", REVIEW_HEAD + "R1,U1,,,4,Fixed\n"))
    assert [r["text"] for r in export_user(store, "U1")["review_versions"]] == ["Bad"]
    assert erase_user(store, "U1").rows_by_table["review_versions"] == 1
    assert store.count("review_versions") == 0


def test_a_dated_edit_applies_only_when_it_is_newer(store: Store, tmp_path: Path) -> None:
    """An export that dates its edits (``edited_ts``) orders them by that date:
    an edit dated before the stored one is an older export, and each applied
    edit keeps the version it replaced, numbered."""
    head = "review_id,user_id,ts,rating,text,edited_ts\n"
    ingest_file(store, "reviews", write(tmp_path / "a.csv", head + "R1,U1,2026-01-05,2,Slow,\n"))
    later = write(tmp_path / "b.csv", head + "R1,U1,2026-01-05,3,Came at last,2026-01-20\n")
    assert ingest_file(store, "reviews", later, now=NOW).updated == 1
    stale = write(tmp_path / "c.csv", head + "R1,U1,2026-01-05,1,Still waiting,2026-01-10\n")
    assert ingest_file(store, "reviews", stale, now=NOW).duplicates == 1
    last = write(tmp_path / "d.csv", head + "R1,U1,2026-01-05,5,Works well,2026-02-01\n")
    assert ingest_file(store, "reviews", last, now=NOW).updated == 1
    assert _reviews(store) == [("R1", 5.0, "Works well")]
    spans = store.query_df(
        "SELECT version, rating, valid_from, valid_to FROM review_versions ORDER BY version"
    )
    assert list(spans.itertuples(index=False, name=None)) == [
        (1, 2.0, pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-20")),
        (2, 3.0, pd.Timestamp("2026-01-20"), pd.Timestamp("2026-02-01")),
    ]
    early = write(tmp_path / "e.csv", head + "R2,U1,2026-01-05,5,Odd,2026-01-04\n")
    assert ingest_file(store, "reviews", early, now=NOW).quarantined == 1


LINES_HEAD = "order,customer,time,sku,qty,unit_price,state\n"


def test_order_lines_are_summed_into_orders(store: Store, tmp_path: Path) -> None:
    """A line-level export loads as one order per order id, with its lines listed."""
    path = write(
        tmp_path / "lines.csv",
        LINES_HEAD + "B1,U1,2026-01-02T10:00:00Z,I1,2,1.25,completed\n"
        "B2,U2,2026-01-03T09:00:00Z,I3,1,4,\n"
        "B1,U1,2026-01-02T10:00:05Z,I2,1,3.5,completed\n",
    )
    mapping = {
        "order": "order_id",
        "customer": "user_id",
        "time": "ts",
        "sku": "item_id",
        "qty": "quantity",
        "unit_price": "price",
        "state": "status",
    }
    report = ingest_file(store, "orders", path, mapping=mapping, now=NOW, lines=True)
    assert (report.lines, report.rows, report.accepted, report.quarantined) == (3, 2, 2, 0)
    orders = store.query_df("SELECT * FROM orders ORDER BY order_id")
    assert orders.amount.tolist() == [6.0, 4.0]  # 2 x 1.25 + 3.5, and 4
    assert orders.num_items.tolist() == [3, 1]
    assert orders.status.tolist() == ["completed", "completed"]
    assert str(orders.ts[0]) == "2026-01-02 10:00:00"  # the earliest line
    assert json.loads(orders["items"][0]) == [
        {"item_id": "I1", "quantity": 2.0, "price": 1.25},
        {"item_id": "I2", "quantity": 1.0, "price": 3.5},
    ]
    again = ingest_file(store, "orders", path, mapping=mapping, now=NOW, lines=True)
    assert (again.accepted, again.duplicates) == (0, 2)


#: How a Shopify orders export's columns map onto order lines (``--map``).
SHOPIFY_ORDER_LINES = {
    "Name": "order_id",
    "Email": "user_id",
    "Financial Status": "status",
    "Total": "order_total",
    "Created at": "ts",
    "Lineitem quantity": "quantity",
    "Lineitem price": "price",
}


def test_a_shopify_orders_export_loads_with_the_total_it_charged(
    store: Store, tmp_path: Path
) -> None:
    """Shopify writes one row per line item and fills the order's status, currency
    and total only on its first line; the total, after the discount code and with
    shipping, is what the customer paid, not the sum of the line prices."""
    head = "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,"
    head += "Lineitem price,Lineitem sku\n"
    path = write(
        tmp_path / "orders_export.csv",
        head + "#1001,ann@example.com,paid,EUR,53.91,2025-10-07 09:50:26 +0200,1,34.90,S1\n"
        "#1001,ann@example.com,,,,2025-10-07 09:50:26 +0200,1,24.00,S2\n"
        "#1002,bob@example.com,authorized,EUR,24.90,2025-10-09 11:00:00 +0200,2,10.00,S3\n"
        "#1003,cy@example.com,paid,EUR,30.00,2025-10-10 10:00:00 +0200,3,10.00,S4\n"
        "#1003,cy@example.com,,,31.00,2025-10-10 10:00:00 +0200,1,1.00,S5\n",
    )
    mapping = {**SHOPIFY_ORDER_LINES, "Lineitem sku": "item_id"}
    report = ingest_file(store, "orders", path, mapping=mapping, now=NOW, lines=True)
    assert (report.lines, report.accepted, report.quarantined) == (5, 2, 2)
    orders = store.query_df("SELECT * FROM orders ORDER BY order_id")
    assert orders.amount.tolist() == [53.91, 24.9]  # charged, not 58.90 and 20.00
    assert orders.status.tolist() == ["completed", "pending"]  # an authorised payment waits
    assert orders.currency.tolist() == ["EUR", "EUR"]
    assert orders.num_items.tolist() == [2, 2]
    reasons = dict(store.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall())
    assert reasons[5] == "order #1003 is loaded only whole: its lines name 2 totals (30.0, 31.0)"


def test_a_shopify_partial_refund_nets_the_order_and_a_later_one_is_kept_apart(
    store: Store, tmp_path: Path
) -> None:
    """Shopify's Refunded Amount (on an order's first line) is the money given back on
    an order that stands. A re-export with a larger refund updates it, dated by the
    ingest, and keeps the earlier amount; a refund above what was charged is refused."""
    head = "Name,Email,Financial Status,Total,Refunded Amount,Created at,Lineitem quantity,"
    head += "Lineitem price\n"
    first = "#1001,ann@example.com,partially_refunded,53.91,{},2025-10-07 09:50:26,1,34.90\n"
    rest = "#1001,ann@example.com,,,,2025-10-07 09:50:26,1,24.00\n"
    over = "#1002,bob@example.com,partially_refunded,24.90,30.00,2025-10-09 11:00:00,1,24.90\n"
    mapping = SHOPIFY_ORDER_LINES
    path = write(tmp_path / "orders_export.csv", head + first.format("10.00") + rest + over)
    report = ingest_file(store, "orders", path, mapping=mapping, now=NOW, lines=True)
    assert (report.accepted, report.quarantined) == (1, 1)
    reasons = store.execute("SELECT reason FROM quarantine").fetchall()
    assert reasons == [("refunded_amount: 30.0 is more than amount 24.9",)]
    stored = store.execute("SELECT status, amount, refunded_amount, refunded_ts FROM orders")
    assert stored.fetchall() == [("completed", 53.91, 10.0, None)]  # the refund holds from ts
    later = NOW + timedelta(days=3)
    path = write(tmp_path / "orders_export_2.csv", head + first.format("20.00") + rest)
    again = ingest_file(store, "orders", path, mapping=mapping, now=later, lines=True)
    assert (again.accepted, again.updated) == (1, 1)
    row = store.query_df("SELECT refunded_amount, refunded_ts FROM orders").iloc[0]
    assert (row.refunded_amount, row.refunded_ts) == (
        20.0,
        pd.Timestamp(later.replace(tzinfo=None)),
    )
    kept = store.query_df("SELECT refunded_amount, valid_to FROM order_refund_versions")
    assert kept.to_dict("records") == [
        {"refunded_amount": 10.0, "valid_to": pd.Timestamp(later.replace(tzinfo=None))}
    ]
    summary = shop_summary(store)
    assert summary["completed_revenue"] == 33.91
    assert (summary["orders_refunded_in_part"], summary["refunded_in_part"]) == (1, 20.0)
    assert median_order_value(store) == 33.91  # what the customer kept


def test_an_empty_value_in_a_re_export_keeps_what_is_stored(store: Store, tmp_path: Path) -> None:
    """A later export that leaves a refund or a rating empty says nothing of it: the
    stored value stands (no refund is undone, no rating erased), while a value it
    does give is an edit as before."""
    head = "order_id,user_id,ts,amount,status,refunded_amount\n"
    row = "O1,U1,2026-01-05T10:00:00Z,50,completed,{}\n"
    ingest_file(store, "orders", write(tmp_path / "a.csv", head + row.format("10")), now=NOW)
    empty = ingest_file(store, "orders", write(tmp_path / "b.csv", head + row.format("")), now=NOW)
    assert (empty.accepted, empty.updated, empty.duplicates) == (0, 0, 1)
    assert store.execute("SELECT refunded_amount FROM orders").fetchall() == [(10.0,)]
    assert store.count("order_refund_versions") == 0
    more = ingest_file(store, "orders", write(tmp_path / "c.csv", head + row.format("15")), now=NOW)
    assert more.updated == 1
    assert store.execute("SELECT refunded_amount FROM orders").fetchall() == [(15.0,)]
    ingest_file(store, "reviews", write(tmp_path / "r.csv", REVIEW_HEAD + "R1,U1,I1,,2,Slow\n"))
    unrated = write(tmp_path / "s.csv", REVIEW_HEAD + "R1,U1,I1,,,Came at last\n")
    assert ingest_file(store, "reviews", unrated, now=NOW).updated == 1
    assert _reviews(store) == [("R1", 2.0, "Came at last")]


def test_a_shopify_products_export_gives_every_variant_its_products_text(
    store: Store, tmp_path: Path
) -> None:
    """Shopify writes a product's title, description, vendor and type on its first
    variant's row only; without them the other variants would be items without text."""
    path = write(
        tmp_path / "products_export.csv",
        "Handle,Title,Body (HTML),Vendor,Type,Option1 Value,Variant SKU,Variant Price,Image Src\n"
        'shirt,Linen shirt,"<p>Breathable linen.</p>",Acme,Shirts,S,LS-S,39.00,a.jpg\n'
        "shirt,,,,,M,LS-M,39.00,\n"
        "shirt,,,,,L,LS-L,41.00,\n"
        "shirt,,,,,,,,b.jpg\n"  # an image of its own: no variant
        "tea,Green tea 绿茶,<p>龙井</p>,Leaf,Tea,Default Title,TEA-1,12.00,c.jpg\n"
        ",Loose row,,,,,X-1,1.00,\n",  # no group: left as it is
    )
    mapping = {
        "Variant SKU": "item_id",
        "Body (HTML)": "description",
        "Vendor": "brand",
        "Type": "category",
        "Variant Price": "price",
    }
    report = ingest_file(store, "items", path, mapping=mapping, now=NOW, group_by="Handle")
    assert (report.accepted, report.quarantined) == (5, 1)
    items = store.query_df("SELECT * FROM items ORDER BY item_id").set_index("item_id")
    assert items.loc[["LS-L", "LS-M", "LS-S"], "title"].tolist() == ["Linen shirt"] * 3
    # The groups are the products: recommendations show one variant of each.
    assert items.loc[["LS-L", "LS-M", "LS-S", "TEA-1"], "product_id"].tolist() == [
        "shirt",
        "shirt",
        "shirt",
        "tea",
    ]
    assert pd.isna(items.loc["X-1", "product_id"])
    assert items.loc["LS-M", "brand"] == "Acme" and items.loc["LS-L", "category"] == "Shirts"
    assert items.loc["LS-L", "price"] == 41.0  # a variant's own value is kept
    assert json.loads(items.loc["LS-M", "attributes"])["Option1 Value"] == "M"
    assert items.loc["TEA-1", "language"] == "zh" and pd.isna(items.loc["X-1", "brand"])
    # The image row gets no variant's SKU: keys are never filled.
    reasons = store.execute("SELECT line, reason FROM quarantine").fetchall()
    assert reasons == [(5, "missing required field 'item_id'")]
    with pytest.raises(InvalidInputError, match=r"--group-by handle: .* has no column 'handle'"):
        ingest_file(store, "items", path, mapping=mapping, now=NOW, group_by="handle")


def test_an_order_with_a_bad_line_is_quarantined_whole(store: Store, tmp_path: Path) -> None:
    """No order is loaded with a line missing: every line of it is quarantined, saying why."""
    path = write(
        tmp_path / "lines.csv",
        "order_id,user_id,ts,item_id,amount\n"
        "B1,U1,2026-01-02,I1,5\nB1,U1,2026-01-02,I2,-2\n"  # a negative line
        "B2,U2,2026-01-02,I1,5\nB2,U3,2026-01-02,I2,1\n"  # two customers
        "B3,U4,2026-01-02,I1,7\n",
    )
    report = ingest_file(store, "orders", path, now=NOW, lines=True)
    assert (report.lines, report.accepted, report.quarantined) == (5, 1, 4)
    assert report.accepted + report.duplicates + report.quarantined == report.rows
    assert store.query_df("SELECT order_id FROM orders").order_id.tolist() == ["B3"]
    reasons = dict(store.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall())
    assert reasons[2] == "order B1 is loaded only whole: line 3 of this order is invalid"
    assert "amount: must not be negative" in reasons[3]
    assert (
        reasons[4]
        == reasons[5]
        == ("order B2 is loaded only whole: its lines name 2 customers (U2, U3)")
    )


def test_order_lines_of_a_return_carry_its_date(store: Store, tmp_path: Path) -> None:
    """A line export re-sent after a return moves the order on, dated by its
    latest line (the order was returned once all of it was back)."""
    head = "order_id,user_id,ts,item_id,amount,status,returned_at\n"
    sold = write(
        tmp_path / "a.csv",
        head + "B1,U1,2026-01-02,I1,5,completed,\nB1,U1,2026-01-02,I2,1,completed,\n",
    )
    back = write(
        tmp_path / "b.csv",
        head + "B1,U1,2026-01-02,I1,5,returned,2026-01-05\n"
        "B1,U1,2026-01-02,I2,1,returned,2026-01-06\n",
    )
    mapping = {"returned_at": "status_ts"}
    ingest_file(store, "orders", sold, mapping=mapping, now=NOW, lines=True)
    assert ingest_file(store, "orders", back, mapping=mapping, now=NOW, lines=True).updated == 1
    (order,) = store.query_df("SELECT status, status_ts FROM orders").itertuples()
    assert (order.status, order.status_ts) == ("returned", pd.Timestamp("2026-01-06"))


def test_order_lines_need_an_amount_or_a_price(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "lines.csv", "order_id,user_id,ts,item_id\nB1,U1,2026-01-02,I1\n")
    with pytest.raises(InvalidInputError, match="--map COLUMN=amount or --map COLUMN=price"):
        ingest_file(store, "orders", path, now=NOW, lines=True)
    with pytest.raises(InvalidInputError, match="does not apply to events"):
        ingest_file(store, "events", path, now=NOW, lines=True)
    assert store.count("orders") == 0 and store.count("quarantine") == 0


def test_a_systems_own_values_are_mapped_onto_the_vocabulary(store: Store, tmp_path: Path) -> None:
    """Tianchi logs code behaviour 1-4 and time to the hour; a value map and the hour read them."""
    path = write(
        tmp_path / "behaviour.csv",
        "user_id,item_id,behavior_type,time\n"
        "98047837,232431562,1,2014-12-06 02\n"
        "98047837,232431562,3,2014-12-06 03\n"
        "98047837,232431562,4,2014-12-06 04\n"
        "97726136,383583590,5,2014-12-09 20\n",
    )
    codes = {"1": "view", "2": "favorite", "3": "cart", "4": "purchase"}
    report = ingest_file(
        store,
        "events",
        path,
        mapping={"behavior_type": "event_type", "time": "ts"},
        values={"event_type": codes},
        now=NOW,
    )
    assert (report.accepted, report.quarantined) == (3, 1)
    assert report.reasons == {
        "event_type: '5' is not one of: impression, view, click, search, favorite, cart, "
        "remove_from_cart, purchase, return": 1
    }
    stored = store.query_df("SELECT event_type, strftime(ts, '%Y-%m-%d %H:%M') AS ts FROM events")
    assert sorted(zip(stored.event_type, stored.ts, strict=True)) == [
        ("cart", "2014-12-06 03:00"),
        ("purchase", "2014-12-06 04:00"),
        ("view", "2014-12-06 02:00"),
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": {"1": "view"}}, "events has no field 'kind'"),
        ({"user_id": {"1": "view"}}, "user_id takes any value, so there is nothing to map"),
        ({"event_type": {"1": "look"}}, "'look' is not one of: impression, view"),
    ],
)
def test_a_value_map_that_cannot_apply_is_refused_before_writing(
    store: Store, tmp_path: Path, values: dict[str, dict[str, str]], message: str
) -> None:
    path = write(tmp_path / "e.csv", HEADER + "a,u,i,view,2026-01-05,,\n")
    with pytest.raises(InvalidInputError, match=message):
        ingest_file(store, "events", path, values=values, now=NOW)
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


def test_shop_systems_order_statuses_are_understood(store: Store, tmp_path: Path) -> None:
    """Magento's 'canceled', Olist's 'delivered', WooCommerce's 'processing' mean ours."""
    path = write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,amount,status\n"
        "o1,u1,2026-01-02,10,delivered\no2,u1,2026-01-03,10,Canceled\n"
        "o3,u2,2026-01-04,10,processing\no4,u2,2026-01-05,10,shipped\n"
        "o5,u3,2026-01-06,10,unavailable\no6,u3,2026-01-07,10,sent\n"
        "o7,u4,2026-01-08,10,partially_refunded\no8,u4,2026-01-09,10,partially_paid\n",
    )
    report = ingest_file(store, "orders", path, values={"status": {"Sent": "completed"}}, now=NOW)
    assert (report.accepted, report.quarantined) == (7, 1)  # unavailable: say what it is
    stored = dict(store.execute("SELECT order_id, status FROM orders").fetchall())
    assert stored == {
        "o1": "completed",
        "o2": "cancelled",
        "o3": "pending",
        "o4": "completed",
        "o6": "completed",
        "o7": "completed",  # Shopify: part came back, the purchase stands
        "o8": "pending",  # Shopify: a deposit paid
    }
    lines = write(
        tmp_path / "lines.csv",
        "order_id,user_id,ts,item_id,quantity,price,status\n"
        "B1,U1,2026-01-02T10:00:00Z,I1,2,1.25,canceled\nB1,U1,2026-01-02T10:00:00Z,I2,1,3,canceled\n",
    )
    assert ingest_file(store, "orders", lines, now=NOW, lines=True).accepted == 1
    assert store.execute("SELECT status FROM orders WHERE order_id = 'B1'").fetchall() == [
        ("cancelled",)
    ]
