"""What the training and loading commands print: one report each, shared by the
command that does one step and by ``retain run`` and ``retain train all``, which do them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from retain.cli.base import money, out
from retain.config import Settings
from retain.data.ingest import IngestReport

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    from retain.predict.scoring import TrainResult
    from retain.recommend.scoring import RecommendTrainResult
    from retain.retention.cluster_training import StoredClusters


#: What an accepted record that updated a stored one is, by table.
_UPDATED = {
    "orders": "updated with a later status or a refund",
    "reviews": "edited by their writer",
}


def print_report(report: IngestReport) -> None:
    read = (
        f"{report.lines:,} order lines read from {report.source}, summed into orders"
        if report.lines
        else f"{report.rows:,} records read from {report.source}"
    )
    out.print(
        f"{report.table}: {read} - "
        f"accepted {report.accepted:,}"
        + (
            f" ({report.updated:,} {_UPDATED.get(report.table, 'updated')})"
            if report.updated
            else ""
        )
        + f", duplicate {report.duplicates:,}, "
        f"quarantined {report.quarantined:,} ({report.seconds:.2f}s)"
    )
    if report.erased:
        out.print(
            f"  skipped {report.erased:,} records of customers erased on request, dated before "
            "the erase: not stored again"
        )
    if report.withdrawn:
        out.print(
            f"  marked {report.withdrawn:,} items unavailable: the catalogue no longer lists them"
        )
    if report.relisted:
        out.print(f"  {report.relisted:,} items listed again are available again")
    if report.derived_key:
        out.print("  (no key column: ids derived from each record's content and occurrence)")
    if report.attribute_columns:
        out.print(f"  kept in attributes: {', '.join(report.attribute_columns)}")
    if report.ignored_columns:
        out.print(f"  ignored columns: {', '.join(report.ignored_columns)}")
    for reason, n in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:5]:
        out.print(f"  {n:,} x {reason}")
    if any(" is not one of: " in reason for reason in report.reasons):
        out.print(
            "  a system of its own spelling? map its values: --value FIELD:SOURCE_VALUE=VALUE "
            "(e.g. --value event_type:1=view)"
        )
    if report.quarantined:
        out.print(f"  see them with: retain quarantine --table {report.table}")


def print_summary(summary: dict[str, Any], settings: Settings) -> None:
    out.print(f"store: {settings.resolved_store_url}")
    table = Table(show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in summary["counts"].items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    rate = summary["repeat_purchase_rate"]
    spans = [
        f"{name} {summary['first_' + key]} .. {summary['last_' + key]}"
        if summary["first_" + key] is not None
        else f"no {name}"
        for name, key in (("orders", "order"), ("events", "event"))
    ]
    out.print(
        f"{'; '.join(spans)}; "
        f"{summary['buyers']:,} buyers, repeat-purchase rate "
        f"{'n/a' if rate is None else f'{rate:.1%}'}, "
        f"completed revenue {money(summary['completed_revenue'])}"
        + (
            f" (net of {money(summary['refunded_in_part'])} refunded in part "
            f"on {summary['orders_refunded_in_part']:,} "
            f"order{'' if summary['orders_refunded_in_part'] == 1 else 's'})"
            if summary["orders_refunded_in_part"]
            else ""
        )
    )


def print_training(result: TrainResult) -> None:
    out.print(
        f"predict model {result.version} as of {result.cutoff} ({result.horizon_days}-day "
        f"horizon), learned from {result.training_rows:,} rows over {result.backtests} "
        f"backtests; scored {result.customers_scored:,} customers into user_scores: mean "
        f"churn risk {result.mean_churn_risk:.1%}, {result.expected_purchases:,.0f} purchases "
        "expected"
    )
    check = result.check
    if check is None:
        out.print(result.check_note)
        return
    out.print(
        f"check: refitted as of {check.calibration_end}, it ranked who bought again by "
        f"{check.holdout_end} with AUC {check.auc:.3f} (BG/NBD {check.bgnbd_auc:.3f}) and "
        f"predicted {check.predicted_rate:.1%} would, against {check.observed_rate:.1%} who did"
    )


def print_recommend_training(result: RecommendTrainResult) -> None:
    weights = ", ".join(f"{n} {w:g}" for n, w in result.blend_weights.items() if w > 0)
    out.print(
        f"recommend model {result.version}: {result.users:,} users, {result.items:,} items, "
        f"{result.rows_written:,} rows in recommendations; blend {weights}; held-out NDCG@10 "
        f"{result.holdout_ndcg10:.4f}; {result.seconds:.0f} s"
    )


def print_segments_training(result: StoredClusters) -> None:
    kept = f"; kept the numbers {', '.join(map(str, result.carried))}" if result.carried else ""
    kind = result.kind
    out.print(
        f"{kind.model_kind} model {result.version} as of {result.as_of}: "
        f"{len(result.clusters)} {kind.title}s of "
        f"{sum(c.customers for c in result.clusters):,} customers in "
        f"{kind.customers_table}{kept}; try `retain clusters --kind {kind.name}`"
    )
