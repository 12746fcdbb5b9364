"""Plain-text tables and the run comparison table."""

from __future__ import annotations

from tvd.data.utterance import Span, Utterance
from tvd.evaluate import evaluate
from tvd.report.table import comparison_table, format_percent, format_table, per_intent_table


def test_format_percent() -> None:
    assert format_percent(0.98123) == "98.1"
    assert format_percent(0.5, 0.0123) == "50.0 ± 1.2"
    assert format_percent(0.012, signed=True) == "+1.2"
    assert format_percent(-0.05, signed=True) == "-5.0"
    assert format_percent(None) == "-"


def test_format_table_renders_cells_by_type_and_aligns() -> None:
    rows = [
        {"run": "baseline", "acc": 0.9, "acc_se": 0.01, "f1": (0.5, 0.02), "n": 700},
        {"run": "augmented", "acc": 0.955, "f1": None, "n": 12},
    ]
    text = format_table(rows, ["run", ("acc", "intent acc"), "f1", "n"], title="Results")
    lines = text.splitlines()
    assert lines[0] == "Results" and lines[1] == "======="
    assert lines[2].split() == ["run", "intent", "acc", "f1", "n"]
    assert lines[4].split() == ["baseline", "90.0", "±", "1.0", "50.0", "±", "2.0", "700"]
    assert lines[5].split() == ["augmented", "95.5", "-", "12"]
    # right-aligned numeric columns: every line but the title has the same width up to its last column
    assert len(lines[4]) == len(lines[5]) == len(lines[2])
    assert lines[5].startswith("augmented ")


def _run(intent_right: int) -> list[Utterance]:
    """Four GetWeather and four PlayMusic utterances; ``intent_right`` of the weather ones predicted right."""
    out = []
    for i in range(4):
        intent = "GetWeather" if i < intent_right else "PlayMusic"
        out.append(Utterance(f"weather in rome {i}", intent, (Span(11, 15, "city"),)))
    for i in range(4):
        out.append(Utterance(f"play adele {i}", "PlayMusic", (Span(5, 10, "artist"),)))
    return out


def test_comparison_table_with_delta() -> None:
    gold = _run(4)
    baseline, augmented = evaluate(gold, _run(1)), evaluate(gold, _run(3))
    text = comparison_table({"baseline": baseline, "augmented": augmented}, focus_intent="GetWeather")
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    assert text.splitlines()[0] == "Comparison (focus: GetWeather)"
    header = text.splitlines()[2].split()
    assert header == ["metric", "baseline", "augmented", "delta"]
    # intent accuracy 5/8 -> 7/8; weather recall 1/4 -> 3/4; precision 1/1 both; slot F1 100 both
    assert lines["intent accuracy"].split()[-1] == "+25.0"
    assert "62.5 ± 17.1" in lines["intent accuracy"] and "87.5 ± 11.7" in lines["intent accuracy"]
    assert lines["GetWeather recall"].split()[-1] == "+50.0"
    assert lines["GetWeather precision"].split()[-1] == "+0.0"
    assert lines["GetWeather slot F1"].split()[-1] == "+0.0"
    assert lines["test utterances"].split()[-2:] == ["8", "8"]


def test_comparison_table_single_run_and_unknown_focus() -> None:
    m = evaluate(_run(4), _run(4))
    text = comparison_table({"only": m}, focus_intent="BookRestaurant")
    assert "delta" not in text
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    assert lines["BookRestaurant recall"].split()[-1] == "-"
    assert comparison_table({"only": m}).count("\n") == 8  # title, rule, header, rule, 3 metrics, count


def test_per_intent_table() -> None:
    gold = _run(4)
    text = per_intent_table(evaluate(gold, _run(1)))
    rows = {line.split()[0]: line.split() for line in text.splitlines()[4:]}
    # GetWeather: 4 gold, 1 predicted (right): precision 100, recall 25 ± 21.7, F1 40, slots all right
    assert rows["GetWeather"] == [
        "GetWeather",
        "4",
        "1",
        "100.0",
        "±",
        "0.0",
        "25.0",
        "±",
        "21.7",
        "40.0",
        "100.0",
        "±",
        "0.0",
    ]
    # PlayMusic: 4 gold, 7 predicted, precision 4/7
    assert rows["PlayMusic"][1:4] == ["4", "7", "57.1"]
