"""Latency of a student at batch 1: milliseconds per ``predict([text])``, tokenisation and decoding included.

:func:`predict_latencies_ms` times one prediction per text; :func:`latency_summary` gives the nearest-rank
p50 / p99 (:func:`percentile`: a value that occurred, no interpolation) and the mean of such timings.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from tvd.students.base import Student


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def predict_latencies_ms(student: Student, texts: Iterable[str]) -> list[float]:
    """Milliseconds of ``student.predict([text])`` for each text, in order."""
    times = []
    for text in texts:
        started = time.perf_counter()
        student.predict([text])
        times.append((time.perf_counter() - started) * 1000)
    return times


def latency_summary(times_ms: Sequence[float]) -> dict[str, float]:
    """``p50_ms``, ``p99_ms`` and ``mean_ms`` of per-prediction timings."""
    mean = sum(times_ms) / len(times_ms)
    return {"p50_ms": percentile(times_ms, 50), "p99_ms": percentile(times_ms, 99), "mean_ms": mean}
