"""Segments and retention curves: RFM, behaviour and taste segments with their
customers, and retention and LTV curves.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from retain.data.summary import latest_order_day
from retain.features.customer import FeatureTables
from retain.retention.analytics import cohort_retention, retention_curve, segment_matrix
from retain.retention.members import find_segment, list_segments
from retain.retention.segments import MOVES_DAYS
from retain.serve.deps import API_PREFIX, ReadKey, client_errors, plain, problem, store_errors
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The segments routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.get(
        "/segments/{kind}",
        summary="Every RFM, behaviour or taste segment with its size and what sets it apart",
    )
    def segments(kind: Literal["rfm", "cluster", "taste"], _key: ReadKey) -> dict[str, Any]:
        with store_errors(), state.read_store() as store, client_errors():
            listed = list_segments(store, kind)
        if listed is None:
            raise problem(
                503,
                "no orders yet"
                if kind == "rfm"
                else f"no {kind} segments are stored yet: "
                "run `retain train segments` (or `retain run`)",
            )
        rows = [
            {str(k): plain(v) for k, v in r.items()} for r in listed.segments.to_dict("records")
        ]
        return {
            "kind": kind,
            "as_of": listed.as_of.isoformat(),
            "model_version": listed.model_version,
            "segments": rows,
        }

    @router.get(
        "/segments/{kind}/{name}/customers",
        summary="Every customer of an RFM, behaviour or taste segment, most value at stake first",
    )
    def segment_customers(
        kind: Literal["rfm", "cluster", "taste"],
        name: Annotated[str, Path(max_length=100)],
        _key: ReadKey,
        format: Literal["json", "csv"] = "json",
        moved_from: Annotated[
            str | None,
            Query(
                alias="from",
                max_length=100,
                description="Only those in this RFM segment `days` days before the last order "
                "('not a customer yet': first-time buyers since).",
            ),
        ] = None,
        days: Annotated[int, Query(ge=1, le=3650)] = MOVES_DAYS,
    ) -> Any:
        with store_errors(), state.read_store() as store, client_errors():
            found = find_segment(store, kind, name, moved_from=moved_from, days=days)
        if format == "csv":
            return Response(
                found.customers.to_csv(index=False),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="segment.csv"'},
            )
        rows = [
            {str(k): plain(v) for k, v in r.items()} for r in found.customers.to_dict("records")
        ]
        return {
            "kind": kind,
            "segment": name,
            "from": moved_from,
            "about": found.about,
            "as_of": found.as_of.isoformat(),
            "customers": rows,
        }

    @router.get(
        "/retention/curves",
        summary="Retention and revenue-per-customer (LTV) curves, overall or per segment",
    )
    def retention_curves(
        _key: ReadKey,
        period: Literal["month", "week"] = "month",
        by: Annotated[
            str | None,
            Query(
                max_length=64,
                description="'rfm' (today's RFM segment), 'cluster' or 'taste' (the stored "
                "learned segment), 'first_category' or a customer attribute, e.g. channel",
            ),
        ] = None,
    ) -> dict[str, Any]:
        with store_errors(), state.read_store() as store, client_errors():
            day = latest_order_day(store)
            if day is None:
                return {
                    "as_of": None,
                    "period": period,
                    "by": by,
                    "currency": state.config.currency,
                    "curves": [],
                }
            tables = FeatureTables.from_store(store)
            matrix = (
                segment_matrix(tables, day, by, period)
                if by is not None
                else tables.fetch(cohort_retention(tables, day, period))
            )
        curve = retention_curve(matrix)
        columns = ["period_index", "retention", "revenue_per_customer", "customers", "cohorts"]
        parts = curve.groupby("segment", sort=True) if by is not None else [(None, curve)]
        return {
            "as_of": day.isoformat(),
            "period": period,
            "by": by,
            "currency": state.config.currency,
            "curves": [
                {"segment": name, "points": part[columns].to_dict("records")}
                for name, part in parts
            ],
        }

    return router
