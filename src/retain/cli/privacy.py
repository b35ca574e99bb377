"""A customer's rights: ``export``, ``erase`` and ``consent``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retain.cli.base import CommandError, app, open_store, operational_store, out, write_json
from retain.config import get_settings
from retain.data.user_ids import canonical_user_id, fold_email_id


@app.command()
def export(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the JSON here.")] = None,
) -> None:
    """Everything stored about one customer, as JSON (a data-access request).

    Example: retain export U00012 --out U00012.json
    """
    from retain.privacy import export_user

    with open_store(get_settings(), read_only=True) as store:
        tables = export_user(store, user_id)
    write_json({"user_id": fold_email_id(user_id), "tables": tables}, out_file)


@app.command()
def erase(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase one customer from every table; the audit keeps counts, not the id.

    Retrain afterwards (retain run, or retain train ...), then `retain models
    prune KIND`, so that no stored model version holds them; a running
    service forgets them at once via DELETE /v1/users/{id}.

    Example: retain erase U00012 --yes
    """
    from retain.privacy import erase_user

    if not yes:
        raise CommandError("erasing cannot be undone: add --yes to confirm")
    with open_store(get_settings()) as store:
        report = erase_user(store, user_id)
    parts = ", ".join(f"{t} {n:,}" for t, n in sorted(report.rows_by_table.items())) or "nothing"
    out.print(f"erased {report.rows:,} rows ({parts}); audit request {report.request_id}")


@app.command()
def consent(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    accept: Annotated[
        bool | None,
        typer.Option(
            "--accept/--decline",
            help="Record an opt-in or an opt-out; without either, show the consent and its "
            "changes.",
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Where it came from, e.g. 'phone call'.")
    ] = None,
) -> None:
    """A customer's marketing consent: record an opt-in or opt-out, or show it.

    The change is logged in consent_log with when and where from, and the
    next campaign follows it (the same as PUT /v1/users/{id}/marketing-consent;
    with service.operational_url, in PostgreSQL for every replica).

    Example: retain consent U00012 --decline --source "phone call"
    Example: retain consent U00012
    """
    from retain.data.consent import ConsentChange, consent_view, record_consent

    user_id = canonical_user_id(user_id)
    settings = get_settings()
    ops = operational_store(settings)
    if accept is not None:
        change = ConsentChange.new(
            user_id,
            accept,
            source=source,
            future_tolerance_seconds=settings.ingest.future_tolerance_seconds,
        )
        if ops is not None:
            recorded = ops.record_consent(change)
        else:
            with open_store(settings) as store:
                recorded = record_consent(store, change)
        out.print(
            f"{user_id}: {'accepts' if recorded.marketing_consent else 'declined'} marketing"
            + ("" if recorded.applied else " (a later change was already recorded)")
        )
        return
    with open_store(settings) as store:
        current, history = consent_view(store, user_id, ops)
    said = {True: "accepts marketing", False: "declined marketing", None: "consent not known"}
    out.print(f"{user_id}: {said[current]}")
    for h in history:
        what = "accepted" if h["marketing_consent"] else "declined"
        when = h["changed_at"][:19].replace("T", " ")
        out.print(f"  {when} UTC {what}" + (f" ({h['source']})" if h["source"] else ""))
