"""Running the service: ``serve``, ``keys``, ``pull-events``, ``models`` and the
service's benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retain.cli.base import (
    CommandError,
    app,
    bench_app,
    err,
    keys_app,
    models_app,
    open_store,
    operational_store,
    out,
    write_json,
)
from retain.config import get_settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """The service: the /v1 REST API (spec at /openapi.json) and the dashboard.

    Example: retain serve --port 8000, then open http://127.0.0.1:8000
    """
    import uvicorn

    from retain.serve.app import create_app

    err.print(f"Retain on http://{host}:{port} (API under /v1; Ctrl-C to stop)")
    uvicorn.run(
        create_app(get_settings()), host=host, port=port, log_level="warning", access_log=False
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. storefront.")],
    role: Annotated[str, typer.Option(help="read, ingest or admin.")] = "read",
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (default: service.rate_per_second).")
    ] = None,
) -> None:
    """Make an API key; it is printed once and only its hash is stored.

    Example: retain keys create storefront --role read --rate 2000
    """
    from retain.serve.keys import create_key

    settings = get_settings()
    ops = operational_store(settings)
    if ops is not None:
        key, secret = ops.create_key(name, role, rate or settings.service.rate_per_second)
    else:
        with open_store(settings) as store:
            key, secret = create_key(store, name, role, rate or settings.service.rate_per_second)
    err.print(f"key {key.key_id} ({key.role}, {key.rate_per_second:g} req/s) for {key.name}:")
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every API key, without secrets.

    Example: retain keys list
    """
    from retain.serve.keys import list_keys

    settings = get_settings()
    ops = operational_store(settings)
    if ops is not None:
        found = ops.list_keys()
    else:
        with open_store(settings, read_only=True) as store:
            found = list_keys(store)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "req/s", "created", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.key_id,
            key.name,
            key.role,
            f"{key.rate_per_second:g}",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key; a running service refuses it within a few seconds.

    Example: retain keys revoke 1a2b3c4d
    """
    from retain.serve.keys import revoke_key

    settings = get_settings()
    ops = operational_store(settings)
    if ops is not None:
        ops.revoke_key(key_id)
    else:
        with open_store(settings) as store:
            revoke_key(store, key_id)
    out.print(f"revoked {key_id}")


@app.command("pull-events")
def pull_events(
    batch: Annotated[int, typer.Option(help="Rows fetched and committed at a time.")] = 50_000,
) -> None:
    """Copy what the service replicas wrote to PostgreSQL (events, assistant conversation
    turns and marketing consent changes) into the embedded store.

    Idempotent (by key), resumable, in commit order; run it before training.
    Needs service.operational_url.

    Example: RETAIN_SERVICE__OPERATIONAL_URL=postgresql://... retain pull-events
    """
    from retain.serve.operational import pull_events as pull

    settings = get_settings()
    ops = operational_store(settings)
    if ops is None:
        raise CommandError("no operational store: set service.operational_url (postgresql://...)")
    with open_store(settings) as store:
        added = pull(ops, store, batch=batch)
    out.print(
        f"pulled {added:,} new events, conversation turns and consent changes into "
        f"{settings.resolved_store_url}"
    )


@models_app.command("list")
def models_list(
    kind: Annotated[
        str | None, typer.Argument(help="recommend, predict, ... (default: all).")
    ] = None,
) -> None:
    """Stored model versions, newest first; * marks the current one.

    Example: retain models list recommend
    """
    from retain.artifacts import list_versions

    root = get_settings().models_dir
    kinds = (
        [kind]
        if kind
        else sorted(p.name for p in root.iterdir() if p.is_dir())
        if root.is_dir()
        else []
    )
    table = Table(title=f"models under {root}")
    for column in ("kind", "version", "stored", "current"):
        table.add_column(column)
    for name in kinds:
        for v in list_versions(root, name):
            table.add_row(
                name, v.version, f"{v.created_at:%Y-%m-%d %H:%M}", "*" if v.current else ""
            )
    out.print(table)


@models_app.command("promote")
def models_promote(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
    version: Annotated[str, typer.Argument(help="A stored version (models list).")],
) -> None:
    """Make a stored version current; a running service swaps to it without a restart.

    Example: retain models promote recommend 3f2a1b4c5d6e
    """
    from retain.artifacts import promote

    promote(get_settings().models_dir, kind, version)
    out.print(f"{kind}: {version} is current")


@models_app.command("prune")
def models_prune(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
    keep: Annotated[int, typer.Option(help="Older versions kept for roll-back.")] = 0,
) -> None:
    """Delete stored versions except the current one (and --keep older ones).

    After `retain erase` and a retrain, this removes the model files that
    were trained on the erased customer's data.

    Example: retain models prune recommend --keep 1
    """
    from retain.artifacts import prune

    gone = prune(get_settings().models_dir, kind, keep)
    out.print(f"{kind}: deleted {len(gone)} version(s){': ' + ', '.join(gone) if gone else ''}")


@models_app.command("rollback")
def models_rollback(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
) -> None:
    """Make the previously current version current again.

    Example: retain models rollback recommend
    """
    from retain.artifacts import rollback

    version = rollback(get_settings().models_dir, kind)
    out.print(f"{kind}: rolled back to {version}")


@bench_app.command("serve")
def bench_serve(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seconds: Annotated[float, typer.Option(help="Length of each load phase.")] = 20.0,
    connections: Annotated[int, typer.Option(help="wrk's keep-alive connections.")] = 8,
) -> None:
    """Recommendation requests/s and latency of the running service, also during hot swaps.

    Serves the shop in the data directory (builds the demo shop when it has no
    recommender). Needs wrk (apt-get install wrk).

    Example: retain bench serve --json serve.json
    """
    from retain.serve.bench import run_serve_benchmark

    settings = get_settings()
    result = run_serve_benchmark(settings.data_dir, seconds=seconds, connections=connections)
    write_json(result, json_out)


@bench_app.command("pages")
def bench_pages(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    repeats: Annotated[int, typer.Option(help="Timed fetches of each page.")] = 5,
) -> None:
    """Seconds each dashboard page takes on the shop in the data directory, as it is.

    Starts `retain serve` over the data directory and fetches every page in
    turn (see src/retain/serve/page_bench.py for the protocol).
    Example: retain bench pages --json pages.json
    """
    from retain.serve.page_bench import run_pages_benchmark

    result = run_pages_benchmark(get_settings().data_dir, repeats=repeats)
    write_json(result, json_out)
