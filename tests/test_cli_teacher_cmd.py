"""`tvd teacher build-data` and `tvd teacher tune` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import bio
from tvd.cli.main import main
from tvd.formats import write_dataset

UTTERANCES = [
    bio("will it rain in boston tomorrow", "O O O O B-city B-timeRange", "GetWeather"),
    bio("weather for austin", "O O B-city", "GetWeather"),
    bio("play jazz by miles davis", "O B-genre O B-artist I-artist", "PlayMusic"),
    bio("play some rock", "O O B-genre", "PlayMusic"),
    bio("put on adele", "O O B-artist", "PlayMusic"),
]


def test_build_data_writes_pairs_without_the_excluded_intent(tmp_path: Path) -> None:
    write_dataset(UTTERANCES, tmp_path / "data.jsonl", "jsonl")
    out = tmp_path / "pairs.jsonl"
    args = ["teacher", "build-data", f"demo={tmp_path / 'data.jsonl'}", "--exclude", "demo:GetWeather"]
    result = CliRunner().invoke(main, [*args, "--pairs", "12", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 12 pairs over 1 intents" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["settings"]["exclude"] == ["demo:GetWeather"]
    assert {(r["dataset"], r["intent"]) for r in lines[1:]} == {("demo", "PlayMusic")}
    again = CliRunner().invoke(main, [*args, "--pairs", "12", "-o", str(tmp_path / "again.jsonl")])
    assert again.exit_code == 0 and (tmp_path / "again.jsonl").read_text() == out.read_text()


def test_build_data_cross_lingual_pairs_and_a_bad_examples_from(tmp_path: Path) -> None:
    german = [
        bio("wird es morgen in berlin regnen", "O O B-timeRange O B-city O", "GetWeather", "de"),
        bio("wetter in wien", "O O B-city", "GetWeather", "de"),
    ]
    write_dataset(UTTERANCES, tmp_path / "en.jsonl", "jsonl")
    write_dataset(german, tmp_path / "de.jsonl", "jsonl")
    out = tmp_path / "pairs.jsonl"
    data = [f"en={tmp_path / 'en.jsonl'}", f"de={tmp_path / 'de.jsonl'}"]
    args = ["teacher", "build-data", *data, "--mix", "en=0", "--max-shots", "2", "--pairs", "8", "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--examples-from", "en"])
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert {p["language"] for p in pairs} == {"de"} and all("German" in p["prompt"] for p in pairs)
    assert any("boston" in p["prompt"] or "austin" in p["prompt"] for p in pairs)  # English examples
    bad = CliRunner().invoke(main, [*args, "--examples-from", "fr"])
    assert bad.exit_code == 1 and "[E360]" in bad.output and "Traceback" not in bad.output


def test_build_data_errors_are_one_line(tmp_path: Path) -> None:
    write_dataset(UTTERANCES, tmp_path / "data.jsonl", "jsonl")
    result = CliRunner().invoke(
        main, ["teacher", "build-data", str(tmp_path / "data.jsonl"), "--mix", "data=x", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "[E362]" in result.output and "Traceback" not in result.output


def test_tune_writes_an_adapter(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    pytest.importorskip("gguf")
    from test_teachers_transformers_lm import _write_tiny_llama_gguf

    _write_tiny_llama_gguf(tmp_path / "tiny.gguf")
    write_dataset(UTTERANCES, tmp_path / "data.jsonl", "jsonl")
    pairs = tmp_path / "pairs.jsonl"
    built = CliRunner().invoke(
        main, ["teacher", "build-data", str(tmp_path / "data.jsonl"), "--pairs", "6", "-o", str(pairs)]
    )
    assert built.exit_code == 0, built.output
    args = ["teacher", "tune", str(pairs), "-o", str(tmp_path / "adapter"), "--base-model", str(tmp_path / "tiny.gguf")]
    result = CliRunner().invoke(main, [*args, "--steps", "2", "--batch-size", "2", "--rank", "2"])
    assert result.exit_code == 0, result.output
    assert "step 2/2" in result.output and (tmp_path / "adapter" / "adapter.gguf").is_file()
    manifest = json.loads((tmp_path / "adapter" / "tvd_adapter.json").read_text())
    assert manifest["trained_on"] == ["data:GetWeather", "data:PlayMusic"]


def test_teachers_listing_still_works() -> None:
    result = CliRunner().invoke(main, ["teachers"])
    assert result.exit_code == 0 and "llamacpp" in result.output
    assert "build-data" in CliRunner().invoke(main, ["teacher", "--help"]).output
