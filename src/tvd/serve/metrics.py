"""The few Prometheus metrics ``tvd serve`` exports, written in the text exposition format (version 0.0.4).

Small enough not to need ``prometheus_client``: counters with labels and one histogram, updated from the event
loop only (so without locks).  Each server process (each ``--workers`` worker) counts its own requests.
"""

from __future__ import annotations

import math
from collections import defaultdict

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Latency buckets in seconds: sub-millisecond CRF answers up to slow batches.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class ServeMetrics:
    """Request counts by endpoint and status, request latency by endpoint, utterances parsed, student errors."""

    def __init__(self, model_kind: str) -> None:
        self.model_kind = model_kind
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sums: dict[str, float] = defaultdict(float)
        self.utterances_parsed = 0
        self.prediction_errors = 0

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request and add its latency to the histogram."""
        self.requests[(endpoint, method, status)] += 1
        counts = self.latency_counts.setdefault(endpoint, [0] * (len(LATENCY_BUCKETS) + 1))
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                counts[index] += 1
                break
        else:
            counts[-1] += 1
        self.latency_sums[endpoint] += seconds

    def render(self) -> str:
        """All metrics in the Prometheus text format."""
        lines = [
            "# HELP tvd_requests_total HTTP requests answered, by endpoint, method and status code.",
            "# TYPE tvd_requests_total counter",
        ]
        for (endpoint, method, status), count in sorted(self.requests.items()):
            labels = _labels((("endpoint", endpoint), ("method", method), ("status", str(status))))
            lines.append(f"tvd_requests_total{labels} {count}")
        lines += [
            "# HELP tvd_request_duration_seconds Time from request start to response end, by endpoint.",
            "# TYPE tvd_request_duration_seconds histogram",
        ]
        for endpoint in sorted(self.latency_counts):
            counts = self.latency_counts[endpoint]
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), counts, strict=True):
                cumulative += count
                labels = _labels((("endpoint", endpoint), ("le", _number(bound))))
                lines.append(f"tvd_request_duration_seconds_bucket{labels} {cumulative}")
            labels = _labels((("endpoint", endpoint),))
            lines.append(f"tvd_request_duration_seconds_sum{labels} {self.latency_sums[endpoint]!r}")
            lines.append(f"tvd_request_duration_seconds_count{labels} {cumulative}")
        lines += [
            "# HELP tvd_utterances_parsed_total Utterances the student parsed successfully.",
            "# TYPE tvd_utterances_parsed_total counter",
            f"tvd_utterances_parsed_total {self.utterances_parsed}",
            "# HELP tvd_prediction_errors_total Requests on which the student raised (answered 500).",
            "# TYPE tvd_prediction_errors_total counter",
            f"tvd_prediction_errors_total {self.prediction_errors}",
            "# HELP tvd_model_info The student being served.",
            "# TYPE tvd_model_info gauge",
            f"tvd_model_info{_labels((('kind', self.model_kind),))} 1",
        ]
        return "\n".join(lines) + "\n"
