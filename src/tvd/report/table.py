"""Plain-text tables of scores, for terminals and Markdown-free logs.

Cells of :func:`format_table` are rendered by type: a ``float`` is a proportion shown as a percentage
with one decimal (``0.9812`` -> ``98.1``); a ``(value, stderr)`` pair, or a float whose row also holds
``<column>_se``, is shown as ``98.1 ± 0.5``; an ``int`` is shown as is (counts); ``None`` as ``-``; a
string unchanged (pre-formatted cells such as deltas).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tvd.evaluate.metrics import Metrics

Column = str | tuple[str, str]  # a row key, or (row key, header)


def format_percent(value: float | None, se: float | None = None, *, signed: bool = False) -> str:
    """``value`` (a proportion) as a percentage with one decimal, ``± se`` when given, ``+`` when signed."""
    if value is None:
        return "-"
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    if se is not None:
        text += f" ± {100 * se:.1f}"
    return text


def _cell(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple) and len(value) == 2:
        return format_percent(value[0], value[1])
    if isinstance(value, float):
        se = row.get(f"{key}_se")
        return format_percent(value, se if isinstance(se, float) else None)
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None = None) -> str:
    """Render ``rows`` as an aligned text table with the given columns (first column left-aligned)."""
    keys = [c if isinstance(c, str) else c[0] for c in columns]
    headers = [c if isinstance(c, str) else c[1] for c in columns]
    body = [[_cell(row, key) for key in keys] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = []
    if title:
        out += [title, "=" * len(title)]
    out += [line(headers), rule, *(line(r) for r in body)]
    return "\n".join(out) + "\n"


def comparison_table(named_metrics: Mapping[str, Metrics], focus_intent: str | None = None) -> str:
    """One column per run: intent accuracy, slot F1, sentence accuracy, and the focus intent's recall,
    precision and slot F1 (restricted to its gold utterances), each ``± stderr``.  With exactly two runs a
    ``delta`` column gives the second minus the first, in points.
    """
    names = list(named_metrics)
    metrics = [named_metrics[name] for name in names]
    getters: list[tuple[str, Any]] = [
        ("intent accuracy", lambda m: (m.intent_accuracy, m.intent_accuracy_se)),
        ("slot F1", lambda m: (m.slots.f1, m.slots.f1_se)),
        ("sentence accuracy", lambda m: (m.sentence_accuracy, m.sentence_accuracy_se)),
    ]
    if focus_intent is not None:

        def intent_score(m: Metrics, field: str) -> tuple[float, float] | None:
            scores = m.per_intent.get(focus_intent)
            if scores is None:
                return None
            return getattr(scores, field), getattr(scores, f"{field}_se")

        def intent_slots(m: Metrics) -> tuple[float, float] | None:
            scores = m.per_intent_slots.get(focus_intent)
            return (scores.f1, scores.f1_se) if scores is not None else None

        getters += [
            (f"{focus_intent} recall", lambda m: intent_score(m, "recall")),
            (f"{focus_intent} precision", lambda m: intent_score(m, "precision")),
            (f"{focus_intent} slot F1", intent_slots),
        ]
    rows: list[dict[str, Any]] = []
    for label, get in getters:
        row: dict[str, Any] = {"metric": label}
        values = [get(m) for m in metrics]
        for k, value in enumerate(values):
            row[f"run{k}"] = value
        if len(values) == 2:
            row["delta"] = format_percent(values[1][0] - values[0][0], signed=True) if None not in values else None
        rows.append(row)
    rows.append({"metric": "test utterances", **{f"run{k}": m.n for k, m in enumerate(metrics)}, "delta": ""})
    # Runs are keyed by position so that a run called "metric" or "delta" cannot clash with those columns.
    columns: list[Column] = ["metric", *((f"run{k}", name) for k, name in enumerate(names))]
    if len(names) == 2:
        columns.append("delta")
    title = "Comparison" + (f" (focus: {focus_intent})" if focus_intent else "")
    return format_table(rows, columns, title=title)


def per_intent_table(metrics: Metrics, title: str | None = "Per intent") -> str:
    """One row per intent: support, predictions, precision, recall and F1 of the intent, and slot F1 over
    the utterances whose gold intent it is (``-`` for an intent only ever predicted)."""
    rows = []
    for intent, scores in sorted(metrics.per_intent.items()):
        slots = metrics.per_intent_slots.get(intent)
        rows.append(
            {
                "intent": intent,
                "support": scores.support,
                "predicted": scores.predicted,
                "precision": (scores.precision, scores.precision_se),
                "recall": (scores.recall, scores.recall_se),
                "f1": scores.f1,
                "slot_f1": (slots.f1, slots.f1_se) if slots is not None else None,
            }
        )
    columns: list[Column] = [
        "intent",
        "support",
        "predicted",
        "precision",
        "recall",
        ("f1", "F1"),
        ("slot_f1", "slot F1"),
    ]
    return format_table(rows, columns, title=title)
