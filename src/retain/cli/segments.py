"""Measuring retention: ``cohorts``, ``segments``, ``clusters`` and
``train segments``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from retain.cli.base import (
    AsOfOption,
    CommandError,
    MovedFromOption,
    app,
    money,
    open_store,
    out,
    read_as_of,
    train_app,
)
from retain.cli.printing import print_segments_training
from retain.config import get_settings
from retain.data.store import Store
from retain.errors import RetainError

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    from retain.retention.clusters import Cluster
    from retain.retention.members import SegmentMembers


@app.command()
def cohorts(
    period: Annotated[str, typer.Option(help="month or week.")] = "month",
    as_of: AsOfOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Split the curves: 'rfm' (today's RFM segment), 'cluster' or 'taste' (the "
            "stored learned segment), 'first_category' (of the first item bought) or a "
            "customer attribute from the users table, e.g. 'channel'."
        ),
    ] = None,
) -> None:
    """Cohort retention: who came back, by month (or week) of first purchase.

    Example: retain cohorts --period week
    Example: retain cohorts --by channel
    Example: retain cohorts --by taste
    """
    from retain.retention.analytics import (
        cohort_heatmap,
        cohort_retention,
        repeat_purchase_rate,
        retention_curve,
        thin_tail_note,
    )

    if period not in ("month", "week"):
        raise CommandError(f"--period must be month or week; got {period!r}")
    if by is not None:
        _segment_curves(period, as_of, by)
        return
    day, (matrix, repeats) = read_as_of(
        as_of,
        lambda tables, day: cohort_retention(tables, day, period),  # type: ignore[arg-type]
        repeat_purchase_rate,
    )
    repeat = repeats.iloc[0]
    if matrix.empty:
        out.print(f"no purchases on or before {day}: no cohorts to show yet")
        return
    grid = cohort_heatmap(matrix)
    sizes: dict[Any, int] = matrix.groupby("cohort").cohort_size.first().to_dict()
    table = Table(title=f"retention by {period} of first purchase, as of {day}")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for k in grid.columns:
        table.add_column(f"+{k}", justify="right")
    for cohort, row in grid.iterrows():
        cells = ["" if v != v else f"{v:.0%}" for v in row.tolist()]  # NaN: not yet observed
        table.add_row(f"{cohort:%Y-%m-%d}", f"{sizes[cohort]:,}", *cells)
    out.print(table)
    curve = retention_curve(matrix)
    points = ", ".join(f"+{r.period_index}: {r.retention:.1%}" for r in curve.itertuples())
    out.print(f"retention curve (complete periods only): {points}")
    out.print(f"the last filled cell of each row is still running on {day}")
    note = thin_tail_note(curve, matrix, period)
    if note:
        out.print(note)
    out.print(
        f"repeat customers: {int(repeat.repeat_customers):,} of {int(repeat.customers):,} "
        f"({repeat.rate:.1%})"
    )


def _segment_curves(period: str, as_of: str | None, by: str) -> None:
    """``retain cohorts --by``: retention and revenue-per-customer curves per segment."""
    from retain.retention.analytics import retention_curve, segment_matrix, split_caveat

    day, (matrix,) = read_as_of(
        as_of,
        lambda tables, day: segment_matrix(tables, day, by, period),  # type: ignore[arg-type]
        fetch=False,
    )
    if matrix.empty:
        out.print(f"no purchases on or before {day}: no cohorts to show yet")
        return
    curves = retention_curve(matrix)
    width = int(curves.period_index.max())
    for title, column, cell in (
        ("share buying again", "retention", "{:.0%}"),
        ("revenue per customer so far (LTV)", "revenue_per_customer", "{:,.2f}"),
    ):
        table = Table(title=f"{title}, by {period}s since the first purchase and {by}, as of {day}")
        table.add_column(by)
        table.add_column("customers", justify="right")
        for k in range(width + 1):
            table.add_column(f"+{k}", justify="right")
        for segment, curve in curves.groupby("segment", sort=False):
            values = dict(zip(curve.period_index, curve[column], strict=True))
            cells = [cell.format(values[k]) if k in values else "" for k in range(width + 1)]
            table.add_row(str(segment), f"{int(curve.customers.iloc[0]):,}", *cells)
        out.print(table)
    out.print(
        f"Each point counts only the {period}ly cohorts that have lived through it. "
        + split_caveat(by)
    )


@app.command()
def segments(
    as_of: AsOfOption = None,
    members: Annotated[
        str | None,
        typer.Option(
            help="List one segment's customers, most value at stake first: an RFM segment "
            "name ('at risk') or, with --kind cluster or taste, a learned segment's number."
        ),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(help="rfm, cluster (behaviour) or taste: which segments, or --members of."),
    ] = "rfm",
    csv: Annotated[Path | None, typer.Option(help="Write every member to this CSV.")] = None,
    show: Annotated[int, typer.Option(help="Members to print.")] = 20,
    moves: Annotated[
        int | None,
        typer.Option(help="Also show where customers moved between segments over these days."),
    ] = None,
    moved_from: MovedFromOption = None,
) -> None:
    """RFM segments: how many customers are champions, at risk, hibernating, ...

    Example: retain segments
    Example: retain segments --moves 30
    Example: retain segments --members "at risk" --csv at_risk.csv
    Example: retain segments --members "at risk" --moved-from "loyal customers"
    Example: retain segments --kind taste
    """
    from retain.retention.segments import SEGMENTS, rfm_segments

    if members is not None:
        if as_of is not None:
            raise CommandError("--members lists customers as of the last order; drop --as-of")
        _segment_members(kind, members, csv, show, moved_from, moves)
        return
    if moved_from is not None:
        raise CommandError("--moved-from filters a segment's customers: add --members NAME")
    if csv is not None:
        raise CommandError("--csv writes a segment's customers: add --members NAME")
    from retain.retention.members import KINDS

    if kind not in KINDS:
        known = f"{', '.join(KINDS[:-1])} or {KINDS[-1]}"
        raise CommandError(f"--kind must be {known}; got {kind!r}")
    if kind != "rfm":  # the learned segments, as `retain clusters --kind` shows them
        if moves is not None:
            raise CommandError("--moves is about RFM segments: drop --kind")
        clusters(as_of=as_of, k=None, kind=kind)
        return
    day, (scored,) = read_as_of(as_of, rfm_segments)
    if scored.empty:
        out.print(f"no purchases on or before {day}: no segments yet")
        return
    summary = scored.groupby("segment").agg(
        customers=("user_id", "size"),
        recency=("recency_days", "median"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    table = Table(title=f"RFM segments as of {day}")
    for column in ("segment", "customers", "median days since purchase", "purchases", "spend"):
        table.add_column(column, justify="left" if column == "segment" else "right")
    table.add_column("what sets it apart / what to do")
    rows = summary.to_dict("index")
    for segment in SEGMENTS:
        if segment.name not in rows:
            continue
        row = rows[segment.name]
        table.add_row(
            segment.name,
            f"{int(row['customers']):,} ({row['customers'] / len(scored):.0%})",
            f"{row['recency']:.0f}",
            f"{row['frequency']:.1f}",
            money(row["monetary"]),
            f"{segment.description}; {segment.action}",
        )
    out.print(table)
    if moves is not None:
        _print_moves(as_of, moves)


def _print_moves(as_of: str | None, days: int) -> None:
    """The largest moves between segments over the last ``days`` days, and the totals."""
    from retain.retention.segments import count_moves, describe_moves, segment_moves

    if days < 1:
        raise CommandError(f"--moves takes a number of days of at least 1; got {days}")
    day, (found,) = read_as_of(
        as_of, lambda tables, end: segment_moves(tables, end - timedelta(days=days), end)
    )
    start = day - timedelta(days=days)
    counts = count_moves(found)
    if not counts.earlier:
        out.print(f"no moves: nobody had bought by {start}")
        return
    changed = found[found.from_segment != found.to_segment]
    table = Table(title=f"largest moves between segments, {start} -> {day}")
    for column in ("from", "to", "customers"):
        table.add_column(column, justify="right" if column == "customers" else "left")
    for row in changed.head(15).itertuples():
        table.add_row(str(row.from_segment), str(row.to_segment), f"{int(row.customers):,}")
    out.print(table)
    out.print(describe_moves(counts))


def _segment_members(
    kind: str, name: str, csv: Path | None, show: int, moved_from: str | None, days: int | None
) -> None:
    with open_store(get_settings(), read_only=True) as store:
        found = find_segment(store, kind, name, moved_from, days)
    frame = found.customers
    out.print(f"{found.title}: {len(frame):,} customers as of {found.as_of}. {found.about}")
    table = Table()
    for column in frame.columns:
        table.add_column(column, justify="left" if column == "user_id" else "right")
    for row in frame.head(show).itertuples(index=False):
        table.add_row(*("" if v != v else str(v) for v in row))
    out.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(csv, index=False)
        out.print(f"wrote {len(frame):,} customers to {csv}")


def find_segment(
    store: Store, kind: str, name: str, moved_from: str | None, days: int | None
) -> SegmentMembers:
    """A segment's members (``retain.retention.members.find_segment``); ``days``
    defaults to the dashboard's window (``MOVES_DAYS``)."""
    from retain.retention.members import find_segment
    from retain.retention.segments import MOVES_DAYS

    return find_segment(
        store, kind, name, moved_from=moved_from, days=MOVES_DAYS if days is None else days
    )


@app.command()
def clusters(
    as_of: AsOfOption = None,
    k: Annotated[int | None, typer.Option(help="Number of clusters (default: chosen).")] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="cluster: how customers shop (behaviour); taste: what they buy (category mix)."
        ),
    ] = "cluster",
) -> None:
    """Learned customer segments (k-means on behaviour or taste), each described in words.

    Shows the segments `retain train segments` stored (the ones the dashboard
    and the API use); with --as-of or --k it fits afresh to explore, and
    stores nothing.
    Example: retain clusters
    Example: retain clusters --kind taste
    """
    from retain.retention.cluster_training import LEARNED_KINDS, stored_clusters

    learned = LEARNED_KINDS.get(kind)
    if learned is None:
        raise CommandError(f"--kind must be {' or '.join(LEARNED_KINDS)}; got {kind!r}")
    stored = None
    if as_of is None and k is None:
        with open_store(get_settings(), read_only=True) as store:
            stored = stored_clusters(store, learned)
    if stored is not None:
        day, found = stored.as_of, stored.clusters
        title = f"{learned.title}s as of {day} (model {stored.version})"
    else:
        day, ((_, found),) = read_as_of(
            as_of, lambda tables, day: learned.fit_now(tables, day, k=k), fetch=False
        )
        title = f"{learned.title}s as of {day}, fitted now and not stored"
    _print_clusters(title, found)


def _print_clusters(title: str, found: Sequence[Cluster]) -> None:
    table = Table(title=title)
    for column in ("segment", "customers", "what sets it apart"):
        table.add_column(column)
    for cluster in found:
        table.add_row(
            str(cluster.label),
            f"{cluster.customers:,} ({cluster.share:.0%})",
            cluster.description,
        )
    out.print(table)


@train_app.command("segments")
def train_segments_command(
    k: Annotated[int | None, typer.Option(help="Number of clusters (default: chosen).")] = None,
) -> None:
    """Learn customer segments from behaviour and from taste, and store who is in which.

    Behaviour (how customers shop) goes to customer_clusters and
    segment_clusters, model <data_dir>/models/segments; taste (the share of
    their purchases per category) to customer_tastes and taste_clusters,
    model <data_dir>/models/tastes, when the shop has purchase events of
    catalogued items. A retrain keeps the numbers of segments that are
    still there, so links and exported lists keep their meaning.
    Example: retain train segments
    """
    from retain.retention.cluster_training import BEHAVIOUR, TASTE, train_segments

    settings = get_settings()
    with open_store(settings) as store:
        result = train_segments(store, settings.models_dir, k=k, kind=BEHAVIOUR)
        print_segments_training(result)
        try:
            tastes = train_segments(store, settings.models_dir, k=k, kind=TASTE)
        except RetainError as exc:  # a shop without item purchases has no taste to learn
            out.print(f"no taste segments: {exc}")
        else:
            print_segments_training(tastes)
