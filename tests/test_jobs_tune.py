"""The teacher-tuning job: instruction data from dataset paths, and an adapter folder tuned once then reused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tvd.jobs.tune as tune_job
from factories import bio
from tvd.formats import write_dataset
from tvd.linguist.instruction_data import InstructionSettings, build_pairs, read_pairs
from tvd.tuning import ADAPTER_GGUF, TuneSettings

UTTERANCES = [
    bio("will it rain in boston tomorrow", "O O O O B-city B-timeRange", "GetWeather"),
    bio("weather for austin", "O O B-city", "GetWeather"),
    bio("play jazz by miles davis", "O B-genre O B-artist I-artist", "PlayMusic"),
    bio("play some rock", "O O B-genre", "PlayMusic"),
]
SETTINGS = InstructionSettings(pairs=8, exclude=("demo:GetWeather",), seed=3)


def test_build_data_reads_builds_and_writes(tmp_path: Path) -> None:
    write_dataset(UTTERANCES, tmp_path / "data.jsonl", "jsonl")
    pairs = tune_job.build_data({"demo": tmp_path / "data.jsonl"}, tmp_path / "out" / "pairs.jsonl", SETTINGS)
    assert pairs == build_pairs({"demo": UTTERANCES}, SETTINGS)
    assert read_pairs(tmp_path / "out" / "pairs.jsonl") == pairs
    assert {pair.key for pair in pairs} == {"demo:PlayMusic"}


def test_tune_adapter_tunes_once_then_reuses_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(UTTERANCES, tmp_path / "data.jsonl", "jsonl")
    calls: list[dict[str, Any]] = []

    def fake_tune(pairs: Any, out: Path, settings: TuneSettings, base_model: Any = None, progress: Any = None) -> dict:
        calls.append({"pairs": pairs, "out": out, "settings": settings, "base_model": base_model})
        (Path(out) / ADAPTER_GGUF).write_bytes(b"gguf")
        return {}

    monkeypatch.setattr(tune_job, "tune", fake_tune)
    folder = tmp_path / "adapters" / "fold1"
    settings = TuneSettings(steps=2, batch_size=2)
    datasets = {"demo": tmp_path / "data.jsonl"}
    assert tune_job.tune_adapter(datasets, folder, SETTINGS, settings, fmt="jsonl", base_model="base.gguf") == folder
    assert len(calls) == 1 and calls[0]["settings"] == settings and calls[0]["base_model"] == "base.gguf"
    assert read_pairs(folder / tune_job.PAIRS_FILE) == calls[0]["pairs"] == build_pairs({"demo": UTTERANCES}, SETTINGS)
    # an adapter on disk is reused: not tuned again, and the datasets are not read (they may be gone)
    (tmp_path / "data.jsonl").unlink()
    assert tune_job.tune_adapter(datasets, folder, SETTINGS, settings) == folder
    assert len(calls) == 1
