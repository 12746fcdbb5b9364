"""The Utterance type: strict ``from_dict``, source tokenisations that must fit the text, UTF-8 encodability."""

from __future__ import annotations

import pytest

from tvd.data.utterance import RecordError, Span, SpanError, Utterance, encoding_problem, unencodable


def test_from_dict_round_trips_to_dict():
    utterance = Utterance("今日 の 天気", "weather", (Span(0, 2, "date"),), "ja", ((0, 1), (1, 2), (3, 4), (5, 7)),
                          {"id": "3"})
    back = Utterance.from_dict(utterance.to_dict())
    assert back == utterance and back.meta == {"id": "3"}


@pytest.mark.parametrize(
    "record",
    [
        {"text": "hi", "slots": [{"start": 0, "end": 1.0, "label": "x"}]},
        {"text": "hi", "slots": [{"start": False, "end": 1, "label": "x"}]},
        {"text": "hi", "slots": [{"start": "0", "end": 1, "label": "x"}]},
        {"text": "hi", "slots": [{"start": 0, "end": 1, "label": 1}]},
        {"text": "hi", "slots": [{"start": 0, "end": 1}]},
        {"text": "hi", "slots": ["0:1:x"]},
        {"text": "hi", "slots": {"start": 0}},
        {"text": "hi", "intent": ["a"]},
        {"text": "hi", "language": True},
        {"text": "hi", "tokens": [[0, 1, 2]]},
        {"text": "hi", "meta": "id=3"},
        {"text": None},
        ["text", "hi"],
    ],
)
def test_from_dict_never_coerces_a_field(record):
    with pytest.raises(RecordError):
        Utterance.from_dict(record)


@pytest.mark.parametrize(
    "slot",
    [{"start": -1, "end": 1, "label": "x"}, {"start": 1, "end": 0, "label": "x"}, {"start": 0, "end": 9, "label": "x"},
     {"start": 0, "end": 1, "label": "x", "value": "i"}],
)
def test_from_dict_spans_must_lie_in_the_text_and_match_their_value(slot):
    with pytest.raises(SpanError):
        Utterance.from_dict({"text": "hi", "slots": [slot]})


@pytest.mark.parametrize("tokens", [((0, 0),), ((0, 6),), ((-1, 2),), ((0, 2), (1, 3)), ((2, 1),)])
def test_tokens_must_be_in_order_inside_the_text(tokens):
    with pytest.raises(SpanError):
        Utterance("ab cd", tokens=tokens)
    assert Utterance("ab cd", tokens=((0, 1), (1, 2), (3, 5))).tokens == ((0, 1), (1, 2), (3, 5))


def test_encoding_problem_finds_lone_surrogates_anywhere():
    assert encoding_problem(Utterance("fly to 東京", "go", (Span(7, 9, "city"),), meta={"a": ["b"]})) is None
    assert "text" in encoding_problem(Utterance("caf\udce9"))
    assert "slot label 1" in encoding_problem(Utterance("to x", "go", (Span(3, 4, "c\ud800"),)))
    assert "meta" in encoding_problem(Utterance("x", meta={"k": {"\udfff": 1}}))
    deep: list[object] = ["\ud800"]
    for _ in range(5000):  # no recursion limit
        deep = [deep]
    assert unencodable(deep) == "U+D800 (a lone surrogate) at character 1"
    loop: list[object] = []
    loop.append(loop)
    assert unencodable(loop) is None
