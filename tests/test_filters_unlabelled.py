"""The unlabelled filter: a value of one of the intent's slots left untagged in the carrier text."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from factories import tagged
from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.filters import UnlabelledValueFilter, apply_filters, build_filters
from tvd.filters.unlabelled import NUMBER_OR_TIME


def u(text: str, intent: str = "BookRestaurant", *slots: tuple[str, str]) -> Utterance:
    return tagged(text, intent, *slots)


P = "party_size_number"
SEEDS = [
    u("book a table for four at 7 pm", "BookRestaurant", (P, "four"), ("timeRange", "7 pm")),
    u("reserve a table for 2 tonight", "BookRestaurant", (P, "2"), ("timeRange", "tonight")),
    u("i need a table for six at 8:30 pm in boston", "BookRestaurant", (P, "six"), ("timeRange", "8:30 pm"),
      ("city", "boston")),
    u("book a table for me", "BookRestaurant", ("party_size_description", "me")),
    u("when is jaws playing tonight", "FindMovie", ("movie", "jaws"), ("movie_time", "tonight")),
    u("is up on at 7 pm", "FindMovie", ("movie", "up"), ("movie_time", "7 pm")),
    u("show alien tomorrow", "FindMovie", ("movie", "alien"), ("movie_time", "tomorrow")),
]  # fmt: skip
BASE = [
    u("weather in paris at 9 am", "GetWeather", ("city", "paris"), ("timeRange", "9 am")),
    u("tell me the weather in austin", "GetWeather", ("city", "austin")),
    u("show me the forecast", "GetWeather"),
    u("give me the weather for oslo tomorrow", "GetWeather", ("city", "oslo"), ("timeRange", "tomorrow")),
    u("play some jazz for me", "PlayMusic", ("genre", "jazz")),
    u("play one song by adele", "PlayMusic", ("artist", "adele")),
]


def why(utterance: Utterance, **options: object) -> list[tuple[str, str]]:
    return UnlabelledValueFilter(SEEDS, BASE, **options).unlabelled(utterance)  # type: ignore[arg-type]


def test_the_example_an_untagged_time_next_to_a_party_size() -> None:
    utterance = u("book a table for four at 7 pm", "BookRestaurant", (P, "four"))
    assert why(utterance) == [("catalogue:timeRange", "7 pm"), ("number", "7 pm")]
    result = apply_filters([utterance], SEEDS, ("unlabelled",), base=BASE)
    assert result.removed == [(utterance, "unlabelled_value")] and result.counts == {"unlabelled_value": 1}


def test_the_labels_are_the_intents_label_map_not_only_the_utterances_spans() -> None:
    assert why(u("book a table for four tonight", "BookRestaurant", (P, "four"))) == [
        ("catalogue:timeRange", "tonight")
    ]
    assert why(u("book a table for four in Paris", "BookRestaurant", (P, "four"))) == [("catalogue:city", "paris")]
    # jazz is a genre, which no BookRestaurant seed uses; an intent without seeds has only its own spans' labels
    assert why(u("book a table for four with jazz", "BookRestaurant", (P, "four"))) == []
    assert why(u("book a table in paris tonight", "Unseen")) == []
    assert why(u("book a table in paris tonight", "Unseen", ("city", "paris"))) == []
    assert why(u("book a table in boston or paris", "Unseen", ("city", "boston"))) == [("catalogue:city", "paris")]


def test_only_whole_words_outside_the_spans_count() -> None:
    assert why(u("book a table for four in parisville", "BookRestaurant", (P, "four"))) == []
    assert why(u("book a table for four at 7 pm", "BookRestaurant", (P, "four"), ("timeRange", "7 pm"))) == []


def test_values_that_real_carrier_text_holds_are_skipped() -> None:
    """The word "me" is a party_size_description value, but the base leaves it untagged in 4 of 13 real utterances."""
    utterance = u("book a table for four for me", "BookRestaurant", (P, "four"))
    assert why(utterance) == []
    assert why(utterance, max_carrier_share=0.5) == [("catalogue:party_size_description", "me")]
    assert why(utterance, max_carrier_share=1.0) == [("catalogue:party_size_description", "me")]
    # "one" is a number the base leaves untagged ("play one song by adele"): 1 of 13 real utterances
    one = u("book one table for four", "BookRestaurant", (P, "four"))
    assert why(one) == []
    assert why(one, max_carrier_share=0.1) == [("number", "one")]


def test_numbers_and_times_when_a_label_is_numeric() -> None:
    assert why(u("book a table for four at 6:45", "BookRestaurant", (P, "four"))) == [("number", "6:45")]
    assert why(u("book a table for four at twelve o'clock", "BookRestaurant", (P, "four"))) == [
        ("number", "twelve o'clock")
    ]
    # FindMovie's movie_time values hold a number in 1 of 3 cases: not numeric at the default share 0.5
    late = u("when is jaws playing at 11 pm", "FindMovie", ("movie", "jaws"))
    assert why(late) == []
    assert why(late, numeric_share=0.3) == [("number", "11 pm")]


def test_the_number_pattern() -> None:
    found = [m.group() for m in NUMBER_OR_TIME.finditer("at 7 pm or 8:30 or nine a.m. or 10pm, not 2nd or x7")]
    assert found == ["7 pm", "8:30", "nine a.m.", "10pm"]
    assert not NUMBER_OR_TIME.search("someone often")  # number words inside words do not count


class TaggingReference:
    """Tags every word of ``words`` as ``label`` (a stand-in for a student); counts calls."""

    def __init__(self, label: str, *words: str) -> None:
        self.label, self.words, self.calls = label, words, 0

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self.calls += 1
        out = []
        for item in items:
            text = item.text if isinstance(item, Utterance) else item
            spans = tuple(
                Span(m.start(), m.end(), self.label) for w in self.words for m in re.finditer(rf"\b{w}\b", text)
            )
            out.append(Utterance(text, "BookRestaurant", spans))
        return out


def test_a_reference_finds_what_the_catalogue_does_not_know() -> None:
    downtown = u("book a table for four downtown", "BookRestaurant", (P, "four"))
    reference = TaggingReference("city", "downtown", "four")
    assert why(downtown) == []  # not a catalogue value, not a number
    assert UnlabelledValueFilter(SEEDS, BASE, reference).unlabelled(downtown) == [("reference:city", "downtown")]
    assert UnlabelledValueFilter(SEEDS, BASE, reference, use_reference=False).unlabelled(downtown) == []
    # a predicted span over one of the utterance's own spans ("four") is not an untagged value
    assert UnlabelledValueFilter(SEEDS, BASE, TaggingReference("city", "four")).unlabelled(downtown) == []
    # a label outside the label map does not count
    assert UnlabelledValueFilter(SEEDS, BASE, TaggingReference("genre", "downtown")).unlabelled(downtown) == []


def test_the_reference_is_optional_and_asked_once_per_batch() -> None:
    generated = [
        u("book a table for four downtown", "BookRestaurant", (P, "four")),
        u("book a table for two", "BookRestaurant", (P, "two")),
        u("book a table for four at 7 pm", "BookRestaurant", (P, "four")),
    ]
    reference = TaggingReference("city", "downtown")
    result = apply_filters(generated, SEEDS, ("unlabelled",), base=BASE, reference=reference)
    assert [x for x, _ in result.removed] == [generated[0], generated[2]]
    assert reference.calls == 1
    assert [x for x, _ in apply_filters(generated, SEEDS, ("unlabelled",), base=BASE).removed] == [generated[2]]
    assert UnlabelledValueFilter.needs_reference is False
    f = build_filters(["unlabelled"], SEEDS, base=BASE, options={"unlabelled": {"use_reference": False}},
                      reference=reference)[0]  # fmt: skip
    assert f.check_many(generated) == [None, None, "unlabelled_value"] and reference.calls == 1


def test_bad_options() -> None:
    for options in ({"max_carrier_share": 1.5}, {"numeric_share": 0}, {"use_reference": "yes"}, {"share": 0.1}):
        with pytest.raises(TvdError) as info:
            build_filters(["unlabelled"], options={"unlabelled": options})
        assert info.value.code == "E562" and "unlabelled" in info.value.message
