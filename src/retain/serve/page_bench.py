"""``retain bench pages``: how long each dashboard page takes on the shop in the data directory.

Protocol (stated again in the JSON):

1. The service runs as its own process (``retain serve``, one uvicorn
   worker) on 127.0.0.1 over the shop in ``data_dir``, exactly as
   ``retain bench serve`` starts it; nothing is built or trained first, so
   the figures are those of the shop as it is.
2. Pages: every page of the navigation, the weekly cohorts, the cohorts split
   by RFM segment, and, read from those pages' own links, the first RFM
   segment's page, the largest learned and taste segments' pages, the first at-risk
   customer's page and the newest campaign's page.
3. Each page is fetched once unmeasured (templates, Plotly and lazy imports
   load then), then ``repeats`` times in a row; a fetch is timed from the
   request to the last byte of the answer. The JSON keeps every time, the
   median and the slowest, in seconds, and the HTTP status.
"""

from __future__ import annotations

import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from retain.benchmarking import machine
from retain.data.store import Store
from retain.errors import InvalidInputError, NotFoundError
from retain.serve.bench import running_service

__all__ = ["run_pages_benchmark"]

FIXED_PAGES = (
    "/",
    "/cohorts",
    "/cohorts?period=week",
    "/cohorts?by=rfm",
    "/at-risk",
    "/segments",
    "/campaigns",
    "/experiments",
    "/recommendations",
    "/reviews",
    "/handoffs",
    "/unanswered",
)
#: Pages found through a link on another page: (name, page holding the link, link prefix).
LINKED_PAGES = (
    ("an RFM segment", "/segments", "/segments/rfm/"),
    ("the largest learned segment", "/segments", "/segments/cluster/"),
    ("the largest taste segment", "/segments", "/segments/taste/"),
    ("the first at-risk customer", "/at-risk", "/customers/"),
    ("the newest campaign", "/campaigns", "/campaigns/"),
)


def run_pages_benchmark(data_dir: Path, *, repeats: int = 5) -> dict[str, Any]:
    """Time every dashboard page on the shop in ``data_dir`` (see the module doc).

    Raises:
        InvalidInputError: ``repeats`` is below 1.
        NotFoundError: ``data_dir`` holds no store.
    """
    if repeats < 1:
        raise InvalidInputError(f"repeats must be at least 1; got {repeats}")
    path = data_dir / "retain.duckdb"
    if not path.is_file():
        raise NotFoundError(f"no store at {path}; run `retain run` or `retain ingest` first")
    with Store.open(path, read_only=True) as store:
        counts = store.counts()
        customers = int(store.query_df("SELECT count(DISTINCT user_id) AS n FROM orders").n[0])
    pages: dict[str, dict[str, Any]] = {}
    with running_service(data_dir) as base:
        bodies: dict[str, str] = {}
        for page in FIXED_PAGES:
            pages[page], bodies[page] = _time_page(base, page, repeats)
        for name, holder, prefix in LINKED_PAGES:
            link = _first_link(bodies.get(holder, ""), prefix)
            if link is None:
                pages[name] = {"url": None, "skipped": f"no {prefix} link on {holder}"}
                continue
            timed, _ = _time_page(base, link, repeats)
            pages[name] = {"url": link, **timed}
    return {
        "benchmark": "pages",
        "protocol": (__doc__ or "").split("Protocol (stated again in the JSON):")[1].strip(),
        "data_dir": str(data_dir),
        "customers": customers,
        "rows": counts,
        "repeats": repeats,
        "pages": pages,
        "machine": machine(),
    }


def _time_page(base: str, page: str, repeats: int) -> tuple[dict[str, Any], str]:
    status, body = _fetch(base + page)  # unmeasured: templates and lazy imports load here
    seconds = []
    for _ in range(repeats):
        tick = time.perf_counter()
        status, body = _fetch(base + page)
        seconds.append(round(time.perf_counter() - tick, 4))
    timed = {
        "status": status,
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "seconds": seconds,
    }
    return timed, body


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=300) as answer:
            return int(answer.status), answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", errors="replace")


def _first_link(html: str, prefix: str) -> str | None:
    """The first ``href`` on ``html`` that starts with ``prefix``, as written there."""
    marker = f'href="{prefix}'
    if marker not in html:
        return None
    return prefix + html.split(marker, 1)[1].split('"', 1)[0]
