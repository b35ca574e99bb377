"""``retain bench popularity``: does time-decayed popularity foresee what sells next?

Popularity is what a visitor without history is shown, so it should follow
what sells now, not what sold last season. Protocol: purchases are the items
of completed orders. At monthly cutoffs (the first day of each month, from
the fourth month of the log to the last whole horizon), :class:`Popularity`
is fitted on the purchases before the cutoff, once per half-life of the grid
and once with all-time counts. The customers who buy in the following
``horizon_days`` are scored: a hit when any item they buy is in the top
``k`` of the list, NDCG@k from the best-placed one; new customers (no
purchase before the cutoff: the cold start popularity serves) and returning
ones apart. The first half of the cutoffs chooses the half-life (best mean
NDCG@k over all customers); the second half reports it, and the shipped
default (``RecommendSettings.popularity_half_life_days``), against
all-time counts, so the figures reported were not used to choose.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from retain.data.store import Store
from retain.errors import InvalidInputError
from retain.predict.bench import load_shop
from retain.recommend.recommender import RecommendSettings
from retain.recommend.sequences import ItemIndex, Sequences, natural_key
from retain.recommend.sources import Popularity

__all__ = ["HALF_LIVES", "purchases", "run_popularity_benchmark", "score_cutoff"]

#: Half-lives tried, in days; None is all-time counts.
HALF_LIVES: tuple[float | None, ...] = (None, 3, 7, 14, 30, 60, 90, 180)


def purchases(store: Store) -> pd.DataFrame:
    """``user_id, item_id, ts`` of every item in a completed order."""
    orders = store.query_df(
        "SELECT user_id, ts, items FROM orders "
        "WHERE coalesce(status, 'completed') = 'completed' AND items IS NOT NULL"
    )
    rows = [
        (user, str(line["item_id"]), ts)
        for user, ts, items in zip(orders.user_id, orders.ts, orders["items"], strict=True)
        for line in json.loads(items)
        if isinstance(line, dict) and line.get("item_id") is not None
    ]
    if not rows:
        raise InvalidInputError("no completed order lists its items (orders.items)")
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def score_cutoff(
    bought: pd.DataFrame,
    items: ItemIndex,
    cutoff: pd.Timestamp,
    *,
    horizon_days: int,
    k: int,
    half_lives: Sequence[float | None] = HALF_LIVES,
) -> dict[str, dict[str, dict[str, float]]]:
    """Hit rate and NDCG@k per half-life, for new, returning and all customers."""
    past = bought[bought.ts < cutoff]
    future = bought[(bought.ts >= cutoff) & (bought.ts < cutoff + pd.Timedelta(days=horizon_days))]
    history = Sequences.from_events(pa.Table.from_pandas(past, preserve_index=False), items)
    known = set(past.user_id)
    code = items.lookup()  # every bought item is in the index
    targets = [
        (user in known, [code[i] for i in set(group)])
        for user, group in future.groupby("user_id").item_id
    ]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for half_life in half_lives:
        source = Popularity(half_life_days=half_life)
        source.fit(history)
        top = np.argsort(-source.counts[1:], kind="stable")[:k] + 1
        place = {int(code): rank for rank, code in enumerate(top)}
        groups: dict[str, list[tuple[float, float]]] = {"new": [], "returning": [], "all": []}
        for returning, codes in targets:
            ranks = [place[c] for c in codes if c in place]
            hit = (1.0, 1.0 / np.log2(min(ranks) + 2)) if ranks else (0.0, 0.0)
            groups["returning" if returning else "new"].append(hit)
            groups["all"].append(hit)
        out[_label(half_life)] = {
            name: {
                f"hr@{k}": float(np.mean([h for h, _ in hits])) if hits else float("nan"),
                f"ndcg@{k}": float(np.mean([n for _, n in hits])) if hits else float("nan"),
                "customers": float(len(hits)),
            }
            for name, hits in groups.items()
        }
    return out


def run_popularity_benchmark(
    data: Path | None,
    *,
    format: str | None = None,
    horizon_days: int = 30,
    k: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate every half-life at monthly cutoffs; choose on the first half, report the second."""
    started = time.perf_counter()
    with Store.open("duckdb://:memory:") as store:
        source, loaded = load_shop(store, data, format, seed)
        bought = purchases(store)
    bought["ts"] = pd.to_datetime(bought.ts)
    items = ItemIndex.from_ids(sorted(set(bought.item_id), key=natural_key))
    cutoffs = _monthly_cutoffs(bought.ts.min(), bought.ts.max(), horizon_days)
    if len(cutoffs) < 2:
        raise InvalidInputError(
            f"the log spans {bought.ts.min():%Y-%m-%d} .. {bought.ts.max():%Y-%m-%d}: too short "
            f"for two monthly cutoffs after three months of history and a {horizon_days}-day "
            "horizon"
        )
    shipped = RecommendSettings().popularity_half_life_days
    grid = tuple(dict.fromkeys([*HALF_LIVES, shipped]))
    per_cutoff = {
        f"{c:%Y-%m-%d}": score_cutoff(
            bought, items, c, horizon_days=horizon_days, k=k, half_lives=grid
        )
        for c in cutoffs
    }
    names = list(per_cutoff)
    choose, report = names[: len(names) // 2], names[len(names) // 2 :]
    metric = f"ndcg@{k}"
    choose_means = {
        h: float(np.mean([per_cutoff[c][_label(h)]["all"][metric] for c in choose]))
        for h in HALF_LIVES
    }
    best = max(HALF_LIVES, key=choose_means.__getitem__)

    def reported(half_life: float | None) -> dict[str, dict[str, float]]:
        """Means over the report cutoffs, per customer group."""
        label = _label(half_life)
        return {
            group: {
                key: float(np.nanmean([per_cutoff[c][label][group][key] for c in report]))
                for key in (f"hr@{k}", metric)
            }
            for group in ("new", "returning", "all")
        }

    chosen, default, all_time = reported(best), reported(shipped), reported(None)

    return {
        "benchmark": "popularity",
        "protocol": __doc__.split("\n\n", 1)[1] if __doc__ else "",
        "data": source,
        "loaded": loaded,
        "purchases": len(bought),
        "horizon_days": horizon_days,
        "k": k,
        "choose_cutoffs": choose,
        "report_cutoffs": report,
        "chosen_half_life_days": best,
        "metrics": chosen["all"],
        "baselines": {"all_time_counts": all_time["all"]},
        "default_half_life_days": shipped,
        "by_group": {"chosen": chosen, "default": default, "all_time_counts": all_time},
        "choose_means": {_label(h): mean for h, mean in choose_means.items()},
        "per_cutoff": per_cutoff,
        "seconds": time.perf_counter() - started,
    }


def _label(half_life: float | None) -> str:
    return "all_time" if half_life is None else f"{half_life:g}d"


def _monthly_cutoffs(
    first: pd.Timestamp, last: pd.Timestamp, horizon_days: int
) -> list[pd.Timestamp]:
    """First days of months, after three months of history, with a whole horizon after them."""
    start = (first + pd.DateOffset(months=3)).to_period("M").to_timestamp()
    if start < first + pd.DateOffset(months=3):
        start += pd.DateOffset(months=1)
    cutoffs = []
    cutoff = pd.Timestamp(start)
    while cutoff + pd.Timedelta(days=horizon_days) <= last:
        cutoffs.append(cutoff)
        cutoff = pd.Timestamp(cutoff + pd.DateOffset(months=1))
    return cutoffs
