"""Request metrics in the Prometheus text format, and the body-size guard.

Both are plain ASGI middleware (no per-request task or copy of the body), so
they cost microseconds on the hot recommendation path. Requests are counted
by route template (``/v1/users/{user_id}/recommendations``), never by raw
path, so a caller cannot blow up the number of series, and no user id ever
reaches the metrics.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["BodyLimit", "Metrics", "RequestMetrics"]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

#: Latency buckets in seconds (upper bounds).
_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Counters and latency histograms, safe to update from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[tuple[str, str], list[int]] = {}
        self._latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.counters: dict[str, float] = defaultdict(float)
        self.gauges: dict[tuple[str, str], float] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self._latency.setdefault((method, route), [0] * (len(_BUCKETS) + 1))
            counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
            self._latency_sum[(method, route)] += seconds

    def add(self, name: str, amount: float = 1.0) -> None:
        with self._lock:
            self.counters[name] += amount

    def render(self) -> str:
        """Everything, in the Prometheus text exposition format 0.0.4."""
        lines = [
            "# HELP retain_http_requests_total Requests answered, by route and status.",
            "# TYPE retain_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                labels = f'method="{method}",route={_quote(route)},status="{status}"'
                lines.append(f"retain_http_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP retain_http_request_seconds Time to answer, by route.",
                "# TYPE retain_http_request_seconds histogram",
            ]
            for (method, route), counts in sorted(self._latency.items()):
                labels = f'method="{method}",route={_quote(route)}'
                running = 0
                for bound, n in zip((*_BUCKETS, float("inf")), counts, strict=True):
                    running += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(
                        f'retain_http_request_seconds_bucket{{{labels},le="{le}"}} {running}'
                    )
                lines.append(f"retain_http_request_seconds_count{{{labels}}} {running}")
                total = self._latency_sum[(method, route)]
                lines.append(f"retain_http_request_seconds_sum{{{labels}}} {total:.6f}")
            for name, value in sorted(self.counters.items()):
                lines += [f"# TYPE {name} counter", f"{name} {value:g}"]
            for (name, labels_text), value in sorted(self.gauges.items()):
                lines.append(f"{name}{{{labels_text}}} {value:g}")
        return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return json.dumps(value)


class RequestMetrics:
    """Counts every HTTP request by route template and status, with its latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - start)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def counting() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, counting, send)
        except _BodyTooLargeError:
            await _too_large(send, self.max_bytes)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"request body is over the limit of {limit:,} bytes; send smaller batches"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
