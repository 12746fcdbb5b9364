"""The SNIPS few-shot novel-intent protocol, and the shipped example cut with it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tvd.data.fewshot import FewShotSplit, novel_intent_split
from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "new-intent"


def _data() -> list[Utterance]:
    """15 GetWeather, 4 PlayMusic and 8 BookRestaurant utterances, interleaved."""
    data = []
    for i in range(15):
        data.append(Utterance(f"weather in town{i}", "GetWeather", (Span(11, 15 + len(str(i)), "city"),)))
        if i < 4:
            data.append(Utterance(f"play song {i}", "PlayMusic"))
        if i < 8:
            data.append(Utterance(f"book a table for {i}", "BookRestaurant", (Span(17, 18, "party_size_number"),)))
    return data


def test_split_sizes_and_membership() -> None:
    data = _data()
    split = novel_intent_split(data, "GetWeather", k=10, seed=3)
    assert isinstance(split, FewShotSplit)
    assert (split.intent, split.k, split.seed) == ("GetWeather", 10, 3)
    assert len(split.seed_examples) == 10
    assert len(split.held_back) == 5
    assert {u.intent for u in split.seed_examples} == {"GetWeather"}
    assert list(split.base) == [u for u in data if u.intent != "GetWeather"]
    target = [u for u in data if u.intent == "GetWeather"]
    assert sorted(u.text for u in (*split.seed_examples, *split.held_back)) == sorted(u.text for u in target)
    assert split.train == [*split.base, *split.seed_examples]


def test_seed_examples_keep_input_order() -> None:
    data = _data()
    split = novel_intent_split(data, "GetWeather", k=10, seed=1)
    positions = [data.index(u) for u in split.seed_examples]
    assert positions == sorted(positions)


def test_same_seed_same_examples_other_seeds_differ() -> None:
    data = _data()
    first = novel_intent_split(data, "GetWeather", k=10, seed=7).seed_examples
    assert novel_intent_split(data, "GetWeather", k=10, seed=7).seed_examples == first
    draws = {novel_intent_split(data, "GetWeather", k=10, seed=s).seed_examples for s in range(6)}
    assert len(draws) > 1


def test_seed_zero_draw_is_pinned() -> None:
    """random.Random(seed).sample over the intent's positions: pinned so a change of method is noticed."""
    split = novel_intent_split(_data(), "BookRestaurant", k=3, seed=0)
    assert [u.text[-1] for u in split.seed_examples] == ["3", "6", "7"]


def test_k_equal_to_available_takes_all() -> None:
    split = novel_intent_split(_data(), "PlayMusic", k=4, seed=0)
    assert len(split.seed_examples) == 4
    assert split.held_back == ()


def test_unknown_intent_names_the_known_ones() -> None:
    with pytest.raises(TvdError) as info:
        novel_intent_split(_data(), "OrderPizza")
    assert info.value.code == "E160"
    assert "BookRestaurant, GetWeather, PlayMusic" in (info.value.fix or "")


def test_too_few_examples() -> None:
    with pytest.raises(TvdError) as info:
        novel_intent_split(_data(), "PlayMusic", k=10)
    assert info.value.code == "E161"
    assert "only 4" in info.value.message
    assert "k <= 4" in (info.value.fix or "")


def test_k_must_be_positive() -> None:
    with pytest.raises(TvdError) as info:
        novel_intent_split(_data(), "GetWeather", k=0)
    assert info.value.code == "E161"


# -- the shipped example (examples/new-intent), cut from SNIPS with this protocol --------------------


def _read(name: str) -> list[Utterance]:
    lines = (EXAMPLE / name).read_text(encoding="utf-8").splitlines()
    return [Utterance.from_dict(json.loads(line)) for line in lines]


def test_example_files_parse_with_stated_intents_and_sizes() -> None:
    base, seed, test = _read("base.jsonl"), _read("seed.jsonl"), _read("test.jsonl")
    others = {"AddToPlaylist", "GetWeather", "PlayMusic", "RateBook", "SearchCreativeWork", "SearchScreeningEvent"}
    assert Counter(u.intent for u in base) == dict.fromkeys(others, 100)
    assert Counter(u.intent for u in seed) == {"BookRestaurant": 10}
    assert Counter(u.intent for u in test) == {"BookRestaurant": 92, **dict.fromkeys(others, 30)}
    assert len({s.label for u in seed for s in u.spans}) >= 10
    for utterance in (*base, *seed, *test):
        utterance.to_bio()  # slots fall on token boundaries


def test_example_is_small() -> None:
    total = sum(path.stat().st_size for path in EXAMPLE.iterdir() if path.is_file())
    assert total < 300 * 1024
