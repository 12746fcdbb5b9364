"""Batch-1 latency of a student: one timing per prediction, nearest-rank percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tvd.data.utterance import Utterance
from tvd.evaluate.latency import latency_summary, percentile, predict_latencies_ms


class _Counting:
    """A stand-in student that records what it was asked to predict."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, items: Sequence[str]) -> list[Utterance]:
        self.calls.append(list(items))
        return [Utterance(text, "Intent") for text in items]


def test_percentile_is_the_nearest_rank() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0 and percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile(values, 99) == 5.0 and percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_one_prediction_per_text_at_batch_one() -> None:
    student = _Counting()
    times = predict_latencies_ms(student, ["a b", "c", "d e f"])  # type: ignore[arg-type]
    assert student.calls == [["a b"], ["c"], ["d e f"]]
    assert len(times) == 3 and all(t >= 0 for t in times)


def test_latency_summary() -> None:
    assert latency_summary([4.0, 1.0, 2.0, 3.0]) == {"p50_ms": 3.0, "p99_ms": 4.0, "mean_ms": 2.5}
