"""Service metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

Exposed at ``GET /metrics``:

- ``audiocnn_requests_total{endpoint, status}``: answered requests;
- ``audiocnn_request_duration_seconds{endpoint}``: histogram of time from the request's arrival
  to its answer;
- ``audiocnn_errors_total{endpoint, type}``: error answers by error type (``too_large``,
  ``overloaded``, ``timeout`` ...);
- ``audiocnn_batch_size{kind}``: histogram of requests per forward pass;
- ``audiocnn_batch_duration_seconds{kind}``: histogram of handler time per batch;
- ``audiocnn_queue_depth``, ``audiocnn_ready``: gauges read when scraped.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

__all__ = ["CONTENT_TYPE", "Histogram", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


def _num(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Histogram:
    """Cumulative-bucket histogram of one label set (``observe`` a value, ``lines`` to print)."""

    def __init__(self, buckets: Sequence[float]):
        self.bounds = tuple(sorted(float(b) for b in buckets)) + (math.inf,)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, b in enumerate(self.bounds):
            if value <= b:
                self.counts[i] += 1
                break
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: Sequence[tuple[str, str]]) -> list[str]:
        out, cum = [], 0
        for b, c in zip(self.bounds, self.counts):
            cum += c
            out.append(f"{name}_bucket{_labels([*labels, ('le', _num(b))])} {cum}")
        out.append(f"{name}_sum{_labels(labels)} {_num(self.sum)}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


class Metrics:
    """Thread-safe counters and histograms of the service (see the module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.batch_size: dict[str, Histogram] = {}
        self.batch_seconds: dict[str, Histogram] = {}

    def observe_request(self, endpoint: str, status: int, seconds: float, error_type: str | None = None) -> None:
        with self._lock:
            key = (endpoint, str(int(status)))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)
            if error_type is not None:
                ekey = (endpoint, error_type)
                self.errors[ekey] = self.errors.get(ekey, 0) + 1

    def observe_batch(self, kind: str, size: int, seconds: float) -> None:
        with self._lock:
            self.batch_size.setdefault(kind, Histogram(BATCH_BUCKETS)).observe(size)
            self.batch_seconds.setdefault(kind, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> str:
        """The exposition text. ``gauges``: name -> (help, value), read at scrape time."""
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("audiocnn_requests_total", "counter", "Answered requests by endpoint and HTTP status.")
            for (ep, st), n in sorted(self.requests.items()):
                out.append(f"audiocnn_requests_total{_labels([('endpoint', ep), ('status', st)])} {n}")
            family("audiocnn_errors_total", "counter", "Error answers by endpoint and error type.")
            for (ep, ty), n in sorted(self.errors.items()):
                out.append(f"audiocnn_errors_total{_labels([('endpoint', ep), ('type', ty)])} {n}")
            family("audiocnn_request_duration_seconds", "histogram", "Time from a request's arrival to its answer, seconds.")
            for ep, h in sorted(self.latency.items()):
                out += h.lines("audiocnn_request_duration_seconds", [("endpoint", ep)])
            family("audiocnn_batch_size", "histogram", "Requests merged into one model call.")
            for kind, h in sorted(self.batch_size.items()):
                out += h.lines("audiocnn_batch_size", [("kind", kind)])
            family("audiocnn_batch_duration_seconds", "histogram", "Model time per batch, seconds.")
            for kind, h in sorted(self.batch_seconds.items()):
                out += h.lines("audiocnn_batch_duration_seconds", [("kind", kind)])
        for name, (help_, value) in sorted((gauges or {}).items()):
            family(name, "gauge", help_)
            out.append(f"{name} {_num(value)}")
        return "\n".join(out) + "\n"
