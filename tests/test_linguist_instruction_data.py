"""Instruction data for tuning a LINGUIST teacher: pairs, exclusions, determinism, files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import bio
from tvd.errors import TvdError
from tvd.formats.brackets import parse_brackets
from tvd.linguist.instruction_data import InstructionSettings, build_pairs, read_pairs, write_pairs
from tvd.linguist.prompt import EXAMPLES_OPEN

WEATHER = [
    bio("will it rain in boston tomorrow", "O O O O B-city B-timeRange", "GetWeather"),
    bio("weather for austin", "O O B-city", "GetWeather"),
    bio("is it cold in paris on friday", "O O O O B-city O B-timeRange", "GetWeather"),
    bio("how hot will it be", "O O O O O", "GetWeather"),
]
MUSIC = [
    bio("play jazz by miles davis", "O B-genre O B-artist I-artist", "PlayMusic"),
    bio("play some rock", "O O B-genre", "PlayMusic"),
    bio("put on adele", "O O B-artist", "PlayMusic"),
]
FLIGHTS = [
    bio("flights from denver to boston", "O O B-fromloc O B-toloc", "atis_flight"),
    bio("show flights to dallas", "O O O B-toloc", "atis_flight"),
]
DATA = {"snips": WEATHER + MUSIC, "atis": FLIGHTS}
GERMAN = [
    bio("wird es morgen in berlin regnen", "O O B-timeRange O B-city O", "GetWeather", "de"),
    bio("wetter in wien", "O O B-city", "GetWeather", "de"),
    bio("es ist warm", "O O B-condition_temperature", "GetWeather", "de"),
    bio("bestelle pizza", "O O", "OrderPizza", "de"),  # no English utterance of this intent
    bio("bestelle pasta", "O O", "OrderPizza", "de"),
]


def test_pairs_are_deterministic_and_well_built() -> None:
    settings = InstructionSettings(pairs=60, seed=3, wildcard_rate=0.5, free_rate=0.2)
    pairs = build_pairs(DATA, settings)
    assert pairs == build_pairs(DATA, settings)
    assert pairs != build_pairs(DATA, InstructionSettings(pairs=60, seed=4))
    assert {p.key for p in pairs} == {"snips:GetWeather", "snips:PlayMusic", "atis:atis_flight"}
    by_text = {u.text: u for u in WEATHER + MUSIC + FLIGHTS}
    wildcards = fixed = empty = 0
    for pair in pairs:
        text, slots = parse_brackets(pair.target)
        target = by_text[text]  # the target is a real utterance of the intent, in bracket form
        assert target.intent == pair.intent and len(slots) == len(target.spans)
        examples = pair.prompt.split(EXAMPLES_OPEN + "\n")[1].splitlines()
        assert len(examples) == pair.n_examples
        assert all(parse_brackets(line)[0] != text for line in examples)  # the target is never an example
        include = pair.prompt.split("<include>")[1].split("</include>")[0]
        empty += include.strip() == ""
        wildcards += include.count(" * ]")
        fixed += include.count("[") - include.count(" * ]")
    assert wildcards and fixed and empty  # values fixed, wildcarded, and sometimes no include block at all
    assert len({p.prompt.split("<labels>")[1].split("</labels>")[0] for p in pairs if p.intent == "PlayMusic"}) > 1


def test_fixed_include_values_are_the_targets_values() -> None:
    pairs = build_pairs(DATA, InstructionSettings(pairs=30, wildcard_rate=0.0, free_rate=0.0, seed=1))
    for pair in pairs:
        include = pair.prompt.split("<include>")[1].split("</include>")[0]
        text, slots = parse_brackets(pair.target)
        for slot in slots:
            assert f"[{slot.number} {text[slot.start : slot.end]} ]" in include


def test_exclusions_remove_intents_everywhere() -> None:
    pairs = build_pairs(DATA, InstructionSettings(pairs=40, exclude=("snips:GetWeather", "atis_flight")))
    assert {p.key for p in pairs} == {"snips:PlayMusic"}
    assert not any("GetWeather" in p.prompt or "boston" in p.prompt for p in pairs)
    with pytest.raises(TvdError) as info:
        build_pairs(DATA, InstructionSettings(exclude=("GetWeather", "PlayMusic", "atis_flight")))
    assert info.value.code == "E361"


def test_mixing_weights_and_prompt_cap() -> None:
    only_atis = build_pairs(DATA, InstructionSettings(pairs=20, mix={"snips": 0.0, "atis": 1.0}))
    assert {p.dataset for p in only_atis} == {"atis"}
    short = build_pairs(DATA, InstructionSettings(pairs=20, shots=(10,), max_prompt_chars=200))
    assert all(len(p.prompt) <= 200 or p.n_examples == 0 for p in short)
    assert any(p.n_examples < 2 for p in short)
    with pytest.raises(TvdError) as info:
        build_pairs(DATA, InstructionSettings(mix={"massive": 1.0}))
    assert info.value.code == "E362"
    with pytest.raises(TvdError) as info:
        build_pairs(DATA, InstructionSettings(shots=(11,)))
    assert info.value.code == "E360"


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    settings = InstructionSettings(pairs=10, seed=2)
    pairs = build_pairs(DATA, settings)
    write_pairs(tmp_path / "pairs.jsonl", pairs, settings)
    assert read_pairs(tmp_path / "pairs.jsonl") == pairs
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"}\n')
    with pytest.raises(TvdError) as info:
        read_pairs(tmp_path / "bad.jsonl")
    assert info.value.code == "E364" and info.value.line == 1
    with pytest.raises(TvdError) as info:
        read_pairs(tmp_path / "missing.jsonl")
    assert info.value.code == "E363"


def test_cross_lingual_pairs_take_their_examples_from_the_named_dataset() -> None:
    data = {"en": WEATHER + MUSIC, "de": GERMAN}
    settings = InstructionSettings(pairs=80, seed=2, shots=(2, 3), free_rate=0.0, examples_from="en")
    pairs = build_pairs(data, settings)
    english = {u.text for u in WEATHER + MUSIC}
    german = [p for p in pairs if p.dataset == "de"]
    assert german and {p.intent for p in german} == {"GetWeather"}  # OrderPizza has no English examples
    for pair in german:
        assert pair.language == "de" and "<language> German </language>" in pair.prompt
        examples = pair.prompt.split(EXAMPLES_OPEN + "\n")[1].splitlines()
        assert examples and all(parse_brackets(line)[0] in english for line in examples)
        labels = pair.prompt.split("<labels>")[1].split("</labels>")[0]
        assert "condition_temperature" in labels or "es ist warm" not in pair.target
        assert "timeRange" in labels  # the English examples' labels are in the map as well as the target's
    english_pairs = [p for p in pairs if p.dataset == "en"]
    assert english_pairs and all(p.language == "en" for p in english_pairs)  # monolingual as before
    with pytest.raises(TvdError) as info:
        build_pairs(data, InstructionSettings(pairs=5, examples_from="fr"))
    assert info.value.code == "E360" and "examples_from" in info.value.message
