"""The HTML run report's data: what a run directory holds, counted and shown once each, and the page around it."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from report_cases import MARKUP, make_run
from tvd.cli.main import main
from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_RUN_FILE, E_NOT_A_RUN_DIR, TvdError
from tvd.report.html import json_for_script, render_run_report, try_write_run_report, write_run_report
from tvd.report.run_data import (
    FAILED,
    FILTERED,
    KEPT,
    REJECTED,
    REVALUED,
    confusion_matrix,
    indent_tree,
    report_data,
    template_diversity,
    tree_spans,
)
from tvd.report.run_files import RunFiles, read_run_dir
from tvd.report.svg import Bar, BarGroup, bar_chart, nice_step


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report"))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "the report embeds its rows as JSON"
    return json.loads(match.group(1))


def test_the_run_job_writes_the_report_with_every_file_it_reads(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Content-Security-Policy" in html
    for name in ("run.json", "prompts.jsonl", "seeds.jsonl", "metrics.json"):
        assert (run_dir / name).is_file(), name
    predictions = _lines(run_dir / "predictions" / "augmented.jsonl")
    assert len(predictions) == json.loads((run_dir / "metrics.json").read_text())["test_size"] == 5
    assert {"text", "gold", "predicted"} <= set(predictions[0])


def test_row_counts_equal_the_lines_of_the_run_files(run_dir: Path) -> None:
    data = report_data(read_run_dir(run_dir))
    counts = data.status_counts()
    expected = {
        KEPT: len(_lines(run_dir / "generated.jsonl")),
        REVALUED: len(_lines(run_dir / "revalued.jsonl")),
        FILTERED: len(_lines(run_dir / "filtered.jsonl")),
        REJECTED: len(_lines(run_dir / "rejects.jsonl")),
        FAILED: len(_lines(run_dir / "failures.jsonl")),
    }
    assert counts == {status: n for status, n in expected.items() if n}
    assert all(counts.get(s, 0) > 0 for s in (KEPT, REVALUED, FILTERED, REJECTED))  # the toy run has each kind
    stats = json.loads((run_dir / "run.json").read_text())["stats"]
    fates = sum(o["count"] for o in data.outcomes if o["group"] != REVALUED)
    assert fates == stats["planned"] - stats["unsent"] == 20  # every completion in exactly one bar
    filters = {o["label"]: o["count"] for o in data.outcomes if o["group"] == FILTERED}
    assert filters == json.loads((run_dir / "metrics.json").read_text())["filters"]  # chain order, zeros included
    assert list(filters) == ["exact_duplicate", "seed_duplicate", "template_duplicate"]


def test_every_generated_utterance_appears_once_with_its_slots(run_dir: Path) -> None:
    data = report_data(read_run_dir(run_dir))
    kept = [(r["text"], tuple(map(tuple, r["spans"]))) for r in data.rows if r["status"] == KEPT]
    for record in _lines(run_dir / "generated.jsonl"):
        u = Utterance.from_dict(record)
        key = (u.text, tuple((s.start, s.end, s.label) for s in u.spans))
        assert kept.count(key) == 1, u.text
    assert len(kept) == len(_lines(run_dir / "generated.jsonl"))
    embedded = _embedded((run_dir / "report.html").read_text(encoding="utf-8"))
    assert embedded["rows"] == json.loads(json.dumps(data.rows))  # the page carries every row
    assert set(embedded["prompts"]) == {r["request_id"] for r in _lines(run_dir / "prompts.jsonl")}
    assert all(row["request"] in embedded["prompts"] for row in embedded["rows"] if row["status"] != FAILED)
    assert any(MARKUP in row["text"] for row in embedded["rows"])  # shown as text by the script, not markup


def test_student_figures_are_those_of_metrics_json(run_dir: Path) -> None:
    data = report_data(read_run_dir(run_dir))
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    by_metric = {row["metric"]: row for row in data.comparison}
    slot = by_metric["slot F1"]
    assert slot["values"]["baseline"] == (metrics["baseline"]["slots"]["f1"], metrics["baseline"]["slots"]["f1_se"])
    assert slot["delta"] == pytest.approx(metrics["augmented"]["slots"]["f1"] - metrics["baseline"]["slots"]["f1"])
    assert "GetWeather recall" in by_metric and data.intent == "GetWeather"
    assert {r["intent"] for r in data.intent_deltas} == set(metrics["augmented"]["per_intent"])
    assert {r["label"] for r in data.slot_deltas} == set(metrics["augmented"]["per_slot_label"])
    for name in ("baseline", "augmented"):
        confusion = data.confusion[name]
        matrix, labels = confusion["matrix"], confusion["labels"]
        assert confusion["n"] == sum(map(sum, matrix)) == 5
        correct = sum(matrix[i][i] for i in range(len(labels)))
        assert correct / confusion["n"] == pytest.approx(metrics[name]["intent_accuracy"])
    assert data.seed_validation is not None and data.seed_validation["folds"] == 3


def test_slot_values_count_kept_and_filtered_values_and_mark_seed_values_as_not_new(run_dir: Path) -> None:
    data = report_data(read_run_dir(run_dir))
    (city,) = [entry for entry in data.slot_values if entry["label"] == "city"]
    values = {v["value"]: v for v in city["values"]}
    teacher = [*_lines(run_dir / "generated.jsonl"), *_lines(run_dir / "filtered.jsonl")]
    assert sum(v["kept"] + v["filtered"] for v in values.values()) == sum(len(r["slots"]) for r in teacher)
    seeds = {s["value"] for r in _lines(run_dir / "seeds.jsonl") for s in r["slots"]}
    for value, entry in values.items():
        assert entry["novel"] is (value not in seeds), value
    assert city["plausible_share"] is None  # the plausible filter did not run
    assert data.templates["utterances"] == len(_lines(run_dir / "generated.jsonl"))


def test_the_plausibility_share_counts_wildcard_values_the_filter_judged() -> None:
    def u(text: str, value: str, request: str) -> Utterance:
        start = text.index(value)
        return Utterance.from_dict(
            {"text": text, "intent": "W", "slots": [{"start": start, "end": start + len(value), "label": "city"}],
             "meta": {"request_id": request}}
        )

    files = RunFiles(path=Path("x"), kind="linguist")
    files.run = {"filter_counts": {"exact_duplicate": 0, "implausible_value": 1, "near_duplicate": 1}}
    files.prompts = {"r1": {"include": [["city", "*"]]}, "r2": {"include": [["city", "rome"]]}}
    files.generated = [u("weather in oslo", "oslo", "r1"), u("weather in rome", "rome", "r2")]
    files.filtered = [
        (u("weather in 194", "194", "r1"), "implausible_value"),  # judged, failed
        (u("weather in oslo please", "oslo", "r1"), "near_duplicate"),  # judged (a later filter), passed
        (u("weather in lima", "lima", "r1"), "exact_duplicate"),  # removed before the filter: not judged
    ]
    (city,) = report_data(files).slot_values
    assert city["plausible_judged"] == 3 and city["plausible_share"] == pytest.approx(2 / 3)
    assert {v["value"]: v["wildcard"] for v in city["values"]} == {"oslo": 2, "rome": 0, "194": 1, "lima": 1}
    assert city["novel_share"] is None  # no seeds.jsonl: novelty unknown, not "all new"


def test_a_run_written_before_reports_existed_still_gets_a_report(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    for name in ("run.json", "prompts.jsonl", "seeds.jsonl", "report.html"):
        (old / name).unlink()
    shutil.rmtree(old / "predictions")
    path = write_run_report(old)
    data = report_data(read_run_dir(old))
    assert data.confusion == {} and data.prompts == {} and data.comparison
    assert ("teacher", "scripted") in data.facts  # from the utterances' meta.teacher
    assert len(_embedded(path.read_text(encoding="utf-8"))["rows"]) == len(data.rows)


def test_generate_only_run_has_no_student_section_but_a_report(tmp_path: Path) -> None:
    run = make_run(tmp_path, train=False)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "No students in this run" in html and not (run / "metrics.json").exists()


def test_metrics_older_than_the_generation_are_marked(run_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(run_dir, again)
    assert "students" not in dict(report_data(read_run_dir(again)).facts)
    (again / "run.json").touch()  # as `tvd generate` run after the training
    os.utime(again / "metrics.json", (0, 0))
    assert "predates this generation" in dict(report_data(read_run_dir(again)).facts)["students"]


def test_not_a_run_directory_and_damaged_files_are_coded_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        read_run_dir(tmp_path)
    assert info.value.code == E_NOT_A_RUN_DIR
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    with (broken / "generated.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    with pytest.raises(TvdError) as info:
        read_run_dir(broken)
    assert info.value.code == E_BAD_RUN_FILE and info.value.line == len(_lines(run_dir / "generated.jsonl")) + 1
    (broken / "generated.jsonl").write_text('{"text": "x", "slots": [{"start": 0, "end": 9, "label": "c"}]}\n')
    with pytest.raises(TvdError, match="not an utterance record") as info:
        read_run_dir(broken)
    assert info.value.code == E_BAD_RUN_FILE
    (broken / "generated.jsonl").write_text("")
    (broken / "filtered.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(TvdError, match="'reason'"):
        read_run_dir(broken)
    messages: list[str] = []
    assert try_write_run_report(broken, log=messages.append) is None  # the jobs' call logs instead of raising
    assert "report.html not written" in messages[0] and "E471" in messages[0]


def test_the_page_escapes_the_run_text_and_json_cannot_close_its_script() -> None:
    assert "</script>" not in json_for_script({"text": "</script><script>alert(1)</script>"})
    files = RunFiles(path=Path("x"), kind="linguist")
    files.run = {"name": "a <b>", "filter_counts": {"<i>reason</i>": 1}}
    files.filtered = [(Utterance("<img src=x onerror=alert(1)>", "W"), "<i>reason</i>")]
    html = render_run_report(report_data(files))
    assert "<img src=x" not in html.replace("\\u003cimg src=x", "") and "<i>reason</i>" not in html
    assert "&lt;i&gt;reason&lt;/i&gt;" in html and "tvd report: a &lt;b&gt;" in html


def test_clasp_runs_show_trees_as_indented_brackets_and_slot_nodes_as_spans() -> None:
    top = "(ORDER i want (PIZZAORDER (NUMBER two ) (TOPPING green peppers ) ) please )"
    assert indent_tree(top) == (
        "(ORDER\n  i want\n  (PIZZAORDER\n    (NUMBER two )\n    (TOPPING green peppers ) )\n  please )"
    )
    assert indent_tree("not a tree (") == "not a tree ("
    text = "i want two green peppers please"
    assert tree_spans(text, top) == [[7, 10, "NUMBER"], [11, 24, "TOPPING"]]
    assert tree_spans("other words", top) == []


def test_tvd_clasp_writes_a_report_with_every_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pizza_cases import MISS, NEGATED, ORDERED, SWAP, write_catalogs
    from tvd.cli import clasp_cmd
    from tvd.data.parse_tree import Tree
    from tvd.teachers.scripted import ScriptedTeacher

    def rs_teacher(prompt: str, seed: int) -> str:
        """Writes the parse the RS prompt asks for, with "i want" as its connecting words."""
        target = Tree.from_top(prompt.rsplit("<parse> ", 1)[1].split(" </parse>")[0])
        return "(ORDER i want" + str(target)[len("(ORDER") :].replace(" (NOT", " no (NOT")

    data = tmp_path / "pizza"
    write_catalogs(data / "catalogs")
    lines = [json.dumps(case) for case in (ORDERED, SWAP, NEGATED, MISS)]
    (data / "PIZZA_dev.16_shots.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(clasp_cmd, "teacher_for", lambda config: ScriptedTeacher(rs_teacher))
    out = tmp_path / "rs"
    args = ["clasp", "--strategy", "rs", "--data", str(data), "--out", str(out), "-n", "5", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = report_data(read_run_dir(out))
    assert report.kind == "clasp" and report.status_counts()[KEPT] == 5
    assert all(row["trees"][0][0] == "TOP" and row["spans"] for row in report.rows)
    assert "strategy" in dict(report.facts)
    assert len(_embedded((out / "report.html").read_text(encoding="utf-8"))["rows"]) == 5


def test_tvd_report_command_writes_where_asked_and_needs_a_directory(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "copy.html"
    result = runner.invoke(main, ["report", str(run_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and out.stat().st_size > 10_000
    assert runner.invoke(main, ["report"]).exit_code == 1
    failed = runner.invoke(main, ["report", str(tmp_path / "nothing")])
    assert failed.exit_code == 1 and E_NOT_A_RUN_DIR in failed.output


def test_bar_chart_draws_whiskers_a_zero_line_and_escapes_labels() -> None:
    svg = bar_chart([BarGroup("a <x>", [Bar("s", 0.5, 0.1)]), BarGroup("b", [Bar("s", -0.25)])])
    assert svg.startswith("<svg") and "a &lt;x&gt;" in svg and "<x>" not in svg
    assert 'class="whisker"' in svg and 'class="zero"' in svg
    assert svg.count("<rect") == 2
    assert nice_step(1.0) == 0.2 and nice_step(30) == 10 and nice_step(0) == 1.0


def test_confusion_matrix_and_template_diversity() -> None:
    rows = [
        {"gold": {"intent": "a"}, "predicted": {"intent": "a"}},
        {"gold": {"intent": "a"}, "predicted": {"intent": "b"}},
        {"gold": {"intent": "b"}, "predicted": {"intent": None}},
    ]
    confusion = confusion_matrix(rows)
    assert confusion["labels"] == ["<none>", "a", "b"] and confusion["n"] == 3
    assert confusion["matrix"] == [[0, 0, 0], [0, 1, 1], [1, 0, 0]]  # gold rows x predicted columns

    def city(text: str) -> Utterance:
        value = text.split()[-1]
        start = text.index(value)
        return Utterance.from_dict({"text": text, "slots": [{"start": start, "end": len(text), "label": "city"}]})

    diversity = template_diversity([city("weather in oslo"), city("Weather in rome"), city("rain in lima")])
    assert diversity == {"utterances": 3, "distinct": 2, "share": 2 / 3, "top": [["weather in {city}", 2]]}
