"""The `tvd` command line: help texts, option spellings, convert / train / evaluate, and one-line errors with
exit code 1 (2: click's usage errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import bio
from test_students import dataset, write_crafted_student, write_legacy_student
from tvd.cli.main import main
from tvd.formats import read_dataset, write_dataset

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["run", "generate", "prompt", "train", "evaluate", "convert", "teacher", "serve"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_top_level_help_lists_every_command(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself(runner, command):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: main " + command in result.output or f"Usage: tvd {command}" in result.output
    body = result.output.split("Options:")[0]
    assert len(body.split()) > 8  # a real description, not just the usage line


def _data(tmp_path: Path) -> tuple[Path, Path]:
    train = [
        bio("play some jazz", "O O B-genre", "PlayMusic"),
        bio("play music by adele", "O O O B-artist", "PlayMusic"),
        bio("play rock", "O B-genre", "PlayMusic"),
        bio("weather in boston", "O O B-city", "GetWeather"),
        bio("what is the weather in paris", "O O O O O B-city", "GetWeather"),
        bio("forecast for rome", "O O B-city", "GetWeather"),
    ]
    test = [bio("play pop", "O B-genre", "PlayMusic"), bio("weather in oslo", "O O B-city", "GetWeather")]
    write_dataset(train, tmp_path / "train.jsonl", "jsonl")
    write_dataset(test, tmp_path / "test.jsonl", "jsonl")
    return tmp_path / "train.jsonl", tmp_path / "test.jsonl"


def test_convert_train_evaluate(runner, tmp_path):
    train, test = _data(tmp_path)
    result = runner.invoke(main, ["convert", str(train), str(tmp_path / "train.yml")])
    assert result.exit_code == 0, result.output
    assert "[boston](city)" in (tmp_path / "train.yml").read_text()
    assert len(read_dataset(tmp_path / "train.yml").utterances) == 6

    result = runner.invoke(main, ["train", "--train", str(tmp_path / "train.yml"), "--out", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        ["evaluate", str(tmp_path / "model"), str(test), "--json", str(tmp_path / "m.json"), "--intent", "GetWeather"],
    )
    assert result.exit_code == 0, result.output
    assert "intent accuracy" in result.output and "GetWeather recall" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 2 and 0.0 <= metrics["intent_accuracy"] <= 1.0


def test_errors_are_one_coded_line_with_exit_code_1(runner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "intent": "x", "slots": []}\n{"text": "oops"\n')
    result = runner.invoke(main, ["convert", str(bad), str(tmp_path / "out.yml")])
    assert result.exit_code == 1
    assert f"{bad}:2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.yml").exists()  # nothing written that looks like a result

    result = runner.invoke(main, ["convert", "--skip-errors", str(bad), str(tmp_path / "out.yml")])
    assert result.exit_code == 0 and "1 malformed record(s) skipped" in result.output

    result = runner.invoke(main, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "E501" in result.output

    result = runner.invoke(main, ["evaluate", str(tmp_path / "no-model"), str(bad)])
    assert result.exit_code == 1 and "E4" in result.output


def test_usage_errors_keep_click_exit_code_2(runner, tmp_path):
    assert runner.invoke(main, ["convert"]).exit_code == 2  # missing arguments
    assert runner.invoke(main, ["run", str(tmp_path / "c.yaml"), "--no-such-option"]).exit_code == 2


@pytest.mark.parametrize("command", ["run", "generate"])
def test_run_directory_is_o_or_out_and_the_old_output_dir_is_a_hidden_alias(runner, command):
    cli = main.commands[command]
    for spelling in ("-o", "--out", "--output-dir"):
        with cli.make_context(command, ["config.yaml", spelling, "runs/x"]) as ctx:
            assert ctx.params["out"] == Path("runs/x"), spelling
    with cli.make_context(command, ["config.yaml"]) as ctx:
        assert ctx.params["out"] is None  # the config's output_dir is kept
    shown = runner.invoke(main, [command, "--help"]).output
    assert "-o, --out PATH" in shown and "--output-dir" not in shown


def test_train_takes_o_for_its_output_directory(runner, tmp_path):
    train, _ = _data(tmp_path)
    result = runner.invoke(main, ["train", "--train", str(train), "-o", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "student.json").is_file()


def test_n_is_how_many_of_the_main_unit_and_the_help_says_so(runner):
    assert "-n, --pairs" in runner.invoke(main, ["teacher", "build-data", "--help"]).output
    assert "How many prompts to show" in runner.invoke(main, ["prompt", "--help"]).output
    assert "-n how many of its main" in " ".join(runner.invoke(main, ["--help"]).output.split())


def test_prompt_preview_needs_no_teacher(runner):
    result = runner.invoke(main, ["prompt", str(REPO / "examples/new-intent/config.yaml"), "-n", "2", "--grammar"])
    assert result.exit_code == 0, result.output
    assert result.output.count("<language> English </language> <intent> BookRestaurant </intent>") == 2
    assert "root ::=" in result.output


def test_teachers_lists_the_embedded_backend(runner):
    result = runner.invoke(main, ["teachers"])
    assert result.exit_code == 0 and "llamacpp" in result.output


# -- student files: pickles refused, destinations and empty test sets checked ----------------------------


def test_evaluate_refuses_a_pickled_student_without_running_it(runner, tmp_path):
    _, test = _data(tmp_path)
    marker = tmp_path / "pwned"
    crafted = write_crafted_student(tmp_path / "crafted", marker)
    result = runner.invoke(main, ["evaluate", str(crafted), str(test)])
    assert result.exit_code == 1, result.output
    assert "[E408]" in result.output and "tvd upgrade-student" in result.output and "--trust-pickle" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # one coded line
    assert not marker.exists()


def test_commands_that_load_a_student_offer_trust_pickle_and_say_what_it_does(runner):
    for command in (["evaluate"], ["parser", "evaluate"], ["parser-evaluate"], ["upgrade-student"]):
        text = " ".join(runner.invoke(main, [*command, "--help"]).output.split())
        assert "--trust-pickle" in text and "runs code" in text, command


def test_a_trusted_old_student_evaluates_and_upgrade_student_converts_it(runner, tmp_path):
    train, test = dataset()
    test_path = tmp_path / "test.jsonl"
    write_dataset(test, test_path, "jsonl")
    legacy = tmp_path / "legacy"
    write_legacy_student(legacy, train)
    trusted = runner.invoke(
        main, ["evaluate", str(legacy), str(test_path), "--trust-pickle", "--json", str(tmp_path / "old.json")]
    )
    assert trusted.exit_code == 0, trusted.output
    refused = runner.invoke(main, ["upgrade-student", str(legacy), "--out", str(tmp_path / "new")])
    assert refused.exit_code == 1 and "[E408]" in refused.output and not (tmp_path / "new").exists()
    result = runner.invoke(main, ["upgrade-student", str(legacy), "--out", str(tmp_path / "new"), "--trust-pickle"])
    assert result.exit_code == 0, result.output
    assert "upgraded crf student" in result.output and not (tmp_path / "new" / "model.joblib").exists()
    new_json = tmp_path / "new.json"
    upgraded = runner.invoke(main, ["evaluate", str(tmp_path / "new"), str(test_path), "--json", str(new_json)])
    assert upgraded.exit_code == 0, upgraded.output  # no flag needed now
    assert json.loads(new_json.read_text()) == json.loads((tmp_path / "old.json").read_text())  # the same scores
    again = runner.invoke(main, ["upgrade-student", str(tmp_path / "new")])  # already safe: loads, saves again
    assert again.exit_code == 0, again.output


def test_evaluate_on_an_empty_test_file_is_e113_naming_it(runner, tmp_path):
    train, _ = _data(tmp_path)
    assert runner.invoke(main, ["train", "--train", str(train), "--out", str(tmp_path / "model")]).exit_code == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(main, ["evaluate", str(tmp_path / "model"), str(empty)])
    assert result.exit_code == 1 and "[E113]" in result.output and str(empty) in result.output
    assert "Traceback" not in result.output


def test_train_out_must_not_be_an_existing_file(runner, tmp_path):
    train, _ = _data(tmp_path)
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    for out in (taken, taken / "model"):
        result = runner.invoke(main, ["train", "--train", str(train), "--out", str(out)])
        assert result.exit_code == 1 and "[E111]" in result.output and str(taken) in result.output, result.output
    assert taken.read_text() == "keep me"
    existing = tmp_path / "existing"
    existing.mkdir()
    result = runner.invoke(main, ["train", "--train", str(train), "--out", str(existing)])  # a directory is fine
    assert result.exit_code == 0, result.output
