"""`tvd clasp`, `tvd parser-train`, `tvd parser-evaluate` end to end (scripted teacher)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pizza_cases import MISS, NEGATED, ORDERED, SWAP, write_catalogs
from tvd.cli import clasp_cmd
from tvd.cli.main import main
from tvd.config import load_clasp_config
from tvd.data.parse_tree import Tree
from tvd.teachers.scripted import ScriptedTeacher

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "clasp" / "de.yaml"
GLOSSARY = dict(load_clasp_config(CONFIG).glossary)


def _german(english: Tree) -> Tree:
    """A German-looking tree for an English one: its parse, values through the glossary (else ``<value>en``),
    connecting words ``ich möchte bitte`` and ``Pizza mit``."""

    def walk(node: Tree) -> Tree:
        if node.is_preterminal():
            value = " ".join(node.children)  # type: ignore[arg-type]
            return Tree(node.label, tuple(GLOSSARY.get(value, f"{value}en").split()))
        children = tuple(walk(c) for c in node.subtrees)
        return Tree(node.label, ("Pizza", "mit", *children) if node.label == "PIZZAORDER" else children)

    german = walk(english.semantics_only())
    return Tree("ORDER", ("ich", "möchte", "bitte", *german.children))


def _echo_target(prompt: str, seed: int) -> str:
    """RS: write the requested parse with one connecting word; GB: copy the last shot.  TS / TB (parallel text,
    ending in ``German:``): a value becomes ``<value>en``; a tree its German-looking version (:func:`_german`),
    except for TB requests 1 and 4 (a tree of another shape: ``parse_changed``) and 2 and 5 (the English tree:
    ``wrong_language``); request ``r``'s seed is ``r * 1000``, and 1000 is 1 modulo 3."""
    if prompt.rstrip().endswith("<utterance>"):
        target = Tree.from_top(prompt.rsplit("<parse> ", 1)[1].split(" </parse>")[0])
        return "(ORDER i want" + str(target)[len("(ORDER") :].replace(" (NOT", " no (NOT")
    if prompt.endswith("\nGerman:"):
        english = prompt.splitlines()[-2].removeprefix("English: ")
        if not english.startswith("(ORDER"):
            return f" {english}en\n"
        tree = Tree.from_top(english)
        if "\n\nEnglish: (ORDER" in prompt and seed % 3 == 1:  # TS and TB prompts look the same: both get these
            return " (ORDER ich möchte (PIZZAORDER (NUMBER eine ) (SIZE große ) Pizza ) )"
        if seed % 3 == 2:
            return f" {english}"
        return f" {_german(tree)}"
    return prompt.strip().splitlines()[-1]


@pytest.fixture
def pizza_dir(tmp_path: Path) -> Path:
    data = tmp_path / "pizza"
    write_catalogs(data / "catalogs")
    lines = [json.dumps(case) for case in (ORDERED, SWAP, NEGATED, MISS)]
    (data / "PIZZA_dev.16_shots.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


@pytest.fixture(autouse=True)
def scripted(monkeypatch) -> None:
    monkeypatch.setattr(clasp_cmd, "teacher_for", lambda config: ScriptedTeacher(_echo_target))


def test_rs_then_train_then_evaluate(tmp_path: Path, pizza_dir: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "rs"
    result = runner.invoke(
        main, ["clasp", "--strategy", "rs", "--data", str(pizza_dir), "--out", str(out), "-n", "6", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "6 valid" in result.output
    rows = [json.loads(line) for line in (out / "generated.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and all(r["train.SRC"].startswith("i want") and "train.EXR" in r for r in rows)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["stats"]["sent"] == 6
    again = runner.invoke(
        main, ["clasp", "--strategy", "rs", "--data", str(pizza_dir), "--out", str(out), "-n", "6", "--no-progress"]
    )
    assert "6 cached, 0 sent" in again.output

    model = tmp_path / "parser"
    trained = runner.invoke(
        main,
        ["parser-train", "--train", str(pizza_dir / "PIZZA_dev.16_shots.json"), "--train", str(out / "generated.jsonl"),
         "--out", str(model), "--data", str(pizza_dir)],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output and "trained on 10 trees" in trained.output
    scores = tmp_path / "scores.json"
    evaluated = runner.invoke(
        main,
        ["parser-evaluate", str(model), str(pizza_dir / "PIZZA_dev.16_shots.json"), "--data", str(pizza_dir),
         "--json", str(scores)],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(scores.read_text())["n"] == 4


def test_ts_and_tb_with_the_german_config(tmp_path: Path, pizza_dir: Path) -> None:
    runner = CliRunner()
    tb = runner.invoke(
        main,
        ["clasp", "--strategy", "tb", "--config", str(CONFIG), "--data", str(pizza_dir), "--out", str(tmp_path / "tb"),
         "-n", "1", "--no-progress"],
    )  # fmt: skip
    assert tb.exit_code == 0, tb.output
    rejects = [json.loads(line) for line in (tmp_path / "tb" / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert sorted(r["reason"] for r in rejects) == ["parse_changed"] * 2 + ["wrong_language"] * 2
    assert {r["request_id"] for r in rejects if r["reason"] == "wrong_language"} == {"tb-2-0", "tb-5-0"}
    rows = [json.loads(line) for line in (tmp_path / "tb" / "generated.jsonl").read_text("utf-8").splitlines()]
    assert [r["request_id"] for r in rows] == ["tb-0-0", "tb-3-0"]
    assert rows[0]["train.SRC"] == "ich möchte bitte Pizza mit aen groß hamen"
    assert json.loads((tmp_path / "tb" / "summary.json").read_text("utf-8"))["language_check"] is True

    ts = runner.invoke(
        main,
        ["clasp", "--strategy", "ts", "--config", str(CONFIG), "--data", str(pizza_dir), "--out", str(tmp_path / "ts"),
         "-n", "1", "--no-progress"],
    )  # fmt: skip
    assert ts.exit_code == 0, ts.output
    summary = json.loads((tmp_path / "ts" / "summary.json").read_text(encoding="utf-8"))
    step = summary["value_translation"]
    translations = step["translations"]
    # 17 values in the pool; 5 of them in the glossary, used as they are; the 12 others asked 3 times each
    assert len(translations) == 17 and step["stats"]["planned"] == 36
    assert step["from_glossary"] == ["cokes", "extra", "large", "pepperoni", "two"]
    assert translations["large"] == "groß" and translations["ham"] == "hamen"
    assert step["candidates"]["ham"] == ["hamen"] * 3
    # TS requests 1 and 4 get a tree of another shape, 2 and 5 the English tree: neither has the German values
    assert summary["stats"]["accepted"] == 2
    assert summary["stats"]["rejected_by_reason"] == {"value_missing": 4}


def test_ts_without_config_is_a_coded_error(tmp_path: Path, pizza_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["clasp", "--strategy", "ts", "--data", str(pizza_dir), "--out", str(tmp_path / "x"), "--no-progress"]
    )
    assert result.exit_code != 0 and "E612" in result.output


def test_dry_run_sends_nothing_then_reports_the_cache(tmp_path: Path, pizza_dir: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "rs"
    args = ["clasp", "--strategy", "rs", "--data", str(pizza_dir), "-o", str(out), "-n", "5", "--no-progress"]
    dry = runner.invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "5 completions planned, 0 in the cache, 5 request(s) to send" in dry.output
    assert not (out / "generated.jsonl").exists()
    assert runner.invoke(main, args).exit_code == 0
    again = runner.invoke(main, [*args, "--dry-run"])
    assert "5 completions planned, 5 in the cache, 0 request(s) to send" in again.output


def test_ts_dry_run_plans_the_second_step_from_cached_translations(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["clasp", str(CONFIG), "--strategy", "ts", "-o", str(tmp_path / "ts"), "-n", "1", "--no-progress"]
    first = runner.invoke(main, [*args, "--dry-run"])
    # 12 values (the pool's 17 less the glossary's 5) asked 3 times, and the 6 parses
    assert "42 completions planned, 0 in the cache, 42 request(s) to send" in first.output
    assert runner.invoke(main, args).exit_code == 0
    second = runner.invoke(main, [*args, "--dry-run"])
    assert "42 completions planned, 42 in the cache, 0 request(s) to send" in second.output


def test_budget_stops_resumably(tmp_path: Path, pizza_dir: Path) -> None:
    config = tmp_path / "rs.yaml"
    config.write_text(
        f"strategy: rs\ndata: {pizza_dir}\ncount: 6\noutput_dir: {tmp_path / 'out'}\n"
        "teacher: {price: {input_per_million: 1000, output_per_million: 1000}}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    stopped = runner.invoke(main, ["clasp", str(config), "--budget", "0.5", "--no-progress"])
    assert stopped.exit_code == 0, stopped.output
    assert "not sent (budget)" in stopped.output
    finished = runner.invoke(main, ["clasp", str(config), "--no-progress"])
    assert "6 valid" in finished.output and "0 failed" in finished.output
    assert ", 0 sent" not in finished.output  # only what the budget left out was sent


def test_unknown_strategy_and_missing_data_are_coded_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["clasp", "--strategy", "xx", "-o", str(tmp_path / "x"), "--no-progress"])
    assert unknown.exit_code == 1 and "unknown CLASP strategy 'xx'" in unknown.output and "rs" in unknown.output
    no_data = runner.invoke(main, ["clasp", "--strategy", "rs", "-o", str(tmp_path / "x"), "--no-progress"])
    assert no_data.exit_code == 1 and "needs the PIZZA folder" in no_data.output


def test_parser_group_and_old_spellings(tmp_path: Path, pizza_dir: Path) -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"]).output
    assert "parser" in listing and "parser-train" not in listing  # the old spellings are hidden aliases
    model = tmp_path / "parser"
    shots = str(pizza_dir / "PIZZA_dev.16_shots.json")
    for command in (["parser", "train"], ["parser-train"]):
        result = runner.invoke(main, [*command, "--train", shots, "-o", str(model), "--data", str(pizza_dir)])
        assert result.exit_code == 0, result.output
    for command in (["parser", "evaluate"], ["parser-evaluate"]):
        result = runner.invoke(main, [*command, str(model), shots, "--data", str(pizza_dir)])
        assert result.exit_code == 0 and "n=4" in result.output, result.output


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_parser_commands_refuse_a_pickled_parser_and_a_file_as_out(tmp_path: Path, pizza_dir: Path) -> None:
    import joblib

    runner = CliRunner()
    shots = str(pizza_dir / "PIZZA_dev.16_shots.json")
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    joblib.dump({"crf": _Payload(marker), "lexicon": {}}, crafted / "model.joblib")
    meta = {"kind": "parser-crf", "format_version": 1, "c1": 0.05, "c2": 0.01, "max_iterations": 5, "root": "ORDER"}
    (crafted / "student.json").write_text(json.dumps(meta))
    for command in (["parser", "evaluate"], ["parser-evaluate"]):
        result = runner.invoke(main, [*command, str(crafted), shots, "--data", str(pizza_dir)])
        assert result.exit_code == 1 and "[E408]" in result.output and "Traceback" not in result.output
        assert "tvd upgrade-student" in result.output
    upgrade = runner.invoke(main, ["upgrade-student", str(crafted)])
    assert upgrade.exit_code == 1 and "[E408]" in upgrade.output
    assert not marker.exists()

    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    result = runner.invoke(main, ["parser", "train", "--train", shots, "-o", str(taken), "--data", str(pizza_dir)])
    assert result.exit_code == 1 and "[E111]" in result.output
    model = tmp_path / "parser"
    result = runner.invoke(main, ["parser", "train", "--train", shots, "-o", str(model), "--data", str(pizza_dir)])
    assert result.exit_code == 0, result.output
    assert not (model / "model.joblib").exists() and (model / "crf.crfsuite").is_file()
    upgrade = runner.invoke(main, ["upgrade-student", str(model), "-o", str(tmp_path / "copy")])
    assert upgrade.exit_code == 0 and "upgraded parser-crf parser" in upgrade.output, upgrade.output
    result = runner.invoke(main, ["parser", "evaluate", str(tmp_path / "copy"), shots, "--data", str(pizza_dir)])
    assert result.exit_code == 0 and "n=4" in result.output, result.output
