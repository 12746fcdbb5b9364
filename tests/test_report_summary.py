"""Summaries of score records: grouping, statistics per group, gap closed, pivot tables."""

from __future__ import annotations

import statistics

from tvd.report.summary import add_gap_closed, gap_closed, group_by, pivot, summarise
from tvd.report.table import format_table

RECORDS = [
    {"method": "full", "intent": "A", "seed": 0, "f1": 0.9},
    {"method": "real10", "intent": "A", "seed": 0, "f1": 0.5},
    {"method": "real10", "intent": "B", "seed": 0, "f1": 0.3},
    {"method": "icl", "intent": "A", "seed": 0, "f1": 0.7},
    {"method": "icl", "intent": "A", "seed": 1, "f1": 0.8},
    {"method": "full", "intent": "B", "seed": 0, "f1": 0.7},
]


def test_group_by_keeps_first_seen_order() -> None:
    groups = group_by(RECORDS, "method")
    assert list(groups) == [("full",), ("real10",), ("icl",)]
    assert [r["f1"] for r in groups[("icl",)]] == [0.7, 0.8]
    assert list(group_by(RECORDS, "method", "intent"))[:3] == [("full", "A"), ("real10", "A"), ("real10", "B")]


def test_summarise_means_and_other_statistics() -> None:
    rows = summarise(RECORDS, ["method"], ["f1"])
    assert rows[0] == {"method": "full", "n": 2, "f1": statistics.fmean([0.9, 0.7])}
    medians = summarise(RECORDS, ["method"], ["f1", "seed"], statistics.median, prefix="median_", count="runs")
    assert medians[2] == {"method": "icl", "runs": 2, "median_f1": 0.75, "median_seed": 0.5}
    assert "n" not in summarise(RECORDS, ["method"], ["f1"], count=None)[0]


def test_gap_closed() -> None:
    assert gap_closed(0.7, 0.5, 0.9) == (0.7 - 0.5) / (0.9 - 0.5)
    assert gap_closed(0.5, 0.5, 0.9) == 0.0 and gap_closed(0.4, 0.5, 0.9) < 0
    assert gap_closed(0.7, 0.5, 0.5) is None


def test_add_gap_closed_uses_the_reference_rows() -> None:
    rows = summarise(RECORDS, ["method"], ["f1"])
    add_gap_closed(rows, "method", "real10", "full", ["f1"])
    by = {row["method"]: row for row in rows}
    assert by["real10"]["gap_closed_f1"] == 0.0 and by["full"]["gap_closed_f1"] == 1.0
    assert by["icl"]["gap_closed_f1"] == gap_closed(by["icl"]["f1"], by["real10"]["f1"], by["full"]["f1"])
    without_reference = add_gap_closed(summarise(RECORDS[1:5], ["method"], ["f1"]), "method", "real10", "full", ["f1"])
    assert all("gap_closed_f1" not in row for row in without_reference)


def test_pivot_lays_out_cells_and_leaves_gaps() -> None:
    rows = pivot(RECORDS, "intent", "method", lambda rs: len(rs), columns=["real10", "icl", "full"])
    assert rows == [{"intent": "A", "real10": 1, "icl": 2, "full": 1}, {"intent": "B", "real10": 1, "full": 1}]
    assert pivot(RECORDS, "intent", "method", len, rows=["B"])[0] == {"intent": "B", "full": 1, "real10": 1}
    table = format_table(rows, ["intent", "real10", "icl", "full"])
    assert table.splitlines()[-1].split() == ["B", "1", "-", "1"]


def test_paired_difference_pairs_cells_and_gives_the_standard_error() -> None:
    from tvd.report.summary import paired_difference

    records = [
        {"method": "a", "intent": "X", "seed": 0, "f1": 0.5},
        {"method": "b", "intent": "X", "seed": 0, "f1": 0.4},
        {"method": "a", "intent": "X", "seed": 1, "f1": 0.9},
        {"method": "b", "intent": "X", "seed": 1, "f1": 0.6},
        {"method": "a", "intent": "Y", "seed": 0, "f1": 0.2},  # no partner: left out
    ]
    got = paired_difference(records, "method", "a", "b", "f1")
    assert got is not None and got["pairs"] == 2
    assert abs(got["mean"] - 0.2) < 1e-12
    # differences 0.1 and 0.3: sample sd 0.1414..., se = sd / sqrt(2) = 0.1
    assert abs(got["se"] - 0.1) < 1e-12
    assert paired_difference(records[:2], "method", "a", "b", "f1") is None
