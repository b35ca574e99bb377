"""Who matters most right now: a customer's value and risk, in words staff act on.

Review alerts and the hand-off queue both put valuable and at-risk customers
first; this module is the one place that says what those words mean, read
from ``user_scores`` (``retain train predict``). Without scores every
customer is simply unranked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retain.currency import format_money
from retain.data.store import Store

__all__ = ["AT_RISK", "VALUABLE_SHARE", "CustomerStanding", "customer_standing"]

#: Customers whose expected lifetime value is in this top share are "valuable".
VALUABLE_SHARE = 0.2
#: Churn risk from which a customer is "at risk of leaving".
AT_RISK = 0.5


@dataclass(frozen=True)
class CustomerStanding:
    """One scored customer's standing."""

    churn_risk: float
    expected_lifetime_value: float
    valuable: bool
    at_risk: bool

    @property
    def urgency(self) -> float:
        """What the standing adds to an item's urgency: 1 if valuable, 0.5 if at risk."""
        return (1.0 if self.valuable else 0.0) + (0.5 if self.at_risk else 0.0)

    def reasons(self, currency: str | None = None) -> list[str]:
        """The standing in words, the value in ``currency`` (the shop's) where it names one."""
        out = []
        if self.valuable:
            value = format_money(self.expected_lifetime_value, currency)
            out.append(f"valuable customer (expected value {value}, top {VALUABLE_SHARE:.0%})")
        if self.at_risk:
            out.append(f"at risk of leaving (churn risk {self.churn_risk:.0%})")
        return out


def customer_standing(store: Store) -> dict[str, CustomerStanding]:
    """Every scored customer's standing; empty when nobody is scored yet."""
    if not store.has_table("user_scores"):
        return {}
    rows = store.execute(
        "SELECT user_id, churn_risk, expected_lifetime_value FROM user_scores"
    ).fetchall()
    if not rows:
        return {}
    values = np.array([float(r[2]) for r in rows])
    value_bar = float(np.quantile(values, 1.0 - VALUABLE_SHARE))
    return {
        str(user): CustomerStanding(
            churn_risk=float(risk),
            expected_lifetime_value=float(value),
            valuable=float(value) > value_bar,
            at_risk=float(risk) >= AT_RISK,
        )
        for user, risk, value in rows
    }
