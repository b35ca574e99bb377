"""Plain-words reasons for a customer's churn risk.

The repurchase model's per-feature contributions (LightGBM's exact TreeSHAP,
``pred_contrib=True``) say which features pushed one customer's probability
down; each such feature has a sentence template filled with that customer's
own value, so a shop sees "no purchase for 21 weeks; usually every 4" rather
than a feature name and a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from retain.currency import format_money

__all__ = ["NO_RISK_FACTOR", "reason_for", "top_reasons"]

NO_RISK_FACTOR = "no risk factor stands out"

Row = Mapping[str, float]
#: Writes an amount in the shop's currency (:func:`retain.currency.format_money`).
Money = Callable[[float], str]


def _weeks(value: float) -> str:
    if value < 1.5:
        days = round(max(value * 7, 0))
        return "1 day" if days == 1 else f"{days} days"
    return f"{value:.0f} weeks"


def _times(value: float) -> str:
    count = round(value)
    return "once" if count == 1 else f"{count} times"


def _single_purchase(row: Row, money: Money) -> str:
    """A one-time buyer's spend, said once: their mean spend and first purchase are one number."""
    spent = row.get("monetary_first", row.get("monetary_mean", 0.0))
    return f"spent {money(spent)} on their only purchase"


def _recency(row: Row, _money: Money) -> str:
    """The buying rhythm in words: a long silence if there is one, else the low frequency.

    One gap is no habit: a customer who bought on two days in a row a year
    ago (Online Retail's 17850, 34 invoices on 1 and 2 December 2010) is
    told "bought twice, 1 day apart", not "usually buys every 1 day".
    """
    recency, gap, repeats = row["recency"], row.get("ipt_mean", 0.0), row.get("x", 0.0)
    if repeats > 0 and gap > 0 and recency >= 2 * gap:
        if round(repeats) == 1:
            return f"no purchase for {_weeks(recency)}; bought twice, {_weeks(gap)} apart"
        return f"no purchase for {_weeks(recency)}; usually buys every {_weeks(gap)}"
    if recency >= 4:
        return f"no purchase for {_weeks(recency)}"
    if repeats < 0.5:
        return "has bought only once"
    return f"only {round(repeats) + 1} purchases in {_weeks(row['T'])}"


_TEMPLATES: dict[str, Callable[[Row, Money], str]] = {
    "recency": _recency,
    "bg_p_alive": _recency,
    "bg_probability": _recency,
    "bg_expected": _recency,
    "t_x": _recency,
    "x": lambda r, m: (
        "has bought only once" if r["x"] < 0.5 else f"has bought only {round(r['x']) + 1} times"
    ),
    "T": lambda r, m: f"first bought {_weeks(r['T'])} ago",
    "ipt_std": lambda r, m: f"irregular rhythm: gaps vary by {_weeks(r['ipt_std'])}",
    "units_total": lambda r, m: f"{round(r['units_total'])} unit(s) bought in all",
    "monetary_repeat_mean": lambda r, m: (
        "no repeat purchase yet"
        if r["monetary_repeat_mean"] <= 0
        else f"spends {m(r['monetary_repeat_mean'])} per repeat purchase"
    ),
    "trend": lambda r, m: (
        f"buying less: {round(r.get('recent_13w', 0))} purchases in the last 13 weeks, more before"
    ),
    "recent_13w": lambda r, m: f"{_times(r['recent_13w'])} in the last 13 weeks",
    "recent_4w": lambda r, m: (
        "no purchase in the last 4 weeks"
        if r["recent_4w"] < 0.5
        else f"{_times(r['recent_4w'])} in the last 4 weeks"
    ),
    "returns": lambda r, m: f"{round(r['returns'])} cancelled or returned order(s)",
    "support_contacts": lambda r, m: f"contacted customer service {_times(r['support_contacts'])}",
    "negative_reviews": lambda r, m: f"wrote {round(r['negative_reviews'])} negative review(s)",
    "mean_rating": lambda r, m: f"rates products {r['mean_rating']:.1f} of 5 on average",
    "event_recency": lambda r, m: (
        "no visit recorded"
        if np.isnan(r["event_recency"])
        else f"last visit {_weeks(r['event_recency'])} ago"
    ),
    "events_4w": lambda r, m: (
        "no visit in the last 4 weeks"
        if r["events_4w"] < 0.5
        else f"{round(r['events_4w'])} visits in the last 4 weeks"
    ),
    "views": lambda r, m: f"{round(r['views'])} product views so far",
    "carts": lambda r, m: f"added {round(r['carts'])} product(s) to a cart so far",
    "view_to_cart": lambda r, m: f"adds {r['view_to_cart']:.0%} of viewed products to the cart",
    "cart_to_purchase": lambda r, m: f"buys {r['cart_to_purchase']:.0%} of carted products",
    "monetary_mean": lambda r, m: (
        _single_purchase(r, m)
        if r.get("x", 1.0) < 0.5
        else f"spends {m(r['monetary_mean'])} per purchase"
    ),
    "monetary_total": lambda r, m: f"spent {m(r['monetary_total'])} in all",
    "monetary_first": lambda r, m: (
        _single_purchase(r, m)
        if r.get("x", 1.0) < 0.5
        else f"first purchase worth {m(r['monetary_first'])}"
    ),
    "ipt_mean": lambda r, m: f"buys every {_weeks(r['ipt_mean'])} on average",
    "category_breadth": lambda r, m: f"buys from {round(r['category_breadth'])} categories",
}


def reason_for(feature: str, row: Row, currency: str | None = None) -> str:
    """One sentence about ``feature`` for the customer whose values are ``row``,
    amounts in ``currency`` (the shop's) where it names one."""
    template = _TEMPLATES.get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')} = {row[feature]:.3g}"
    return template(row, lambda amount: format_money(amount, currency))


#: Which side of the typical customer a value must be on to read as a risk:
#: +1 when higher is riskier, -1 when lower is. Features missing here (tenure,
#: review count) carry no direction a shop would accept as a reason.
RISK_DIRECTION: dict[str, int] = {
    "recency": 1,
    "event_recency": 1,
    "ipt_mean": 1,
    "ipt_std": 1,
    "returns": 1,
    "negative_reviews": 1,
    "support_contacts": 1,
    **dict.fromkeys(
        (
            "x", "t_x", "monetary_mean", "monetary_repeat_mean", "monetary_total",
            "monetary_first", "units_total", "recent_4w", "recent_13w", "trend", "views",
            "carts", "view_to_cart", "cart_to_purchase", "events_4w", "category_breadth",
            "mean_rating", "bg_expected", "bg_probability", "bg_p_alive",
        ),
        -1,
    ),
}  # fmt: skip


def top_reasons(
    contributions: npt.NDArray[np.float64],
    features: npt.NDArray[np.float64],
    names: list[str],
    typical: Mapping[str, float],
    *,
    limit: int = 3,
    min_effect: float = 0.05,
    currency: str | None = None,
) -> list[list[str]]:
    """Per customer, sentences for the features that lowered repurchase the most.

    A feature is a reason only when the model says it lowered this customer's
    probability *and* the customer's value is on the risky side of the
    typical one (``typical``, the median at training): SHAP can blame a high
    spend through interactions, but "spent 1,800 in all" reads as nonsense
    under "why is this customer at risk".

    Args:
        contributions: ``(n, len(names) + 1)`` log-odds contributions, the
            last column being the expected value (LightGBM's layout).
        features: ``(n, len(names))`` the customers' feature values.
        names: Feature names in column order.
        typical: Median value per feature among the customers trained on.
        limit: Sentences per customer at most.
        min_effect: Contributions above ``-min_effect`` log-odds are ignored.
        currency: The shop's currency, for the amounts in the sentences.
    """
    out: list[list[str]] = []
    effects = contributions[:, : len(names)]
    for row_effects, values in zip(effects, features, strict=True):
        order = np.argsort(row_effects)
        row = dict(zip(names, values.tolist(), strict=True))
        sentences: list[str] = []
        for index in order:
            if row_effects[index] > -min_effect or len(sentences) >= limit:
                break
            name = names[index]
            direction = RISK_DIRECTION.get(name, 0)
            value, usual = row[name], typical.get(name, float("nan"))
            if direction == 0 or (np.isnan(value) and name != "event_recency"):
                continue
            if not np.isnan(value) and not np.isnan(usual) and (value - usual) * direction <= 0:
                continue
            sentence = reason_for(name, row, currency)
            if sentence not in sentences:
                sentences.append(sentence)
        out.append(sentences or [NO_RISK_FACTOR])
    return out
