"""Acting on retention: ``campaign``, ``campaigns``, ``experiment``,
``sample-size`` and ``bench retention``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retain.cli.base import (
    CommandError,
    MovedFromOption,
    app,
    bench_app,
    money,
    open_store,
    operational_store,
    out,
    write_json,
)
from retain.cli.segments import find_segment
from retain.config import get_settings


@app.command()
def campaign(
    budget: Annotated[float, typer.Option(help="Most the campaign may cost (expected).")] = 1000.0,
    csv: Annotated[Path | None, typer.Option(help="Also write the list to this CSV.")] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 10,
    holdout: Annotated[
        float | None,
        typer.Option(help="Share held out as a control group, e.g. 0.2: makes it an experiment."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Only this segment's customers: an RFM segment name or, with --kind cluster, "
            "a learned segment's number."
        ),
    ] = None,
    kind: Annotated[
        str, typer.Option(help="rfm, cluster (behaviour) or taste (with --segment).")
    ] = "rfm",
    moved_from: MovedFromOption = None,
    moves: Annotated[
        int | None,
        typer.Option(help="Days --moved-from looks back (default: the dashboard's window)."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            help="Plan with only this action (repeatable), e.g. --action coupon_5: a "
            "coupon-only win-back. Default: every action."
        ),
    ] = None,
) -> None:
    """Who gets a coupon, a message or a care call, within a budget, and why.

    Appends the campaign to the interventions table. Needs user_scores. The
    actions and their costs are the shop's own in retain.toml (\\[campaign]
    actions; see retain.example.toml), else a 5-off and a 15-off coupon, a
    message with picks and a care contact.
    Example: retain campaign --budget 500 --csv campaign.csv
    Example: retain campaign --budget 200 --segment "at risk" --moved-from "loyal customers"
    Example: retain campaign --budget 300 --action coupon_5 --action coupon_15
    """
    from retain.data.summary import median_order_value
    from retain.retention.campaign import build_campaign
    from retain.retention.policy import SMALL_OFFER_SHARE, small_offers

    if segment is None and moved_from is not None:
        raise CommandError("--moved-from narrows a segment: add --segment NAME")
    settings = get_settings()
    try:
        actions = settings.campaign.to_actions(action)
    except ValueError as exc:
        raise CommandError(f"--action: {exc}") from None
    ops = operational_store(settings)
    with open_store(settings) as store:
        if ops is not None:
            from retain.serve.operational import pull_consent

            pull_consent(ops, store)  # an opt-out through any replica counts now
        audience, audience_name = None, None
        if segment is not None:
            found = find_segment(store, kind, segment, moved_from, moves)
            audience = set(found.customers.user_id.astype(str))
            audience_name = found.title
            out.print(f"audience: {found.title}, {len(audience):,} customers")
        result = build_campaign(
            store,
            budget,
            export=csv,
            holdout=holdout,
            audience=audience,
            audience_name=audience_name,
            actions=actions,
            currency=settings.currency,
            require_consent=settings.campaign.require_consent,
        )
        median_order = median_order_value(store)
    plan = result.plan
    table = Table(title=f"campaign {result.campaign_id}")
    for column in ("customer", "action", "cost", "uplift", "net value", "reason"):
        table.add_column(
            column, justify="left" if column in ("customer", "action", "reason") else "right"
        )
    for row in plan.head(show).to_dict("records"):
        table.add_row(
            str(row["user_id"]),
            str(row["action"]),
            money(row["expected_cost"]),
            f"{row['uplift'] * 100:.1f} pts",
            money(row["expected_net_value"]),
            str(row["reason"]),
        )
    out.print(table)
    counts = ", ".join(f"{n} {a}" for a, n in plan.action.value_counts().items()) or "nobody"
    out.print(
        f"{len(plan):,} of {result.customers_considered:,} customers get an action ({counts}); "
        f"expected cost {money(result.expected_cost)} of {money(budget)}, expected net value "
        f"{money(result.expected_net_value)}" + (f"; written to {csv}" if csv else "")
    )
    if result.uplift_learned:
        learned = ", ".join(f"{a} ({n:,} customers)" for a, n in result.uplift_learned.items())
        out.print(f"uplift learned from past holdout campaigns: {learned}; others assumed")
    else:
        out.print(
            "uplift assumed for every action: no past holdout campaign has a finished "
            "outcome window with at least 100 treated and 100 control customers for an action"
        )
    assumed_small = [
        a for a in small_offers(actions, median_order) if a.name not in result.uplift_learned
    ]
    if assumed_small and median_order is not None:
        names = ", ".join(f"{a.name} ({money(a.cost_if_used)})" for a in assumed_small)
        out.print(
            f"the median order here is {money(median_order)}; every coupon ({names}) is under "
            f"{SMALL_OFFER_SHARE:.0%} of it, so their assumed uplift is likely too high: "
            "set the shop's own offers in retain.toml under [campaign] actions "
            "(see retain.example.toml), or measure them with --holdout 0.2",
            markup=False,
        )
    if result.without_picks:
        out.print(
            f"{result.without_picks:,} customers have no recommendation list, so they get no "
            "message with picks: `retain train recommend` makes the lists (it needs events or "
            "orders that name items)"
        )
    if result.without_consent:
        which = (
            "have not accepted marketing ([campaign] require_consent)"
            if settings.campaign.require_consent
            else "declined marketing (users.marketing_consent)"
        )
        out.print(
            f"{result.without_consent:,} customers {which}, so they get no coupon or "
            "message; a care contact after a complaint is still possible"
        )
    if result.bought_since_scored:
        out.print(
            f"{result.bought_since_scored:,} customers bought after their scores were computed "
            f"(as of {result.scored_as_of}), so they get nothing: their churn risk is out of date; "
            "`retain train predict` scores them again"
        )
    if result.experiment:
        out.print(
            f"experiment {result.experiment}: {holdout:.0%} held out as control; "
            f"read it later with `retain experiment {result.experiment}`"
        )


@app.command()
def campaigns(
    campaign_id: Annotated[
        str | None, typer.Argument(help="One campaign's customers (default: list them all).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Write that campaign's rows here.")] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 20,
) -> None:
    """Campaigns planned so far, newest first; or one campaign's customers and why.

    Example: retain campaigns
    Example: retain campaigns C1ff15e3b6477 --csv campaign.csv
    """
    from retain.retention.campaign import campaign_rows, campaign_summaries

    with open_store(get_settings(), read_only=True) as store:
        if campaign_id is None:
            if csv is not None:
                raise CommandError("--csv writes one campaign's rows: name the campaign")
            summaries = campaign_summaries(store)
        else:
            rows = campaign_rows(store, campaign_id)
    if campaign_id is None:
        if summaries.empty:
            out.print("no campaign yet; plan one with `retain campaign --budget 500`")
            return
        table = Table(title="campaigns, newest first")
        for column in ("campaign", "planned", "for", "customers", "actions", "cost", "experiment"):
            table.add_column(column, justify="right" if column in ("customers", "cost") else "left")
        for row in summaries.head(show).to_dict("records"):
            table.add_row(
                str(row["campaign_id"]),
                f"{row['created_at']:%Y-%m-%d %H:%M}",
                _text_or(row["audience"], "every scored customer"),
                f"{int(row['customers']):,}",
                ", ".join(f"{a} {n:,}" for a, n in sorted(row["actions"].items())),
                f"{money(row['expected_cost'])} of {money(row['budget'])}",
                _text_or(row["experiment"], "none"),
            )
        out.print(table)
        return
    if rows is None:
        raise CommandError(f"no campaign {campaign_id!r}; `retain campaigns` lists them")
    table = Table(title=f"campaign {campaign_id}: {len(rows):,} customers")
    for column in ("customer", "action", "group", "reason"):
        table.add_column(column)
    for row in rows.head(show).to_dict("records"):
        group = _text_or(row["variant"], "")
        table.add_row(str(row["user_id"]), str(row["action"]), group, str(row["reason"]))
    out.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(csv, index=False)
        out.print(f"wrote {len(rows):,} rows to {csv}")


def _text_or(value: object, default: str) -> str:
    """``value`` when it is text; ``default`` for None and pandas' NaN."""
    return value if isinstance(value, str) else default


@app.command()
def experiment(name: Annotated[str, typer.Argument(help="Experiment name.")]) -> None:
    """Treatment against control: repurchase and revenue at D7, D30 and D90 after exposure.

    Example: retain experiment campaign-C1a2b3c4d5e6
    """
    from retain.retention.tracking import experiment_report

    settings = get_settings()
    with open_store(settings, read_only=True) as store:
        results = experiment_report(store, name)
    table = Table(title=f"experiment {name}")
    for column in ("horizon", "repurchase control", "treatment", "difference (95% CI)", "p",
                   "revenue/customer difference (CUPED, 95% CI)"):  # fmt: skip
        table.add_column(column)
    for r in results:
        if not r.ready or r.repurchase is None or r.revenue is None:
            table.add_row(f"D{r.days}", "pending", "", f"the window ends {r.ends}", "", "")
            continue
        rate, money = r.repurchase, r.revenue
        low, high = rate.ci_low * 100, rate.ci_high * 100
        table.add_row(
            f"D{r.days}",
            f"{rate.control:.1%} of {rate.n_control:,}",
            f"{rate.treatment:.1%} of {rate.n_treatment:,}",
            f"{rate.difference * 100:+.1f} pts [{low:+.1f}, {high:+.1f}]",
            f"{rate.p_value:.3g}",
            f"{money.difference:+,.2f} [{money.ci_low:+,.2f}, {money.ci_high:+,.2f}]",
        )
    out.print(table)


@app.command("sample-size")
def sample_size(
    baseline: Annotated[float, typer.Option(help="Current rate, e.g. 0.10 for 10%.")],
    effect: Annotated[float, typer.Option(help="Smallest absolute change worth finding.")],
    confidence: Annotated[float, typer.Option(help="1 - false-positive rate.")] = 0.95,
    power: Annotated[float, typer.Option(help="Chance to detect the effect if real.")] = 0.8,
) -> None:
    """Users per arm an A/B test needs before anyone looks at the result.

    Example: retain sample-size --baseline 0.10 --effect 0.02
    """
    from retain.retention.experiments import sample_size_proportions

    n = sample_size_proportions(baseline, effect, confidence=confidence, power=power)
    out.print(
        f"{n:,} users per arm to detect {baseline:.2%} -> {baseline + effect:.2%} "
        f"with {confidence:.0%} confidence and {power:.0%} power; decide only once both "
        "arms have them (a fixed-horizon test)"
    )


@bench_app.command("retention")
def bench_retention(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seeds: Annotated[int, typer.Option(help="Simulated shops (at least 2).")] = 5,
    customers: Annotated[int, typer.Option(help="Customers per shop.")] = 3000,
    budget_per_customer: Annotated[float, typer.Option(help="Budget per past customer.")] = 1.0,
    every_days: Annotated[
        int,
        typer.Option(help="A campaign every this many days over the 90 (0: once, on day 0)."),
    ] = 7,
) -> None:
    """Retention policies in the simulated shop at equal budget, with 95% intervals.

    Example: retain bench retention --seeds 5 --json retention.json
    """
    from retain.retention.bench import run_retention_benchmark

    if every_days < 0:
        raise CommandError(f"--every-days must be 0 (once) or more; got {every_days}")
    result = run_retention_benchmark(
        seeds=seeds,
        customers=customers,
        budget_per_customer=budget_per_customer,
        every_days=every_days or None,
    )
    write_json(result, json_out)
