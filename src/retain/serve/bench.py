"""``retain bench serve``: the service under load, with and without a model hot swap.

Protocol (stated again in the JSON):

1. The service runs as its own process (``retain serve``, one uvicorn worker)
   on 127.0.0.1 over the shop in ``data_dir`` (the demo shop is built first
   when there is none). A second recommender version is stored beside the
   serving one: the same model with one rule changed, so answers differ.
2. The load generator is ``wrk`` (Debian package ``wrk``): closed loop, one
   thread, ``connections`` keep-alive connections, each request
   ``GET /v1/users/{id}/recommendations?k=10`` for the shop's known users in
   turn, with an API key; one request per user first, unmeasured, so the
   answer cache holds what a running shop's would.
3. Phases, each ``seconds`` long: *steady* (nothing else happens); *swap*
   (the two versions are promoted in turn three times, at a quarter, half
   and three quarters of the phase, so the service loads, checks, replays
   and warms a model while serving; a
   promotion made while the previous load still runs can be overtaken, so
   ``swaps_completed`` counts the swaps the service actually made, once it
   serves the last promoted version);
   *uncached* (every request also excludes a random item, so no answer
   comes from the cache: the cost of computing one).
4. An error is any non-2xx answer or any socket error (connect, read, write,
   timeout). Latency percentiles are wrk's, from request sent to answer read.

Both phases run on the same two cores: wrk takes one, the service the other.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from retain.artifacts import current_version, promote, publish
from retain.benchmarking import machine
from retain.data.store import Store
from retain.errors import ConfigError, NotFoundError
from retain.recommend.scoring import MODEL_KIND, load_current
from retain.serve.keys import create_key, revoke_key

__all__ = ["run_serve_benchmark", "running_service"]

#: Promotions during the swap phase (odd: the phase ends on the other version).
PROMOTIONS = 3


def run_serve_benchmark(
    data_dir: Path | None = None,
    *,
    seconds: float = 20.0,
    connections: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the three phases and return the figures (see the module doc)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise ConfigError("the serve benchmark drives the service with wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="retain-bench-serve-") as scratch:
        shop = _shop(data_dir, Path(scratch))
        users, items = _catalogue(shop)
        versions = _two_versions(shop / "models")
        with Store.open(shop / "retain.duckdb") as store:
            key, secret = create_key(store, "bench-serve", "admin", 1e9)
        try:
            with running_service(shop) as base:
                rng = random.Random(seed)
                script = Path(scratch) / "load.lua"
                _write_script(script, secret, users, [], rng)
                _warm_up(base, secret, users)
                steady = _wrk(wrk, base, script, connections, seconds)
                before = _get_json(f"{base}/v1/models", secret)["recommend"]["swaps"]
                swap = _with_swaps(wrk, base, script, connections, seconds, shop, versions)
                settled = _settled(base, secret, shop)
                swap["swaps_completed"] = settled["swaps"] - before
                recent = settled["recent_load_seconds"]
                done = swap["swaps_completed"]
                swap["swap_seconds"] = recent[len(recent) - done :] if done > 0 else []
                _write_script(script, secret, users, items, rng)
                uncached = _wrk(wrk, base, script, connections, seconds)
                served = _get_json(f"{base}/v1/models", secret)["recommend"]
        finally:
            with Store.open(shop / "retain.duckdb") as store:
                revoke_key(store, key.key_id)
            promote(shop / "models", MODEL_KIND, versions[0])
    return {
        "benchmark": "serve",
        "metrics": {
            "rps": steady["rps"],
            "p50_ms": steady["p50_ms"],
            "p99_ms": steady["p99_ms"],
            "errors": steady["errors"],
            "errors_during_swap": swap["errors"],
            "rps_during_swap": swap["rps"],
            "p50_ms_during_swap": swap["p50_ms"],
            "p99_ms_during_swap": swap["p99_ms"],
            "promotions_during_swap": swap["swaps"],
            "swaps_completed": swap["swaps_completed"],
            "swap_seconds": swap["swap_seconds"],
        },
        "phases": {"steady": steady, "swap": swap, "uncached": uncached},
        "service": {"refused": served["refused"]},
        "protocol": {
            "seconds_per_phase": seconds,
            "connections": connections,
            "users": len(users),
            "items": len(items),
            "request": "GET /v1/users/{id}/recommendations?k=10 with X-API-Key",
            "generator": "wrk, closed loop, 1 thread",
            "workers": 1,
            "shop": str(shop),
        },
        "machine": machine(),
    }


def _shop(data_dir: Path | None, scratch: Path) -> Path:
    """The shop to serve: ``data_dir`` when it has a recommender, else a new demo shop."""
    if data_dir is not None:
        try:
            current_version(data_dir / "models", MODEL_KIND)
            return data_dir
        except NotFoundError:
            pass
    from retain.main_job import run_main_job

    shop = scratch / "demo"
    with Store.open(shop / "retain.duckdb") as store:
        run_main_job(store, shop)
    return shop


def _catalogue(shop: Path) -> tuple[list[str], list[str]]:
    with Store.open(shop / "retain.duckdb", read_only=True) as store:
        users = [r[0] for r in store.execute("SELECT DISTINCT user_id FROM events").fetchall()]
        items = [r[0] for r in store.execute("SELECT item_id FROM items").fetchall()]
    return sorted(users), sorted(items)


def _two_versions(root: Path) -> tuple[str, str]:
    """The serving recommender and a variant of it (no new-item slot), both stored."""
    serving = current_version(root, MODEL_KIND)
    rec = load_current(root)
    rec.settings = replace(rec.settings, new_item_slots=1 - min(rec.settings.new_item_slots, 1))
    variant = publish(root, MODEL_KIND, rec.save)
    promote(root, MODEL_KIND, serving)
    return serving, variant


@contextmanager
def running_service(shop: Path) -> Iterator[str]:
    """``retain serve`` in its own process; yields its base URL, stops it on the way out."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RETAIN_DATA_DIR": str(shop), "RETAIN_SERVICE__MODEL_POLL_SECONDS": "0.2"}
    env.pop("RETAIN_CONFIG", None)
    # A file, not a pipe: nobody reads stderr while it runs, and a full pipe would block it.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "retain.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for_health(base, process, errors)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_health(base: str, process: subprocess.Popen[bytes], errors: Any) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"the service exited: {errors.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the service did not answer /healthz within 180 s")


def _settled(base: str, key: str, shop: Path, wait: float = 60.0) -> Any:
    """The recommender's state once it serves the current version with no load under way.

    A version promoted and overtaken during the phase may still be loading
    while the one serving already is the current one; its swap, and the swap
    back, count only once they are done.
    """
    wanted = current_version(shop / "models", MODEL_KIND)
    deadline = time.monotonic() + wait
    while True:
        state = _get_json(f"{base}/v1/models", key)["recommend"]
        done = state["serving"] == wanted and state["loading"] is None
        if done or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def _warm_up(base: str, key: str, users: list[str]) -> None:
    """One request per user, unmeasured: the cache then holds what a running shop's would."""
    from urllib.parse import quote

    for user in users:
        _get_json(f"{base}/v1/users/{quote(user, safe='')}/recommendations?k=10", key)


def _get_json(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _lua_list(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def _write_script(
    path: Path, key: str, users: list[str], exclude: list[str], rng: random.Random
) -> None:
    """A wrk script: users in turn; with ``exclude``, a random excluded item per request."""
    from urllib.parse import quote

    order = users[:]
    rng.shuffle(order)
    path.write_text(
        f"""
local users = {_lua_list([quote(u, safe="") for u in order])}
local items = {_lua_list([quote(i, safe="") for i in exclude])}
local n = 0
math.randomseed({rng.randrange(1 << 30)})
request = function()
  n = n + 1
  local path = "/v1/users/" .. users[(n % #users) + 1] .. "/recommendations?k=10"
  if #items > 0 then path = path .. "&exclude=" .. items[math.random(#items)] end
  return wrk.format("GET", path, {{["X-API-Key"] = {json.dumps(key)}}})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
""",
        encoding="utf-8",
    )


def _wrk(wrk: str, base: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    errors = sum(raw[k] for k in ("status", "connect", "read", "write", "timeout"))
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "error_kinds": {k: raw[k] for k in ("status", "connect", "read", "write", "timeout")},
    }


def _with_swaps(
    wrk: str,
    base: str,
    script: Path,
    connections: int,
    seconds: float,
    shop: Path,
    versions: tuple[str, str],
) -> dict[str, Any]:
    """A load phase during which the two versions are promoted in turn."""
    import threading

    swaps = 0
    stop = threading.Event()

    def swapper() -> None:
        # Three promotions, at a quarter, half and three quarters of the phase:
        # an odd number, so the phase ends on the other version and at least
        # one swap has to happen however the watcher's polls fall.
        nonlocal swaps
        for _ in range(PROMOTIONS):
            if stop.wait(seconds / (PROMOTIONS + 1)):
                return
            promote(shop / "models", MODEL_KIND, versions[(swaps + 1) % 2])
            swaps += 1

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        result = _wrk(wrk, base, script, connections, seconds)
    finally:
        stop.set()
        thread.join()
    return {**result, "swaps": swaps}
