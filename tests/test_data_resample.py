"""Slot-catalogue resampling, the no-teacher baseline."""

from __future__ import annotations

import time

import pytest

from tvd.data.resample import build_catalogue, resample, revalue
from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError


def bio(tokens: str, tags: str, intent: str) -> Utterance:
    return Utterance.from_bio(tokens.split(), tags.split(), intent=intent)


SEEDS = [
    bio("book a table for 4 in dallas", "O O O O B-party_size_number O B-city", "BookRestaurant"),
    bio(
        "reserve a pizzeria in new york for tonight",
        "O O B-restaurant_type O B-city I-city O B-timeRange",
        "BookRestaurant",
    ),
    bio("i want to eat out", "O O O O O", "BookRestaurant"),
]
OTHERS = [
    bio("weather in Dallas tomorrow", "O O B-city B-timeRange", "GetWeather"),
    bio("weather in paris", "O O B-city", "GetWeather"),
    bio("play jazz", "O B-genre", "PlayMusic"),
]


def test_catalogue_seed_values_first_then_others_deduplicated() -> None:
    catalogue = build_catalogue(SEEDS, OTHERS)
    assert catalogue == {
        "party_size_number": ["4"],
        "city": ["dallas", "new york", "paris"],  # "Dallas" is a case variant of "dallas"
        "restaurant_type": ["pizzeria"],
        "timeRange": ["tonight", "tomorrow"],
    }
    assert "genre" not in catalogue  # only the seed examples' labels


def test_catalogue_explicit_labels() -> None:
    assert build_catalogue(SEEDS, OTHERS, labels=["genre"]) == {"genre": ["jazz"]}


def _catalogue() -> dict[str, list[str]]:
    return {
        "party_size_number": ["2", "3", "five", "4"],
        "city": ["paris", "san jose", "rome", "dallas", "new york"],
        "restaurant_type": ["bar", "food truck"],
        "timeRange": ["noon", "next friday at 8 pm"],
    }


def test_outputs_keep_labels_and_valid_offsets_with_catalogue_values() -> None:
    catalogue = _catalogue()
    out = resample(SEEDS, catalogue, n=40, seed=0)
    assert len(out) == 40
    for utterance in out:
        source = SEEDS[utterance.meta["seed_index"]]
        assert utterance.meta["source"] == "resample"
        assert utterance.intent == source.intent and utterance.language == source.language
        assert [s.label for s in utterance.spans] == [s.label for s in source.spans]
        for span in utterance.spans:
            assert utterance.text[span.start : span.end] in catalogue[span.label]
        utterance.to_bio()  # offsets fall on token boundaries
        # the words outside the slots are the seed's
        assert _carrier(utterance) == _carrier(source)


def _carrier(utterance: Utterance) -> list[str]:
    cuts = [0, *(b for s in utterance.spans for b in (s.start, s.end)), len(utterance.text)]
    return [utterance.text[cuts[i] : cuts[i + 1]] for i in range(0, len(cuts), 2)]


def test_seed_without_slots_is_never_used() -> None:
    out = resample(SEEDS, _catalogue(), n=30, seed=1)
    assert all(u.meta["seed_index"] != 2 for u in out)


def test_deterministic_by_seed() -> None:
    first = resample(SEEDS, _catalogue(), n=20, seed=5)
    again = resample(SEEDS, _catalogue(), n=20, seed=5)
    other = resample(SEEDS, _catalogue(), n=20, seed=6)
    assert first == again
    assert [u.meta for u in first] == [u.meta for u in again]
    assert first != other


def test_avoids_duplicates_while_possible() -> None:
    seed = [bio("weather in dallas", "O O B-city", "GetWeather")]
    out = resample(seed, {"city": ["dallas", "paris", "rome", "oslo"]}, n=3, seed=0)
    assert sorted(u.text for u in out) == ["weather in oslo", "weather in paris", "weather in rome"]


def test_still_returns_n_when_the_catalogue_is_exhausted() -> None:
    seed = [bio("weather in dallas", "O O B-city", "GetWeather")]
    out = resample(seed, {"city": ["dallas", "paris"]}, n=4, seed=0, max_attempts=5)
    assert len(out) == 4
    assert out[0].text == "weather in paris"
    assert {u.text for u in out} <= {"weather in dallas", "weather in paris"}


def test_label_missing_from_catalogue_keeps_its_value() -> None:
    out = resample(SEEDS[:1], {"city": ["rome"]}, n=1, seed=0)
    assert out[0].text == "book a table for 4 in rome"
    assert out[0].slots == [("party_size_number", "4"), ("city", "rome")]


def test_source_tokenisation_is_dropped_and_offsets_hold_without_spaces() -> None:
    seed = Utterance("東京の天気", "GetWeather", (Span(0, 2, "city"),), language="ja", tokens=((0, 2), (2, 3), (3, 5)))
    out = resample([seed], {"city": ["サンフランシスコ"]}, n=1, seed=0)
    assert out[0].text == "サンフランシスコの天気"
    assert out[0].tokens is None
    assert out[0].slots == [("city", "サンフランシスコ")]
    assert out[0].language == "ja"


def test_samples_lazily_from_a_huge_space() -> None:
    labels = [f"slot{i}" for i in range(6)]
    seed = bio(" ".join(f"v{i}" for i in range(6)), " ".join(f"B-{label}" for label in labels), "X")
    catalogue = {label: [f"{label}value{j}" for j in range(1000)] for label in labels}  # 10^18 combinations
    started = time.perf_counter()
    out = resample([seed], catalogue, n=50, seed=0)
    assert len(out) == 50
    assert time.perf_counter() - started < 2.0


def test_zero_outputs() -> None:
    assert resample(SEEDS, _catalogue(), n=0) == []


def test_no_slot_to_resample() -> None:
    with pytest.raises(TvdError) as info:
        resample([SEEDS[2]], _catalogue(), n=3)
    assert info.value.code == "E162"
    assert info.value.fix


@pytest.mark.parametrize("bad", ["", " paris", "paris "])
def test_bad_catalogue_value(bad: str) -> None:
    with pytest.raises(TvdError) as info:
        resample(SEEDS, {"city": ["rome", bad]}, n=3)
    assert info.value.code == "E163"
    assert "city" in info.value.message


# -- revalue: re-filled variants of any template --------------------------------------------------------


def _generated() -> list[Utterance]:
    first = bio("get me a table at a bar in rome", "O O O O O O B-restaurant_type O B-city", "BookRestaurant")
    second = bio("i want to eat out", "O O O O O", "BookRestaurant")
    third = bio("seats for 2 tonight", "O O B-party_size_number B-timeRange", "BookRestaurant")
    return [
        first.replace(meta={"source": "linguist", "request_id": "r1", "bracketed": "get me ... [3 rome ]"}),
        second.replace(meta={"source": "linguist", "request_id": "r2"}),
        third,
    ]


def test_revalue_gives_k_new_fillings_of_each_template_with_provenance() -> None:
    catalogue = _catalogue()
    inputs = _generated()
    out = revalue(inputs, catalogue, k=3, seed=0)
    assert len(out) == 6  # the slot-less second input gives none
    assert [u.meta["revalued_from"] for u in out] == [inputs[0].text] * 3 + [inputs[2].text] * 3
    for utterance in out:
        source = next(u for u in inputs if u.text == utterance.meta["revalued_from"])
        assert utterance.intent == source.intent
        assert [s.label for s in utterance.spans] == [s.label for s in source.spans]
        assert _carrier(utterance) == _carrier(source)
        for span in utterance.spans:
            assert utterance.text[span.start : span.end] in catalogue[span.label]
        utterance.to_bio()
    assert out[0].meta == {
        "source": "revalue",
        "request_id": "r1",
        "template_source": "linguist",
        "revalued_from": inputs[0].text,
    }  # the teacher's raw bracketed line (old values) is dropped
    assert out[3].meta["template_source"] is None
    keys = [(u.text.casefold(), u.intent, u.spans) for u in out]
    assert len(set(keys)) == len(keys)
    assert not {u.text for u in out} & {u.text for u in inputs}


def test_revalue_skips_rather_than_duplicates_when_the_catalogue_runs_out() -> None:
    template = bio("weather in dallas", "O O B-city", "GetWeather")
    out = revalue([template], {"city": ["dallas", "paris", "rome"]}, k=5, seed=0, max_attempts=20)
    assert sorted(u.text for u in out) == ["weather in paris", "weather in rome"]  # 2 new fillings exist, not 5
    # two inputs compete for the same fillings: earlier outputs count as taken
    other = template.replace(meta={"n": 2})
    again = revalue([template, other], {"city": ["dallas", "paris", "rome"]}, k=5, seed=0)
    assert sorted(u.text for u in again) == ["weather in paris", "weather in rome"]
    # `avoid` is never produced either (e.g. the seed examples)
    avoided = revalue([template], {"city": ["dallas", "paris", "rome"]}, k=5, seed=0, avoid=[out[0]])
    assert [u.text for u in avoided] == [u.text for u in out if u.text != out[0].text]


def test_revalue_label_without_catalogue_values_keeps_its_value_and_alone_gives_nothing() -> None:
    template = SEEDS[0]  # party_size_number 4, city dallas
    out = revalue([template], {"city": ["rome", "oslo"]}, k=2, seed=0)
    assert sorted(u.text for u in out) == ["book a table for 4 in oslo", "book a table for 4 in rome"]
    assert revalue([template], {"genre": ["jazz"]}, k=2, seed=0) == []


def test_revalue_is_deterministic_by_seed_and_zero_or_negative_k() -> None:
    first = revalue(_generated(), _catalogue(), k=4, seed=3)
    assert first == revalue(_generated(), _catalogue(), k=4, seed=3)
    assert [u.meta for u in first] == [u.meta for u in revalue(_generated(), _catalogue(), k=4, seed=3)]
    assert first != revalue(_generated(), _catalogue(), k=4, seed=4)
    assert revalue(_generated(), _catalogue(), k=0) == []
    with pytest.raises(TvdError) as info:
        revalue(_generated(), _catalogue(), k=-1)
    assert info.value.code == "E162" and info.value.fix
    with pytest.raises(TvdError) as info:
        revalue(_generated(), {"city": ["rome "]}, k=1)
    assert info.value.code == "E163"
