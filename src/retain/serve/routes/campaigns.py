"""Campaigns and experiments: plan a campaign within a budget, list and export
them, and read an experiment's results.
"""

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from retain.retention.campaign import build_campaign, campaign_rows, campaign_summaries
from retain.retention.members import find_segment
from retain.retention.tracking import experiment_report
from retain.serve.deps import (
    API_PREFIX,
    AdminKey,
    ReadKey,
    client_errors,
    finite,
    plain,
    problem,
    store_errors,
)
from retain.serve.operational import pull_consent
from retain.serve.schemas import CampaignIn
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The campaigns routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.post("/campaigns", summary="Plan a campaign within a budget (admin)")
    def create_campaign(body: CampaignIn, _key: AdminKey) -> dict[str, Any]:
        if body.moved_from is not None and body.segment is None:
            raise problem(422, "moved_from narrows a segment: give segment too")
        try:
            actions = state.config.campaign.to_actions(body.actions)
        except ValueError as exc:
            raise problem(422, f"actions: {exc}") from None
        with store_errors(), state.write_store() as store:
            if state.ops is not None:
                pull_consent(state.ops, store)  # an opt-out through any replica counts now
            audience, audience_name = None, None
            if body.segment is not None:
                with client_errors():
                    found = find_segment(
                        store, body.kind, body.segment, moved_from=body.moved_from, days=body.days
                    )
                audience = set(found.customers.user_id.astype(str))
                audience_name = found.title
            result = build_campaign(
                store,
                body.budget,
                holdout=body.holdout,
                audience=audience,
                audience_name=audience_name,
                actions=actions,
                currency=state.config.currency,
                require_consent=state.config.campaign.require_consent,
            )
        return {
            "campaign_id": result.campaign_id,
            "customers": len(result.plan),
            "customers_considered": result.customers_considered,
            "expected_cost": result.expected_cost,
            "expected_net_value": result.expected_net_value,
            "experiment": result.experiment,
            "uplift_learned": result.uplift_learned,
            "without_picks": result.without_picks,
            "without_consent": result.without_consent,
            "bought_since_scored": result.bought_since_scored,
            "scored_as_of": result.scored_as_of.isoformat() if result.scored_as_of else None,
        }

    @router.get(
        "/campaign-actions",
        summary="What a campaign may do: the shop's configured actions, or the built-in ones",
    )
    def campaign_actions(_key: ReadKey) -> dict[str, Any]:
        config = state.config.campaign
        return {
            "configured": config.actions is not None,
            "currency": state.config.currency,
            "actions": [asdict(a) for a in config.to_actions()],
        }

    @router.get("/campaigns", summary="Planned campaigns, newest first")
    def campaigns(_key: ReadKey) -> list[dict[str, Any]]:
        with store_errors(), state.read_store() as store:
            frame = campaign_summaries(store)
        return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

    @router.get(
        "/campaigns/{campaign_id}",
        summary="One campaign's customers, each with an action and the reason (JSON or CSV)",
    )
    def campaign(
        campaign_id: str,
        _key: ReadKey,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Any:
        with store_errors(), state.read_store() as store:
            frame = campaign_rows(store, campaign_id)
        if frame is None:
            raise problem(404, f"no campaign {campaign_id!r} (see GET /v1/campaigns)")
        if format == "csv":
            return Response(
                frame.to_csv(index=False),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'},
            )
        rows = [{str(k): plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"campaign_id": campaign_id, "customers": rows}

    @router.get(
        "/experiments/{name}",
        summary="Treatment against control at D7/D30/D90: repurchase and revenue, with 95% CIs",
    )
    def experiment(name: str, _key: ReadKey) -> dict[str, Any]:
        with store_errors(), state.read_store() as store, client_errors():
            results = experiment_report(store, name)
        horizons = [
            {
                "days": r.days,
                "ready": r.ready,
                "ends": r.ends.isoformat(),
                "repurchase": finite(asdict(r.repurchase)) if r.repurchase else None,
                "revenue": finite(asdict(r.revenue)) if r.revenue else None,
            }
            for r in results
        ]
        return {"experiment": name, "horizons": horizons}

    return router
