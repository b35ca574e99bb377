"""Loaders for public formats, on slices of the shared datasets and on small fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retain.data import Store, ingest_arrow, ingest_file
from retain.data.loaders import (
    FORMATS,
    read_cdnow,
    read_faq,
    read_intents,
    read_item_attributes,
    read_online_retail,
    read_online_retail_customers,
    read_online_retail_items,
    read_review_csv,
    read_sequences,
)
from retain.data.loaders.ecd import read_ecd_turns
from retain.data.schemas import get_schema
from retain.data.summary import shop_summary
from retain.errors import InvalidInputError
from tests.conftest import write


def _head(src: Path, dst: Path, lines: int) -> Path:
    with src.open(encoding="utf-8") as f:
        dst.write_text("".join(next(f) for _ in range(lines)), encoding="utf-8")
    return dst


def test_amazon_sequences_keep_order_per_user(
    shared_data: Path, tmp_path: Path, store: Store
) -> None:
    path = _head(shared_data / "amazon-beauty" / "Beauty.txt", tmp_path / "Beauty.txt", 50)
    table = read_sequences(path)
    first_line = (shared_data / "amazon-beauty" / "Beauty.txt").open().readline().split()
    user0 = table.filter(table.column("user_id").to_numpy(zero_copy_only=False) == first_line[0])
    assert user0.column("item_id").to_pylist() == first_line[1:]
    report = ingest_arrow(store, "events", table, source=str(path))
    assert report.accepted == table.num_rows and report.quarantined == 0
    ordered = store.execute(
        "SELECT item_id FROM events WHERE user_id = ? ORDER BY ts", [first_line[0]]
    ).fetchall()
    assert [r[0] for r in ordered] == first_line[1:]


def test_amazon_item_attributes_with_names(shared_data: Path, store: Store) -> None:
    items = read_item_attributes(shared_data / "amazon-beauty" / "Beauty_item2attributes.json")
    assert items.num_rows == 12101
    row = {k: v[0] for k, v in items.slice(0, 1).to_pydict().items()}
    assert row["title"] and "attribute_ids" in json.loads(row["attributes"])
    brands = set(items.column("brand").to_pylist()) - {None}
    assert "OPI" in brands and "Makeup" not in brands and "Skin Care" not in brands
    assert ingest_arrow(store, "items", items, source="beauty").accepted == 12101


def test_cdnow_master_and_sample_layouts(shared_data: Path, store: Store) -> None:
    master = read_cdnow(shared_data / "cdnow" / "CDNOW_master.txt")
    sample = read_cdnow(shared_data / "cdnow" / "CDNOW_sample.txt")
    assert master.num_rows == 69659 and sample.num_rows == 6919
    assert len(set(master.column("user_id").to_pylist())) == 23570
    assert len(set(sample.column("user_id").to_pylist())) == 2357
    report = ingest_arrow(store, "orders", sample, source="sample")
    assert report.accepted == 6919
    first = store.execute(
        "SELECT user_id, ts, num_items, amount FROM orders ORDER BY ts, user_id LIMIT 1"
    ).fetchall()[0]
    assert first[1].year == 1997 and first[1].month == 1


def test_cdnow_rejects_a_malformed_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.txt", "00001 19970101 1 11.77\n00002 19970112\n")
    with pytest.raises(InvalidInputError, match=r"c.txt:2: expected 'customer date cds dollars'"):
        read_cdnow(path)


def test_review_csv_with_and_without_category(
    shared_data: Path, tmp_path: Path, store: Store
) -> None:
    path = _head(
        shared_data / "chinese-reviews" / "online_shopping_10_cats.csv", tmp_path / "r.csv", 300
    )
    table = read_review_csv(path)
    assert set(table.column_names) == {"text", "label", "category", "_line"}
    report = ingest_arrow(store, "reviews", table, source=str(path))
    assert report.accepted + report.quarantined == table.num_rows
    assert (
        store.execute("SELECT count(*) FROM reviews WHERE language = 'zh'").fetchall()[0][0] > 250
    )
    plain = write(tmp_path / "p.csv", 'label,review\n1,Great product\n0,"Broke, sadly"\n')
    assert read_review_csv(plain).column("text").to_pylist() == ["Great product", "Broke, sadly"]
    with pytest.raises(InvalidInputError, match="expected columns label and review"):
        read_review_csv(write(tmp_path / "x.csv", "a,b\n1,2\n"))


def test_a_review_csv_saved_by_a_chinese_excel_names_its_encoding(tmp_path: Path) -> None:
    text = "cat,label,review\n书籍,1,很好看的书\n书籍,0,太差了，不推荐\n"
    path = write(tmp_path / "r.csv", text.encode("gb18030"))
    hint = r"\(the file reads as gb18030: pass --encoding gb18030\)"
    with pytest.raises(InvalidInputError, match=hint):
        read_review_csv(path)
    read = read_review_csv(path, encoding="gb18030")
    assert read.column("text").to_pylist() == ["很好看的书", "太差了，不推荐"]
    with pytest.raises(InvalidInputError, match="unknown encoding 'gb-what'"):
        read_review_csv(path, encoding="gb-what")
    # A FAQ sheet from the same Excel, in both layouts.
    sheet = write(tmp_path / "faq.csv", "question,answer\n可以开发票吗？,可以\n".encode("gb18030"))
    assert read_faq(sheet, encoding="gb18030").column("title").to_pylist() == ["可以开发票吗？"]
    listed = write(tmp_path / "faq.json", '[{"question": "退货？", "answer": "7天"}]'.encode("gbk"))
    assert read_faq(listed, encoding="gbk").column("body").to_pylist() == ["7天"]


def test_banking77_csv_intents(shared_data: Path) -> None:
    data = read_intents(
        shared_data / "banking77" / "train.csv", test=shared_data / "banking77" / "test.csv"
    )
    assert (len(data.train), len(data.test), len(data.intents)) == (10003, 3080, 77)
    assert not data.has_oos


def test_bitext_layout_reads_utterance_and_intent(tmp_path: Path) -> None:
    # Bitext's CSV: the fine intent is "intent"; "category" is its coarse group.
    path = write(
        tmp_path / "b.csv",
        "\ufeffflags,utterance,category,intent\n"
        "BL,where is my parcel,ORDER,track_order\nBQ,delete my account,ACCOUNT,delete_account\n",
    )
    assert read_intents(path).train == [
        ("where is my parcel", "track_order"),
        ("delete my account", "delete_account"),
    ]
    bad = write(tmp_path / "e.csv", "flags,utterance,category,intent\nB,,ORDER,track_order\n")
    with pytest.raises(InvalidInputError, match=r"e\.csv:2: empty utterance or intent"):
        read_intents(bad)
    with pytest.raises(InvalidInputError, match="expected columns text and category"):
        read_intents(write(tmp_path / "n.csv", "question,answer\nq,a\n"))


def test_json_intents_with_out_of_scope(tmp_path: Path) -> None:
    doc = {
        "train": [["where is my parcel", "track_order"], ["refund please", "refund"]],
        "val": [["track it", "track_order"]],
        "test": [["my money back", "refund"]],
        "oos_train": [["what is the weather", "oos"]],
        "oos_test": [["tell me a joke", "oos"]],
    }
    data = read_intents(write(tmp_path / "i.json", json.dumps(doc)))
    assert data.intents == ["refund", "track_order"] and data.has_oos
    assert data.oos_test == [("tell me a joke", "oos")]
    doc["train"].append(["", "refund"])
    with pytest.raises(InvalidInputError, match=r"train\[2\] must be \[text, intent\]"):
        read_intents(write(tmp_path / "bad.json", json.dumps(doc)))
    with pytest.raises(InvalidInputError, match="unknown split"):
        read_intents(write(tmp_path / "s.json", json.dumps({"train": doc["train"], "dev": []})))


def test_every_public_format_names_a_canonical_table() -> None:
    for public in FORMATS.values():
        assert get_schema(public.table).name == public.table, public.name


def test_public_faq_becomes_question_titled_articles(shared_data: Path, store: Store) -> None:
    path = shared_data / "ecommerce-faq" / "Ecommerce_FAQ_Chatbot_dataset.json"
    report = ingest_arrow(store, "kb_articles", read_faq(path), source=str(path))
    assert (report.accepted, report.quarantined) == (79, 0)
    rows = store.execute(
        "SELECT title, language, tags FROM kb_articles WHERE title = 'Can I cancel my order?'"
    ).fetchall()
    assert rows == [("Can I cancel my order?", "en", '["faq"]')]


def test_faq_json_and_csv_layouts_with_stable_ids(tmp_path: Path, store: Store) -> None:
    pairs = [
        {"question": "Do you ship abroad?", "answer": "Yes, to 30 countries."},
        {"question": "可以开发票吗？", "answer": "可以，在订单页面申请电子发票。"},
    ]
    wrapped = write(tmp_path / "faq.json", json.dumps({"questions": pairs}, ensure_ascii=False))
    bare = write(tmp_path / "list.json", json.dumps(pairs[::-1], ensure_ascii=False))
    sheet = write(
        tmp_path / "faq.csv",
        'Question,Answer\n"do you  ship ABROAD?","Yes, to 31 countries."\n',
    )
    first, reordered, edited = read_faq(wrapped), read_faq(bare), read_faq(sheet)
    ids = first.column("article_id").to_pylist()
    assert reordered.column("article_id").to_pylist() == ids[::-1]
    # Case and spacing do not make a new question: the edit replaces the answer.
    assert edited.column("article_id").to_pylist() == ids[:1]
    ingest_arrow(store, "kb_articles", first, source="faq.json")
    ingest_arrow(store, "kb_articles", edited, source="faq.csv")
    rows = store.execute("SELECT body, language FROM kb_articles ORDER BY language").fetchall()
    assert rows == [("Yes, to 31 countries.", "en"), ("可以，在订单页面申请电子发票。", "zh")]


def test_faq_errors_name_the_entry(tmp_path: Path, store: Store) -> None:
    def faq(name: str, value: object) -> Path:
        return write(tmp_path / name, json.dumps(value))

    with pytest.raises(InvalidInputError, match="entry 2 is not an object with 'question'"):
        read_faq(faq("a.json", [{"question": "q?", "answer": "a"}, {"question": "only"}]))
    with pytest.raises(InvalidInputError, match="occurs at entry 1 and at entry 3"):
        read_faq(faq("b.json", [{"question": f"q{i % 2}?", "answer": str(i)} for i in range(3)]))
    with pytest.raises(InvalidInputError, match="got keys 'data'"):
        read_faq(faq("c.json", {"data": []}))
    with pytest.raises(InvalidInputError, match="not valid UTF-8 JSON"):
        read_faq(write(tmp_path / "d.json", b"\xff{"))
    with pytest.raises(InvalidInputError, match="expected columns question and answer"):
        read_faq(write(tmp_path / "e.csv", "title,body\nx,y\n"))
    # An empty answer is parsed and then quarantined by ingestion with its entry number.
    entries = [{"question": "Ok?", "answer": "Yes."}, {"question": "Hm?", "answer": ""}]
    blank = faq("f.json", entries)
    report = ingest_arrow(store, "kb_articles", read_faq(blank), source=str(blank))
    assert (report.accepted, report.quarantined) == (1, 1)
    assert store.execute("SELECT line FROM quarantine").fetchall() == [(2,)]


def test_online_retail_invoices_become_orders_with_explicit_returns(
    tmp_path: Path, store: Store
) -> None:
    path = write(
        tmp_path / "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536365,71053,LANTERN,2,2010-12-01 08:26:00,3.50,17850,United Kingdom\n"
        "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850,United Kingdom\n"
        "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527,United Kingdom\n"
        "536414,22139,RETROSPOT TEA SET,56,2010-12-01 11:52:00,0.00,,United Kingdom\n"
        "536500,22000,DAMAGED,-4,2010-12-02 10:00:00,1.25,12345,France\n",
    )
    orders = read_online_retail(path)
    rows = {r["order_id"]: r for r in orders.to_pylist()}
    assert rows["retail-536365"]["amount"] == "40.3"  # 6 x 2.55 + 2 x 3.50 + 18 postage
    assert rows["retail-536365"]["num_items"] == "8" and rows["retail-536365"]["_line"] == 2
    # Postage is paid, but it is no item: a recommender must never learn to offer it.
    assert json.loads(rows["retail-536365"]["items"]) == [
        {"item_id": "85123A", "quantity": 6, "price": 2.55},
        {"item_id": "71053", "quantity": 2, "price": 3.5},
    ]  # fmt: skip
    assert json.loads(rows["retail-C536379"]["items"]) == []
    assert rows["retail-C536379"]["status"] == "cancelled"
    assert rows["retail-C536379"]["amount"] == "27.5"  # never negative
    assert rows["retail-536500"]["status"] == "returned"
    report = ingest_arrow(store, "orders", orders, source=str(path), format="online-retail")
    assert (report.accepted, report.quarantined) == (3, 1)
    assert report.reasons == {"missing required field 'user_id'": 1}


def test_a_credit_note_refunds_the_invoice_it_reverses_whole_or_in_part(
    tmp_path: Path, store: Store
) -> None:
    """Customer 16446 ordered 80,995 bird ornaments and was credited for all of them 12
    minutes later: that order is no purchase. A credit for part of an order is that
    order's refunded amount; one for goods the customer no longer holds stays its own."""
    path = write(
        tmp_path / "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "581483,23843,PAPER CRAFT LITTLE BIRDIE,80995,2011-12-09 09:15:00,2.08,16446,UK\n"
        "C581484,23843,PAPER CRAFT LITTLE BIRDIE,-80995,2011-12-09 09:27:00,2.08,16446,UK\n"
        "553573,22980,PANTRY SCRUBBING BRUSH,1,2011-05-18 09:52:00,1.65,16446,UK\n"
        "553573,22982,PANTRY PASTRY BRUSH,1,2011-05-18 09:52:00,1.25,16446,UK\n"
        "C553574,22980,PANTRY SCRUBBING BRUSH,-1,2011-05-19 10:00:00,1.65,16446,UK\n"
        "C553575,22980,PANTRY SCRUBBING BRUSH,-1,2011-05-20 10:00:00,1.65,16446,UK\n",
    )
    rows = {r["order_id"]: r for r in read_online_retail(path).to_pylist()}
    assert set(rows) == {"retail-581483", "retail-553573", "retail-C553575"}
    assert rows["retail-581483"]["status"] == "refunded"
    assert rows["retail-581483"]["status_ts"] == "2011-12-09 09:27:00"
    part = rows["retail-553573"]
    assert (part["status"], part["amount"]) == ("completed", "2.9")  # still a purchase
    assert (part["refunded_amount"], part["refunded_ts"]) == ("1.65", "2011-05-19 10:00:00")
    # The one brush was given back already: a second credit for it reverses no sale here.
    assert rows["retail-C553575"]["status"] == "cancelled"
    report = ingest_file(store, "orders", path, format="online-retail")
    assert (report.accepted, report.quarantined) == (3, 0)
    stored = store.execute(
        "SELECT status, strftime(status_ts, '%H:%M') FROM orders WHERE order_id = 'retail-581483'"
    ).fetchall()
    assert stored == [("refunded", "09:27")]
    assert shop_summary(store)["completed_revenue"] == 1.25  # 2.90 less the brush given back


def test_online_retail_products_become_the_catalogue(tmp_path: Path, store: Store) -> None:
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    path = write(
        tmp_path / "retail.csv",
        header + "536365,85123A,HEART HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536366,85123A,?,-3,2010-12-01 09:00:00,0.00,,United Kingdom\n"
        "536367,85123A,HEART HOLDER,2,2010-12-02 10:00:00,2.95,13047,United Kingdom\n"
        "536367,85123A,HEART HOLDER,1,2010-12-02 10:00:00,5.79,,United Kingdom\n"
        "536368,71053,,4,2010-12-02 11:00:00,3.39,13047,United Kingdom\n"
        "536368,POST,POSTAGE,1,2010-12-02 11:00:00,18.00,13047,United Kingdom\n"
        "536369,85123a,HEART HOLDER,1,2010-12-03 11:00:00,6.63,,United Kingdom\n",
    )
    items = {r["item_id"]: r for r in read_online_retail_items(path).to_pylist()}
    # Postage is a charge, not an item; 85123a is 85123A written in lower case.
    assert set(items) == {"85123A", "71053"}
    assert items["85123A"]["title"] == "HEART HOLDER"  # the note "?" is outvoted
    assert items["85123A"]["price"] == pytest.approx(4.37)  # median of 2.55, 2.95, 5.79, 6.63
    assert items["71053"]["title"] is None and items["71053"]["_line"] == 6
    report = ingest_file(store, "items", path, format="online-retail-items")
    assert (report.accepted, report.quarantined) == (2, 0)
    with pytest.raises(InvalidInputError, match="missing columns"):
        read_online_retail_items(
            write(tmp_path / "no-desc.csv", header.replace("Description,", ""))
        )


def test_online_retail_customers_carry_their_country(tmp_path: Path, store: Store) -> None:
    path = write(
        tmp_path / "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536366,71053,LANTERN,2,2010-12-01 09:00:00,3.39,13047,France\n"
        "536367,71053,LANTERN,2,2010-12-05 09:00:00,3.39,13047,France\n"
        "536368,71053,LANTERN,2,2010-12-06 09:00:00,3.39,13047,EIRE\n"
        "536369,71053,LANTERN,1,2010-12-07 09:00:00,3.39,,Germany\n",
    )
    users = {r["user_id"]: r for r in read_online_retail_customers(path).to_pylist()}
    assert set(users) == {"17850", "13047"}  # a line without a customer makes none
    assert json.loads(users["13047"]["attributes"]) == {"country": "France"}  # most of its lines
    assert users["13047"]["first_seen"] == "2010-12-01 09:00:00"
    assert users["13047"]["_line"] == 3
    report = ingest_file(store, "users", path, format="online-retail-customers")
    assert (report.accepted, report.quarantined) == (2, 0)


def test_online_retail_refuses_another_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="not an Online Retail file"):
        read_online_retail(path)


def test_ecd_turns_are_the_customers_distinct_turns(tmp_path: Path) -> None:
    """Customer turns only (every other utterance), each once, segmentation spaces removed."""
    context = "快递 发 哪家\t韵达 哦\t好 的\t嗯 嗯"
    path = write(
        tmp_path / "train.txt",
        f"1\t{context}\t亲 今天 发货\n0\t{context}\t不 知道\n1\t好 的\t好\n\n",
    )
    assert read_ecd_turns(path) == ["快递发哪家", "好的"]
    assert read_ecd_turns(tmp_path) == ["快递发哪家", "好的"]  # a folder: train.txt, test.txt


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2\t你好\t好的\n", "train.txt:1: label must be 0 or 1, got '2'"),
        ("1\t你好\t好的\n1\t只有一句\n", "train.txt:2: expected label, at least one utterance"),
        ("1\t你好\t好的\n".encode("gb18030"), "train.txt: not UTF-8 text"),
    ],
)
def test_bad_ecd_lines_are_named(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = write(tmp_path / "train.txt", text)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_ecd_turns(path)


def test_ecd_needs_its_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"holds neither train\.txt nor test\.txt"):
        read_ecd_turns(tmp_path)
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        read_ecd_turns(tmp_path / "missing.txt")
