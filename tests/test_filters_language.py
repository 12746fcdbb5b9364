"""The language filter: function words for German and Italian, script for Japanese, other languages pass."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.filters import DEFAULT_FILTERS, FILTER_NAMES, FILTERS, LanguageFilter, apply_filters, build_filters
from tvd.filters.language import in_language


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("spiele die musik von adele", "de", True),
        ("wie wird das wetter morgen in berlin", "de", True),
        ("play the music of adele", "de", False),  # English function words win
        ("berlin", "de", False),  # no function words at all: not German
        ("der the", "de", False),  # a tie is not German
        ("riproduci la musica di adele", "it", True),
        ("che tempo fa domani a roma", "it", True),
        ("play a song by adele", "it", False),
        ("Spiele die Musik", "de", True),  # case-insensitive
        ("明日の東京の天気", "ja", True),  # kanji and hiragana
        ("コーヒー", "ja", True),  # katakana only
        ("tokyo weather tomorrow", "ja", False),  # no Japanese script
        ("play some jazz", "en", True),  # other languages, English included, always pass
        ("joue du jazz", "fr", True),
        ("", "es", True),
    ],
)
def test_in_language(text: str, language: str, expected: bool) -> None:
    assert in_language(text, language) is expected


def test_the_filter_checks_each_utterances_own_language() -> None:
    generated = [
        Utterance("spiele jazz in der küche", "PlayMusic", language="de"),
        Utterance("play jazz in the kitchen", "PlayMusic", language="de"),
        Utterance("play jazz in the kitchen", "PlayMusic", language="en"),
        Utterance("ジャズをかけて", "PlayMusic", language="ja"),
        Utterance("jazz please", "PlayMusic", language="ja"),
    ]
    result = apply_filters(generated, filters=("language",))
    assert [u.text for u in result.kept] == ["spiele jazz in der küche", "play jazz in the kitchen", "ジャズをかけて"]
    assert [(u.language, reason) for u, reason in result.removed] == [
        ("de", "wrong_language"),
        ("ja", "wrong_language"),
    ]
    assert result.counts == {"wrong_language": 2}


def test_it_is_registered_but_not_a_default() -> None:
    assert "language" in FILTERS and "language" in FILTER_NAMES
    assert DEFAULT_FILTERS == ("exact", "seed", "template")
    [built] = build_filters(["language"])
    assert isinstance(built, LanguageFilter) and (built.name, built.reason) == ("language", "wrong_language")
    with pytest.raises(TvdError) as info:
        build_filters(["language", "language"])
    assert info.value.code == "E560"
