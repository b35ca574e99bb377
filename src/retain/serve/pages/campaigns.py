"""The experiments and campaigns pages: results with their intervals, planned
campaigns, and one campaign's customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.retention.campaign import campaign_rows, campaign_summaries
from retain.retention.policy import DEFAULT_ACTIONS, Action
from retain.retention.tracking import ASSIGNMENTS_TABLE, experiment_report
from retain.serve.pages.common import template_rows

NO_EXPERIMENTS = (
    "No experiments yet: plan a campaign with a control group, e.g. "
    "`retain campaign --budget 500 --holdout 0.2`."
)


def experiments_page(store: Store) -> dict[str, Any]:
    """Every experiment: arms, exposure, and treatment-vs-control per horizon."""
    if not store.has_table(ASSIGNMENTS_TABLE):
        return {"empty": True, "message": NO_EXPERIMENTS, "experiments": []}
    arms = store.query_df(
        f"SELECT experiment, min(exposed_at) AS exposed, "
        f"count(*) FILTER (WHERE variant = 'treatment') AS treatment, "
        f"count(*) FILTER (WHERE variant = 'control') AS control "
        f"FROM {ASSIGNMENTS_TABLE} GROUP BY 1 ORDER BY 2 DESC"
    )
    has_orders = latest_order_day(store) is not None
    experiments = []
    for row in arms.to_dict("records"):
        results = experiment_report(store, row["experiment"]) if has_orders else []
        experiments.append({**row, "results": results})
    return {"empty": False, "experiments": experiments}


NO_CAMPAIGNS = (
    "No campaign yet: `retain campaign --budget 500 --holdout 0.2` plans one (add --segment "
    "to reach one segment), or POST /v1/campaigns."
)


def campaigns_page(
    store: Store,
    actions: Sequence[Action] = DEFAULT_ACTIONS,
    configured: bool = False,
    require_consent: bool = False,
) -> dict[str, Any]:
    """Every planned campaign, newest first, and what the next one may do.

    ``actions`` are the service's (``[campaign] actions``, else the built-in
    ones): a growth team reads there what each costs and the uplift assumed
    for it until a holdout campaign measures it. ``configured`` says whether
    the shop set them, as ``GET /v1/campaign-actions`` does: a shop that
    wrote out the built-in four has still chosen them. ``require_consent``
    (``[campaign] require_consent``) says whom marketing actions may reach.
    """
    consent = (
        "customers who accepted marketing"
        if require_consent
        else "customers who have not declined marketing"
    )
    offers = [
        {
            "name": a.name,
            "description": a.description,
            "fixed_cost": a.fixed_cost,
            "cost_if_used": a.cost_if_used,
            "max_uplift": a.max_uplift,
            "cooldown_days": a.cooldown_days,
            "family": a.family,
            "only_for": "; ".join(
                need
                for need, flag in (
                    ("a recent complaint", a.needs_complaint),
                    ("a recommendation list", a.needs_picks),
                    (consent, a.marketing),
                )
                if flag
            ),
        }
        for a in actions
    ]
    shown = {"actions": offers, "configured": configured}
    summaries = campaign_summaries(store)
    if summaries.empty:
        return {"empty": True, "message": NO_CAMPAIGNS, "campaigns": [], **shown}
    return {"empty": False, "campaigns": template_rows(summaries), **shown}


#: Customers listed on a campaign's page; the CSV holds them all.
CAMPAIGN_ROWS_SHOWN = 200


def campaign_page(store: Store, campaign_id: str) -> dict[str, Any] | None:
    """One campaign's customers (the first :data:`CAMPAIGN_ROWS_SHOWN`) with action and reason."""
    rows = campaign_rows(store, campaign_id)
    if rows is None:
        return None
    summaries = campaign_summaries(store)
    (summary,) = template_rows(summaries[summaries.campaign_id == campaign_id])
    ordered = rows.sort_values(["expected_net_value", "user_id"], ascending=[False, True])
    return {
        "campaign_id": campaign_id,
        "summary": summary,
        "rows": template_rows(ordered.head(CAMPAIGN_ROWS_SHOWN)),
        "shown": min(len(rows), CAMPAIGN_ROWS_SHOWN),
        "customers": len(rows),
    }
