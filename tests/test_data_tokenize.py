"""Script-aware tokenisation: Japanese cut at script changes, whitespace and slot boundaries."""

from __future__ import annotations

import pytest

from tvd.data.tokenize import script_of, script_tokens
from tvd.data.utterance import Span, Utterance


@pytest.mark.parametrize(
    ("ch", "script"),
    [
        ("東", "han"),
        ("の", "hira"),
        ("コ", "kata"),
        (" ", "space"),
        ("\u3000", "space"),  # ideographic space
        ("a", "latin"),
        ("7", "latin"),
        ("é", "latin"),
        ("、", "punct:、"),
        ("?", "punct:?"),
    ],
)
def test_script_of(ch: str, script: str) -> None:
    assert script_of(ch) == script


def words(utterance: Utterance) -> list[str]:
    return [utterance.text[s:e] for s, e in utterance.tokens or ()]


def test_japanese_is_cut_at_script_changes_and_punctuation() -> None:
    tokenised = script_tokens(Utterance("明日の東京の天気は？ABCラジオ 7時", language="ja"))
    assert words(tokenised) == ["明日", "の", "東京", "の", "天気", "は", "？", "ABC", "ラジオ", "7", "時"]


def test_slot_boundaries_stay_token_boundaries() -> None:
    # "東京都" is one kanji run, but the slot covers only 東京
    utterance = Utterance("東京都の天気", "GetWeather", (Span(0, 2, "city"),), language="ja")
    tokenised = script_tokens(utterance)
    assert words(tokenised) == ["東京", "都", "の", "天気"]
    assert tokenised.spans == utterance.spans and tokenised.text == utterance.text
    assert tokenised.to_bio()[1] == ["B-city", "O", "O", "O"]


def test_each_punctuation_mark_is_its_own_class() -> None:
    # different marks are cut apart; a run of one mark stays one token
    assert words(script_tokens(Utterance("「天気」!!?", language="ja"))) == ["「", "天気", "」", "!!", "?"]


def test_other_languages_are_returned_unchanged() -> None:
    english = Utterance("weather in tokyo", language="en")
    assert script_tokens(english) is english
    assert script_tokens(Utterance("東京", language="zh")).tokens is None
