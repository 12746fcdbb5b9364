"""The language filter: py3langid's model on hand-written sentences, its candidate sets, options and errors."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import E_BAD_FILTER, E_BAD_FILTER_OPTION, E_NO_LANGUAGE_ID, E_UNSUPPORTED_LANGUAGE, TvdError
from tvd.filters import DEFAULT_FILTERS, FILTER_NAMES, FILTERS, LanguageFilter, apply_filters, build_filters
from tvd.filters import language as language_module
from tvd.filters.language import (
    MASSIVE_LANGUAGES,
    candidates_for,
    in_language,
    model_code,
    probabilities,
    supported_languages,
)

SENTENCES = {
    "de": [
        "spiele die musik von adele in der küche",
        "wie wird das wetter morgen in berlin",
        "weck mich bitte um sieben uhr",
        "füge diesen song zu meiner playlist hinzu",
    ],
    "it": [
        "riproduci la musica di adele in cucina",
        "che tempo farà domani a roma",
        "svegliami alle sette per favore",
        "aggiungi questa canzone alla mia playlist",
    ],
    "ja": ["明日の東京の天気は", "七時にアラームをセットして", "このアルバムを再生して", "ジャズをかけて"],
    "en": [
        "play the music of adele in the kitchen",
        "what will the weather be like tomorrow in berlin",
        "wake me up at seven please",
        "add this song to my playlist",
    ],
    "fr": ["joue la musique d adele dans la cuisine", "quel temps fera-t-il demain à paris"],
    "es": ["pon la música de adele en la cocina", "qué tiempo hará mañana en madrid"],
}
"""Hand-written requests (none from xSID), several per language."""

JUDGED = ("de", "it", "ja", "en")


@pytest.mark.parametrize("written", sorted(SENTENCES))
def test_each_sentence_is_in_its_own_language_and_no_other(written: str) -> None:
    for text in SENTENCES[written]:
        for asked in JUDGED:
            assert in_language(text, asked) is (asked == written), (text, asked)


def test_english_is_rejected_where_german_italian_or_japanese_was_asked_for_in_every_mode() -> None:
    for text in SENTENCES["en"]:
        for asked in ("de", "it", "ja"):
            assert not in_language(text, asked, open_set=True)
            assert not in_language(text, asked, candidates=["en"])


def test_the_pair_accepts_a_third_language_the_default_candidates_reject() -> None:
    # why the default candidates are MASSIVE's languages and not just {L, en}
    french = "joue la musique d adele dans la cuisine"
    assert in_language(french, "it", candidates=["en"])
    assert not in_language(french, "it")
    assert not in_language("明日の東京の天気は", "de")


def test_slot_values_stay_in_the_text() -> None:
    # the whole text is identified: a German value makes "play ..." German, an English title inside a German
    # request keeps it German; without its values the first would be neither
    text = "play die toten hosen und die ärzte"
    german_value = Utterance(text, "PlayMusic", (Span(5, len(text), "artist"),), "de")
    text = "spiele die musik von the rolling stones"
    english_value = Utterance(text, "PlayMusic", (Span(text.index("the"), len(text), "artist"),), "de")
    assert apply_filters([german_value, english_value], filters=("language",)).kept == [german_value, english_value]
    assert not in_language("play", "de")


def test_min_confidence_rejects_a_winner_below_it() -> None:
    text = "che tempo farà domani a roma"
    own = probabilities(text, candidates_for("it"))["it"]
    assert 0.5 < own < 1.0
    assert in_language(text, "it", min_confidence=own - 0.01)
    assert not in_language(text, "it", min_confidence=min(1.0, own + 0.01))


def test_probabilities_are_renormalised_over_the_candidates() -> None:
    full = probabilities("wie wird das wetter morgen in berlin")
    pair = probabilities("wie wird das wetter morgen in berlin", ["de", "en"])
    assert set(pair) == {"de", "en"} and sum(pair.values()) == pytest.approx(1.0)
    assert pair["de"] / pair["en"] == pytest.approx(full["de"] / full["en"], rel=1e-4)
    assert probabilities("", ["de", "en"]) == {"de": 0.5, "en": 0.5}
    assert not in_language("", "de")  # a tie goes against the language asked for


def test_codes_are_mapped_to_the_models() -> None:
    assert model_code("pt-BR") == "pt" and model_code("zh_Hant") == "zh" and model_code("nb") == "no"
    assert in_language("Spiele die Musik von Adele in der Küche", "de-DE")
    assert supported_languages() >= MASSIVE_LANGUAGES and len(MASSIVE_LANGUAGES) == 50
    assert candidates_for("lb", ["ja"])[:2] == ("lb", "ja")


def test_the_filter_checks_each_utterances_own_language() -> None:
    generated = [
        Utterance("spiele jazz in der küche", "PlayMusic", language="de"),
        Utterance("play some jazz in the kitchen", "PlayMusic", language="de"),
        Utterance("play some jazz in the kitchen", "PlayMusic", language="en"),
        Utterance("ジャズをかけて", "PlayMusic", language="ja"),
        Utterance("play some jazz please", "PlayMusic", language="ja"),
        Utterance("riproduci un po di jazz in cucina", "PlayMusic", language="it"),
    ]
    result = apply_filters(generated, filters=("language",))
    assert [u.text for u in result.kept] == [
        "spiele jazz in der küche",
        "play some jazz in the kitchen",
        "ジャズをかけて",
        "riproduci un po di jazz in cucina",
    ]
    assert [(u.language, reason) for u, reason in result.removed] == [
        ("de", "wrong_language"),
        ("ja", "wrong_language"),
    ]
    assert result.counts == {"wrong_language": 2}


def test_options_and_their_ranges() -> None:
    [built] = build_filters(["language"], options={"language": {"min_confidence": 0.9, "open_set": True}})
    assert isinstance(built, LanguageFilter) and (built.min_confidence, built.open_set) == (0.9, True)
    for bad in ({"min_confidence": 1.5}, {"open_set": "yes"}, {"candidates": ["en"]}):
        with pytest.raises(TvdError) as info:
            build_filters(["language"], options={"language": bad})
        assert info.value.code == E_BAD_FILTER_OPTION


def test_the_runs_languages_are_candidates() -> None:
    # Luxembourgish is not a MASSIVE language: with Luxembourgish seeds it becomes a candidate
    text = "Schlummer den Alarm"
    assert in_language(text, "de")
    seeds = [Utterance("Spill d'Musek vum Adele", "PlayMusic", language="lb")]
    [built] = build_filters(["language"], seeds)
    assert built.languages == ("lb",)
    assert built.check(Utterance(text, "SnoozeAlarm", language="de")) == "wrong_language"


def test_an_unknown_language_is_e564_at_build_and_at_check() -> None:
    with pytest.raises(TvdError) as info:
        build_filters(["language"], [Utterance("hello", "Greet", language="tlh")])
    assert info.value.code == E_UNSUPPORTED_LANGUAGE and "'tlh'" in info.value.message
    [built] = build_filters(["language"])
    with pytest.raises(TvdError) as info:
        built.check(Utterance("nuqneH", "Greet", language="tlh"))
    assert info.value.code == E_UNSUPPORTED_LANGUAGE
    with pytest.raises(TvdError):
        in_language("hello", "xx")


def test_without_py3langid_it_is_e563(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("py3langid"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    language_module._identifier.cache_clear()
    language_module.supported_languages.cache_clear()
    try:
        with pytest.raises(TvdError) as info:
            build_filters(["language"])
        assert info.value.code == E_NO_LANGUAGE_ID and "py3langid==0.4.0" in (info.value.fix or "")
    finally:
        monkeypatch.undo()
        language_module._identifier.cache_clear()
        language_module.supported_languages.cache_clear()
    assert in_language("wie wird das wetter morgen in berlin", "de")


def test_it_is_registered_but_not_a_default() -> None:
    assert "language" in FILTERS and "language" in FILTER_NAMES
    assert DEFAULT_FILTERS == ("exact", "seed", "template")
    [built] = build_filters(["language"])
    assert isinstance(built, LanguageFilter) and (built.name, built.reason) == ("language", "wrong_language")
    with pytest.raises(TvdError) as info:
        build_filters(["language", "language"])
    assert info.value.code == E_BAD_FILTER
