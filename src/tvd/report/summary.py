"""Summaries of score records: groups, statistics per group, the share of a gap a method closes, pivot tables.

A *record* is a flat dict (one trained student, one benchmark cell, one timed run).  :func:`group_by` groups
records by some of their keys in first-seen order; :func:`summarise` turns each group into one row of
statistics; :func:`gap_closed` is the share of the distance from a low reference (e.g. 10 real examples) to a
high one (all the data) that a method covers; :func:`pivot` lays one score out as rows x columns, ready for
:func:`tvd.report.table.format_table`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]


def group_by(records: Iterable[Record], *keys: str) -> dict[tuple[Any, ...], list[Record]]:
    """Records grouped by the values of ``keys``, groups in the order their first record comes."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for record in records:
        groups.setdefault(tuple(record[key] for key in keys), []).append(record)
    return groups


def summarise(
    records: Iterable[Record],
    by: Sequence[str],
    values: Sequence[str],
    statistic: Callable[[Iterable[Any]], Any] = statistics.fmean,
    *,
    prefix: str = "",
    count: str | None = "n",
) -> list[dict[str, Any]]:
    """One row per group of :func:`group_by`: the ``by`` keys, the group size under ``count`` (none when
    ``count`` is None) and ``statistic`` (default: the mean) of each of ``values``, named ``prefix + value``."""
    rows = []
    for group, members in group_by(records, *by).items():
        row: dict[str, Any] = dict(zip(by, group, strict=True))
        if count is not None:
            row[count] = len(members)
        row.update({prefix + value: statistic(m[value] for m in members) for value in values})
        rows.append(row)
    return rows


def gap_closed(value: float, low: float, high: float) -> float | None:
    """The share of the ``low`` -> ``high`` gap that ``value`` closes (1: reaches ``high``, 0: no better than
    ``low``, negative: worse); None when there is no gap."""
    gap = high - low
    return (value - low) / gap if gap else None


def add_gap_closed(
    rows: Sequence[dict[str, Any]], key: str, low: str, high: str, values: Sequence[str]
) -> Sequence[dict[str, Any]]:
    """Add ``gap_closed_<value>`` to every row, the ``low`` and ``high`` references being the rows whose
    ``key`` is ``low`` / ``high``; rows are left as they are when either reference is missing."""
    by_name = {row[key]: row for row in rows}
    if low in by_name and high in by_name:
        for row in rows:
            for value in values:
                row[f"gap_closed_{value}"] = gap_closed(row[value], by_name[low][value], by_name[high][value])
    return rows


def pivot(
    records: Iterable[Record],
    row_key: str,
    column_key: str,
    cell: Callable[[list[Record]], Any],
    *,
    rows: Sequence[Any] | None = None,
    columns: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per value of ``row_key`` (``rows`` when given, else first-seen order) with one cell per value
    of ``column_key`` (``columns`` when given): ``cell`` of the records in that row and column; cells without
    records are left out (shown as ``-`` by ``format_table``)."""
    groups = group_by(records, row_key, column_key)
    row_values = list(rows) if rows is not None else list(dict.fromkeys(r for r, _ in groups))
    column_values = list(columns) if columns is not None else list(dict.fromkeys(c for _, c in groups))
    table = []
    for row_value in row_values:
        row: dict[str, Any] = {row_key: row_value}
        for column in column_values:
            members = groups.get((row_value, column))
            if members:
                row[column] = cell(members)
        table.append(row)
    return table


def paired_difference(
    records: Iterable[Record],
    key: str,
    a: Any,
    b: Any,
    value: str,
    *,
    pair_by: Sequence[str] = ("intent", "seed"),
) -> dict[str, Any] | None:
    """The mean over pairs of ``value(a) - value(b)``, pairs being records of ``key`` ``a`` and ``b`` that share
    ``pair_by`` (a benchmark cell), with its standard error (sample standard deviation / sqrt(pairs)) and the
    number of pairs; None when fewer than two pairs exist.  Pairing removes the cell-to-cell spread that the two
    methods share, which is most of it."""
    left: dict[tuple[Any, ...], float] = {}
    right: dict[tuple[Any, ...], float] = {}
    for record in records:
        cell = tuple(record[k] for k in pair_by)
        if record[key] == a:
            left[cell] = record[value]
        elif record[key] == b:
            right[cell] = record[value]
    diffs = [left[cell] - right[cell] for cell in left if cell in right]
    if len(diffs) < 2:
        return None
    return {
        "mean": statistics.fmean(diffs),
        "se": statistics.stdev(diffs) / len(diffs) ** 0.5,
        "pairs": len(diffs),
    }
