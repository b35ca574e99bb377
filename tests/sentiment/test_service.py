"""Scoring a shop's reviews: review_scores, alerts that put valuable customers first,
and aspect summaries per item, category and week."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.demo.shop import kb_table
from retain.errors import InvalidInputError, NotFoundError
from retain.sentiment.service import (
    ALERTS_TABLE,
    SCORES_TABLE,
    aspect_summary,
    build_alerts,
    load_current,
    score_reviews,
    top_alerts,
    train_sentiment,
)
from retain.serve.pages import reviews_page
from tests.sentiment.conftest import phrase_reviews

NOW = dt.datetime(2030, 1, 1)
START = dt.datetime(2025, 3, 3)  # a Monday


def _fill(store: Store, n: int = 240, *, variants: bool = False) -> None:
    texts, labels, languages = phrase_reviews(n, seed=7)
    reviews = {
        "review_id": [f"R{i:04d}" for i in range(n)],
        "user_id": [f"u{i % 20}" for i in range(n)],
        "item_id": [f"I{i % 3 + 1}" for i in range(n)],
        "ts": [(START + dt.timedelta(hours=6 * i)).isoformat() for i in range(n)],
        "rating": [5 if y else 1 for y in labels],
        "text": texts,
        "language": languages,
    }
    ingest_arrow(store, "reviews", pa.table(reviews), source="test-reviews", now=NOW)
    items = {"item_id": ["I1", "I2", "I3"], "category": ["skincare", "sports", "skincare"]}
    if variants:  # I3 is a product sold in two sizes; its reviews name the product
        items = {
            "item_id": ["I1", "I2", "I3-S", "I3-M"],
            "category": ["skincare", "sports", "skincare", "skincare"],
            "product_id": [None, None, "I3", "I3"],
        }
    ingest_arrow(store, "items", pa.table(items), source="test-items", now=NOW)
    ingest_arrow(store, "kb_articles", kb_table(), source="test-kb", now=NOW)


def test_train_scores_every_review_and_raises_alerts_for_recent_negative_ones(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    # u1 is worth the most; u2 is about to leave.
    store.write_table(
        "user_scores",
        pa.table(
            {
                "user_id": [f"u{i}" for i in range(20)],
                "churn_risk": [0.9 if i == 2 else 0.1 for i in range(20)],
                "expected_lifetime_value": [500.0 if i == 1 else 10.0 for i in range(20)],
            }
        ),
    )
    result = train_sentiment(store, tmp_path / "models")
    assert result.reviews == 240 and result.scored == 240 and result.alerts > 0
    scores = store.query_df(f"SELECT * FROM {SCORES_TABLE} ORDER BY review_id")
    assert len(scores) == 240 and set(scores["model_version"]) == {result.version}
    truth = store.query_df("SELECT rating FROM reviews ORDER BY review_id")["rating"] >= 4
    assert ((scores["label"] == 1) == truth).mean() == 1.0
    assert all(isinstance(json.loads(a), list) for a in scores["aspects"])

    alerts = store.query_df(f"SELECT * FROM {ALERTS_TABLE}")
    newest = store.query_df("SELECT max(ts) AS m FROM reviews")["m"][0]
    assert (alerts["ts"] >= newest - dt.timedelta(days=30)).all()
    negative = set(scores.loc[scores["label"] == 0, "review_id"])
    assert set(alerts["review_id"]) <= negative
    shown = top_alerts(store, 50)
    first = shown.iloc[0]
    assert first["priority"] == "high" and first["user_id"] in ("u1", "u2")
    assert any("valuable customer" in r or "at risk" in r for r in json.loads(first["reasons"]))
    assert list(shown["urgency"]) == sorted(shown["urgency"], reverse=True)
    assert all(d for d in shown["draft"])
    # The valuable writer's value reads in the shop's currency where it names one.
    build_alerts(store, load_current(tmp_path / "models"), currency="CNY")
    reasons = [r for rs in top_alerts(store, 50)["reasons"] for r in json.loads(rs)]
    assert "valuable customer (expected value ¥500.00, top 20%)" in reasons

    again = train_sentiment(store, tmp_path / "models")
    assert again.version == result.version  # same data, same model
    assert store.count(SCORES_TABLE) == 240
    assert load_current(tmp_path / "models").meta["reviews"] == 240


def test_a_review_its_writer_edits_to_praise_leaves_the_alerts(
    store: Store, tmp_path: Path
) -> None:
    """The shop answered, the writer edited one star into five: the next scoring
    reads the new words, and the alert goes."""
    _fill(store)
    train_sentiment(store, tmp_path / "models")
    alerted = store.query_df(f"SELECT review_id FROM {ALERTS_TABLE} ORDER BY review_id")
    review_id = alerted.review_id[0]
    praise = store.query_df(
        "SELECT text FROM reviews WHERE rating = 5 AND language = 'en' ORDER BY review_id LIMIT 1"
    ).text[0]
    row = store.query_df("SELECT * FROM reviews WHERE review_id = ?", [review_id]).iloc[0]
    edit = {"review_id": [review_id], "user_id": [row.user_id], "item_id": [row.item_id],
            "ts": [row.ts.isoformat()], "rating": [5], "text": [praise]}  # fmt: skip
    report = ingest_arrow(store, "reviews", pa.table(edit), source="test-edit", now=NOW)
    assert report.updated == 1
    model = load_current(tmp_path / "models")
    (version,) = store.query_df(f"SELECT DISTINCT model_version FROM {SCORES_TABLE}").model_version
    score_reviews(store, model, version)
    build_alerts(store, model)
    assert review_id not in set(store.query_df(f"SELECT review_id FROM {ALERTS_TABLE}").review_id)
    label = store.query_df(f"SELECT label FROM {SCORES_TABLE} WHERE review_id = ?", [review_id])
    assert label.label.tolist() == [1]
    # The reviews page counts it among the complaints turned around.
    page = reviews_page(store)
    assert page["turned_around"] == 1
    assert [(r["review_id"], r["rating_before"], r["rating"]) for r in page["turned"]] == [
        (review_id, 1.0, 5.0)
    ]


def test_a_review_with_nothing_the_model_learned_raises_no_alert(
    store: Store, tmp_path: Path
) -> None:
    """Emoji the shop's reviews never used: stored unlabelled with the reason, no alert."""
    _fill(store)
    extra = {
        "review_id": ["R9999"],
        "user_id": ["u1"],
        "item_id": ["I1"],
        "ts": [(START + dt.timedelta(days=90)).isoformat()],
        "text": ["🦄🦄🦄"],
    }
    ingest_arrow(store, "reviews", pa.table(extra), source="test-emoji", now=NOW)
    train_sentiment(store, tmp_path / "models")
    row = store.query_df(
        f"SELECT label, p_positive, note FROM {SCORES_TABLE} WHERE review_id = 'R9999'"
    )
    assert row["label"].isna().all() and row["p_positive"].isna().all()
    assert "not scored" in row["note"][0]
    assert "R9999" not in set(store.query_df(f"SELECT review_id FROM {ALERTS_TABLE}")["review_id"])


@pytest.mark.parametrize("variants", [False, True])
def test_aspect_summaries_by_item_category_and_week(
    store: Store, tmp_path: Path, variants: bool
) -> None:
    """Reviews that name a product whose variants are the items (as review apps name
    Shopify products) take the product's category."""
    _fill(store, variants=variants)
    with pytest.raises(NotFoundError, match="retain train sentiment"):
        aspect_summary(store, "week")
    train_sentiment(store, tmp_path / "models")
    by_category = aspect_summary(store, "category")
    assert set(by_category["category"]) == {"skincare", "sports"}
    overall = by_category[by_category["aspect"] == "(all)"]
    assert overall["mentions"].sum() == 240
    assert overall.set_index("category")["mentions"].to_dict() == {"skincare": 160, "sports": 80}
    assert ((by_category["negative_share"] >= 0) & (by_category["negative_share"] <= 1)).all()
    weeks = aspect_summary(store, "week", top=2)
    assert weeks.groupby("week").size().max() <= 3
    assert set(aspect_summary(store, "item")["item"]) == {"I1", "I2", "I3"}
    with pytest.raises(InvalidInputError, match="choose one of: item, category, week"):
        aspect_summary(store, "brand")


def test_a_store_without_both_polarities_says_what_training_needs(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="no reviews"):
        train_sentiment(store, tmp_path / "models")
    table = {"review_id": ["a", "b"], "rating": [5, 4], "text": ["great", "good"]}
    ingest_arrow(store, "reviews", pa.table(table), source="t", now=NOW)
    with pytest.raises(InvalidInputError, match="rating of 1-2 and 4-5"):
        train_sentiment(store, tmp_path / "models")


def test_a_shop_whose_reviews_are_all_praise_still_learns_what_a_complaint_is(
    store: Store, tmp_path: Path
) -> None:
    """A new shop's first reviews are often all four and five stars; the general
    Chinese reviews hold the complaints its own do not, so it gets a model and
    the first bad review raises an alert."""
    texts, labels, languages = phrase_reviews(200, seed=8)
    praise = [
        i for i, (y, lang) in enumerate(zip(labels, languages, strict=True)) if y and lang == "zh"
    ]
    reviews = {
        "review_id": [f"R{i:04d}" for i in praise],
        "user_id": [f"u{i % 20}" for i in praise],
        "ts": [(NOW - dt.timedelta(days=60, hours=i)).isoformat() for i in praise],
        "rating": [5] * len(praise),
        "text": [texts[i] for i in praise],
    }
    ingest_arrow(store, "reviews", pa.table(reviews), source="test-reviews", now=NOW)
    complaint = {
        "review_id": ["R9999"],
        "user_id": ["u1"],
        "ts": [(NOW - dt.timedelta(days=1)).isoformat()],
        "text": ["质量太差了，用了一次就坏了，要求退货"],
    }
    ingest_arrow(store, "reviews", pa.table(complaint), source="test-complaint", now=NOW)
    result = train_sentiment(store, tmp_path / "models")
    assert result.positive_share == 1.0 and result.reviews == len(praise)
    row = store.query_df(f"SELECT label FROM {SCORES_TABLE} WHERE review_id = 'R9999'")
    assert row["label"].tolist() == [0]
    assert "R9999" in set(store.query_df(f"SELECT review_id FROM {ALERTS_TABLE}")["review_id"])
