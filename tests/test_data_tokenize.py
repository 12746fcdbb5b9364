"""Script-aware tokenisation: Japanese cut at script changes, whitespace and slot boundaries."""

from __future__ import annotations

import pytest

from tvd.data.tokenize import has_unspaced_script, model_tokens, script_of, script_offsets, script_tokens
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


def test_split_unspaced_makes_every_kana_and_kanji_a_token() -> None:
    text = "明日の東京の天気は？ABCラジオ 7時"
    pieces = [text[s:e] for s, e in script_offsets(text, split_unspaced=True)]
    assert pieces == ["明", "日", "の", "東", "京", "の", "天", "気", "は", "？", "ABC", *"ラジオ", "7", "時"]
    assert [text[s:e] for s, e in script_offsets(text)] == words(script_tokens(Utterance(text, language="ja")))


def test_has_unspaced_script() -> None:
    assert has_unspaced_script("what time is 楽園追放") and has_unspaced_script("コーヒー")
    assert not has_unspaced_script("weather in zürich, 10:30 «today»") and not has_unspaced_script("")
    assert not has_unspaced_script("、。「」")  # Japanese punctuation alone is not a script run


def test_model_tokens_for_japanese_and_raw_text() -> None:
    # a Japanese utterance without tokens, and raw text of no stated language holding kana / kanji
    utterance = Utterance("東京都の天気", "GetWeather", (Span(0, 2, "city"),), language="ja")
    tokenised = model_tokens(utterance)
    assert words(tokenised) == ["東", "京", "都", "の", "天", "気"]
    assert tokenised.to_bio()[1] == ["B-city", "I-city", "O", "O", "O", "O"]
    raw = model_tokens(Utterance("明日の天気"))  # language "en": how a student reads a raw string
    assert words(raw) == ["明", "日", "の", "天", "気"]
    romaji = model_tokens(Utterance("tenki wa?", language="ja"))
    assert words(romaji) == ["tenki", "wa", "?"]


def test_model_tokens_leave_source_tokens_and_other_text_alone() -> None:
    source = Utterance("今日 は 晴れ", language="ja", tokens=((0, 1), (1, 2), (3, 4), (5, 7)))
    assert model_tokens(source) is source
    for text in ("play jazz on spotify", "wie wird das wetter", "café 10:30"):
        english = Utterance(text, language="de")
        assert model_tokens(english) is english
