"""A seeded, realistic small shop for ``make run``, the tests and the docs.

What is simulated, so a reader can judge it:

* **Catalogue** — items in 8 categories, titled and described in Chinese or
  English, with a brand, a log-normal price, a hidden quality and a
  popularity that follows a Zipf law.
* **Users** — each signs up on a day of the window, up to its last
  (acquisition cohorts), prefers a few categories (a Dirichlet taste),
  visits with a personal mean gap between visits, and after each visit
  leaves for good with a personal churn probability. 80% accept marketing
  (``marketing_consent`` yes); campaigns give the rest no coupon or message.
* **Funnel** — a visit views a few items picked by taste x popularity; an
  item goes to the cart more often when it matches the taste, and a cart
  item is bought about half the time. Consumables (skincare, snacks, ...)
  bring users back around their repurchase cycle.
* **Experience** — some orders arrive late or faulty (more often for low-
  quality items); 40% of those are returned 4-25 days later (dated in
  ``status_ts``, so features read the order as it stood on their cutoff;
  a return due after the window's end has not happened yet), and 3% of
  orders are cancelled within 36 hours. A bad order lowers the review
  rating, may open a support conversation and doubles the user's churn
  probability. A good first order lowers it: the retention effect Retain
  exists to exploit.
* **Reviews** (about a third of delivered orders) praise or blame aspects —
  quality, price, delivery, packaging, service, size — consistent with the
  rating, in the user's language. **KB articles** exist in both languages.

Files written: ``items.csv``, ``users.csv``, ``events.csv``,
``orders.jsonl``, ``reviews.csv``, ``conversations.jsonl``, ``kb.jsonl`` and
``manifest.json`` (seed, window and counts) — ordinary inputs for
``retain ingest``, so the demo exercises the same path as a real shop.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from retain.demo.catalogue import ASPECT_PHRASES, CATEGORIES, KB_ARTICLES, Category

__all__ = ["DEMO_FILES", "DemoManifest", "generate_demo_shop", "kb_rows", "kb_table"]

#: file name -> table it loads into, in load order.
DEMO_FILES: dict[str, str] = {
    "items.csv": "items",
    "users.csv": "users",
    "events.csv": "events",
    "orders.jsonl": "orders",
    "reviews.csv": "reviews",
    "conversations.jsonl": "conversations",
    "kb.jsonl": "kb_articles",
}


@dataclass
class DemoManifest:
    """How a demo shop was made and what it holds."""

    seed: int
    start: str
    end: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Item:
    item_id: str
    cat: Category
    lang: str
    title: str
    description: str
    brand: str
    price: float
    quality: float
    available: bool


@dataclass
class _Rows:
    events: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)


def generate_demo_shop(
    out_dir: str | Path,
    *,
    seed: int = 7,
    n_users: int = 1500,
    n_items: int = 240,
    days: int = 180,
    end: datetime | None = None,
) -> DemoManifest:
    """Write a demo shop into ``out_dir`` and return its manifest.

    Args:
        out_dir: Created if missing; existing demo files are overwritten.
        seed: Same seed and ``end`` give byte-identical files.
        n_users: Customers who sign up over the window.
        n_items: Catalogue size.
        days: Length of the window, ending at ``end``.
        end: Last moment of the window; defaults to the start of today (UTC)
            so that no timestamp lies in the future.
    """
    if n_users < 1 or n_items < len(CATEGORIES) or days < 1:
        raise ValueError(
            f"need n_users >= 1, n_items >= {len(CATEGORIES)} and days >= 1; "
            f"got {n_users}, {n_items}, {days}"
        )
    rng = np.random.default_rng(seed)
    end_ts = (
        (end or datetime.now(UTC))
        .astimezone(UTC)
        .replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    )
    start_ts = end_ts - timedelta(days=days)
    items = _catalogue(rng, n_items)
    users, rows = _simulate(rng, items, n_users, start_ts, end_ts)
    _record_consent(users, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "items.csv", [_item_row(i) for i in items])
    _write_csv(out / "users.csv", users)
    _write_csv(out / "events.csv", rows.events)
    _write_jsonl(out / "orders.jsonl", rows.orders)
    _write_csv(out / "reviews.csv", rows.reviews)
    _write_jsonl(out / "conversations.jsonl", rows.turns)
    kb = kb_rows()
    _write_jsonl(out / "kb.jsonl", kb)
    manifest = DemoManifest(
        seed=seed,
        start=start_ts.isoformat(),
        end=end_ts.isoformat(),
        counts={
            "items": len(items),
            "users": len(users),
            "events": len(rows.events),
            "orders": len(rows.orders),
            "reviews": len(rows.reviews),
            "conversations": len(rows.turns),
            "kb_articles": len(kb),
        },
    )
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _catalogue(rng: np.random.Generator, n_items: int) -> list[_Item]:
    items = []
    for i in range(n_items):
        cat = CATEGORIES[i % len(CATEGORIES)]
        noun_zh, noun_en = cat.nouns[rng.integers(len(cat.nouns))]
        adj_zh, adj_en = cat.adjectives[rng.integers(len(cat.adjectives))]
        brand = cat.brands[rng.integers(len(cat.brands))]
        lo, hi = cat.price
        price = float(np.clip(np.exp(rng.normal(np.log((lo * hi) ** 0.5), 0.45)), lo, hi))
        lang = "zh" if rng.random() < 0.55 else "en"
        model = f"{chr(65 + i % 26)}{i:03d}"
        if lang == "zh":
            title = f"{brand}{adj_zh}{noun_zh} {model}"
            description = (
                f"{brand}出品的{adj_zh}{noun_zh}，适合日常使用。属于{cat.zh}类商品，"
                f"{'可定期回购。' if cat.cycle_days else '经久耐用。'}"
            )
        else:
            title = f"{brand} {adj_en.capitalize()} {noun_en.title()} {model}"
            description = (
                f"A {adj_en} {noun_en} by {brand} for everyday use, from our {cat.en.lower()} range. "
                f"{'Stock up and reorder any time.' if cat.cycle_days else 'Built to last.'}"
            )
        items.append(
            _Item(
                item_id=f"I{i + 1:05d}",
                cat=cat,
                lang=lang,
                title=title,
                description=description,
                brand=brand,
                price=round(price, 2),
                quality=float(rng.beta(6, 2)),
                available=bool(rng.random() > 0.05),
            )
        )
    return items


#: Share of the demo's customers who accept marketing at sign-up (the rest declined).
MARKETING_OPT_IN = 0.8


def _record_consent(users: list[dict[str, Any]], seed: int) -> None:
    """Whether each customer accepts marketing, as a shop's profile export says it
    (``yes``/``no``). Drawn from a stream of its own, so the rest of the shop is
    the same as before consent was recorded; campaigns leave the noes out."""
    accepts = np.random.default_rng((seed, 1)).random(len(users)) < MARKETING_OPT_IN
    for user, yes in zip(users, accepts, strict=True):
        user["marketing_consent"] = "yes" if yes else "no"


def _simulate(
    rng: np.random.Generator,
    items: list[_Item],
    n_users: int,
    start: datetime,
    end: datetime,
) -> tuple[list[dict[str, Any]], _Rows]:
    rows = _Rows()
    users: list[dict[str, Any]] = []
    cat_index = {c.key: k for k, c in enumerate(CATEGORIES)}
    by_cat = [[it for it in items if cat_index[it.cat.key] == k] for k in range(len(CATEGORIES))]
    popularity = [np.array([1.0 / (r + 1) ** 0.9 for r in range(len(g))]) for g in by_cat]
    window = (end - start).total_seconds()
    for u in range(n_users):
        user_id = f"U{u + 1:05d}"
        signup = start + timedelta(seconds=float(rng.random() * window))
        lang = "zh" if rng.random() < 0.6 else "en"
        channel = str(rng.choice(["organic", "ads", "social", "referral"], p=[0.4, 0.3, 0.2, 0.1]))
        users.append(
            {
                "user_id": user_id,
                "first_seen": signup.isoformat(timespec="seconds"),
                "attributes": json.dumps({"language": lang, "channel": channel}),
            }
        )
        taste = rng.dirichlet(np.full(len(CATEGORIES), 0.4))
        state = {
            "gap": float(rng.gamma(2.0, 6.0)),
            "churn": float(rng.beta(3, 4)) * (1.3 if channel == "ads" else 1.0),
            "orders": 0,
        }
        t = signup
        visit = 0
        while t < end:
            visit += 1
            session = f"S{u + 1:05d}-{visit:03d}"
            bought = _visit(rng, rows, user_id, session, t, taste, by_cat, popularity, end)
            if bought:
                _after_order(rng, rows, user_id, lang, bought, state, t, end)
            if rng.random() < state["churn"]:
                break
            gap = rng.exponential(state["gap"])
            if bought and bought[0].cat.cycle_days:
                gap = min(gap, abs(rng.normal(bought[0].cat.cycle_days, 5)))
            t = t + timedelta(days=float(gap) + 0.01)
    return users, rows


def _visit(
    rng: np.random.Generator,
    rows: _Rows,
    user_id: str,
    session: str,
    t: datetime,
    taste: np.ndarray,
    by_cat: list[list[_Item]],
    popularity: list[np.ndarray],
    end: datetime,
) -> list[_Item]:
    """One session of views, carts and purchases; returns what was bought."""
    clock = t
    bought: list[_Item] = []
    for _ in range(1 + int(rng.poisson(3))):
        k = int(rng.choice(len(by_cat), p=taste))
        weights = popularity[k] / popularity[k].sum()
        item = by_cat[k][int(rng.choice(len(by_cat[k]), p=weights))]
        clock += timedelta(seconds=float(rng.integers(5, 240)))
        if clock >= end:
            break
        _event(rows, user_id, item, "view", clock, session)
        if not item.available:
            continue
        if rng.random() < 0.15 + 0.6 * taste[k]:
            clock += timedelta(seconds=float(rng.integers(5, 120)))
            _event(rows, user_id, item, "cart", clock, session)
            if rng.random() < 0.5 and clock < end:
                clock += timedelta(seconds=float(rng.integers(30, 600)))
                if clock < end:
                    _event(rows, user_id, item, "purchase", clock, session)
                    bought.append(item)
    return bought


def _utc(moment: datetime) -> str:
    """A (naive UTC) moment as the files write it: ISO 8601 to the second, with Z."""
    return moment.isoformat(timespec="seconds") + "Z"


def _event(rows: _Rows, user_id: str, item: _Item, kind: str, ts: datetime, session: str) -> None:
    rows.events.append(
        {
            "event_id": f"E{len(rows.events) + 1:07d}",
            "user_id": user_id,
            "item_id": item.item_id,
            "event_type": kind,
            "ts": _utc(ts),
            "value": item.price,
            "session_id": session,
        }
    )


def _after_order(
    rng: np.random.Generator,
    rows: _Rows,
    user_id: str,
    lang: str,
    basket: list[_Item],
    state: dict[str, Any],
    t: datetime,
    end: datetime,
) -> None:
    """One order for a visit's basket, its fate, reviews, a support chat; updates churn."""
    quantities = [1 + int(rng.random() < 0.2) for _ in basket]
    order_id = f"O{len(rows.orders) + 1:06d}"
    worst = min(item.quality for item in basket)
    bad = rng.random() < 0.08 + 0.25 * (1 - worst)
    status, status_ts = "completed", None
    if rng.random() < 0.03:
        status, status_ts = "cancelled", t + timedelta(hours=float(rng.uniform(1, 36)))
    elif bad and rng.random() < 0.4:
        status, status_ts = "returned", t + timedelta(days=float(rng.uniform(4, 25)))
    if status_ts is not None and status_ts >= end:
        # Not cancelled or returned yet when the export was made.
        status, status_ts = ("pending" if status == "cancelled" else "completed"), None
    rows.orders.append(
        {
            "order_id": order_id,
            "user_id": user_id,
            "ts": _utc(t),
            "amount": round(sum(i.price * q for i, q in zip(basket, quantities, strict=True)), 2),
            "num_items": sum(quantities),
            "status": status,
            "status_ts": None if status_ts is None else _utc(status_ts),
            "items": [
                {"item_id": i.item_id, "quantity": q, "price": i.price}
                for i, q in zip(basket, quantities, strict=True)
            ],
        }
    )
    state["orders"] += 1
    if bad:
        state["churn"] = min(0.95, state["churn"] * 2.0)
    elif state["orders"] == 1:
        state["churn"] *= 0.6
    review_at = t + timedelta(days=float(rng.uniform(2, 9)))
    if status != "cancelled" and review_at < end:
        for item in basket:
            if rng.random() < 0.35:
                rows.reviews.append(
                    _review(rng, user_id, lang, item, bad, review_at, len(rows.reviews))
                )
    if bad and review_at < end and rng.random() < 0.5:
        _conversation(rng, rows, user_id, lang, order_id, review_at)


def _review(
    rng: np.random.Generator, user_id: str, lang: str, item: _Item, bad: bool, ts: datetime, n: int
) -> dict[str, Any]:
    if bad:
        rating = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    else:
        rating = int(np.clip(round(3 + 2.2 * item.quality + rng.normal(0, 0.6)), 1, 5))
    aspects = ["quality", "price", "delivery", "packaging", "service"]
    if item.cat.key in ("clothing", "sports"):
        aspects.append("size")
    chosen = rng.choice(aspects, size=int(rng.integers(1, 3)), replace=False)
    polarity = "pos" if rating >= 4 else "neg"
    parts = []
    for aspect in chosen:
        if rating == 3:
            polarity = "pos" if rng.random() < 0.5 else "neg"
        zh, en = ASPECT_PHRASES[(str(aspect), polarity)]
        options = zh if lang == "zh" else en
        parts.append(options[int(rng.integers(len(options)))])
    text = ("，".join(parts) + "。") if lang == "zh" else (". ".join(parts) + ".")
    return {
        "review_id": f"R{n + 1:06d}",
        "user_id": user_id,
        "item_id": item.item_id,
        "ts": _utc(ts),
        "rating": rating,
        "text": text,
        "language": lang,
    }


_CHATS = {
    "zh": (
        (
            "我的订单{order}怎么还没到？",
            "很抱歉让您久等了，订单{order}正在配送中，预计两天内送达。",
        ),
        (
            "订单{order}的商品有问题，我想退货。",
            "非常抱歉，签收后30天内可以申请退货，我已为您登记订单{order}的退货申请。",
        ),
        ("我要投诉，东西坏了！", "非常抱歉给您带来不好的体验，我马上为您转接人工客服。"),
    ),
    "en": (
        (
            "Where is my order {order}? It still has not arrived.",
            "Sorry for the wait. Order {order} is on its way and should arrive within two days.",
        ),
        (
            "The item in order {order} is faulty, I want to return it.",
            "Sorry about that. Returns are accepted within 30 days of delivery; I have started a return for order {order}.",
        ),
        (
            "This is unacceptable, it arrived broken!",
            "I am very sorry. Let me connect you with a member of our team right away.",
        ),
    ),
}


def _conversation(
    rng: np.random.Generator, rows: _Rows, user_id: str, lang: str, order_id: str, ts: datetime
) -> None:
    conv = f"C{order_id[1:]}"
    question, answer = _CHATS[lang][int(rng.integers(len(_CHATS[lang])))]
    for turn, (role, text) in enumerate((("customer", question), ("agent", answer))):
        rows.turns.append(
            {
                "conversation_id": conv,
                "turn": turn,
                "user_id": user_id,
                "role": role,
                "text": text.format(order=order_id),
                "ts": _utc(ts + timedelta(minutes=turn)),
                "language": lang,
            }
        )


def _item_row(item: _Item) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "title": item.title,
        "description": item.description,
        "category": item.cat.key,
        "brand": item.brand,
        "price": item.price,
        "available": str(item.available).lower(),
        "language": item.lang,
        "attributes": json.dumps(
            {"category_zh": item.cat.zh, "category_en": item.cat.en}, ensure_ascii=False
        ),
    }


def kb_rows() -> list[dict[str, Any]]:
    """The demo knowledge base: every article in Chinese and in English."""
    out = []
    for key, (zh_title, zh_body, en_title, en_body, tags) in KB_ARTICLES.items():
        out.append(
            {
                "article_id": f"kb-{key}-zh",
                "title": zh_title,
                "body": zh_body,
                "language": "zh",
                "tags": list(tags),
            }
        )
        out.append(
            {
                "article_id": f"kb-{key}-en",
                "title": en_title,
                "body": en_body,
                "language": "en",
                "tags": list(tags),
            }
        )
    return out


def kb_table() -> pa.Table:
    """The demo knowledge base ready for ``ingest_arrow`` into ``kb_articles`` (tags as JSON)."""
    return pa.Table.from_pylist([{**row, "tags": json.dumps(row["tags"])} for row in kb_rows()])


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        if not rows:
            handle.write("")
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
