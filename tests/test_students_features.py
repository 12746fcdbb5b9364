"""CRF token features: character n-grams for kana / kanji tokens and their neighbours, nothing new for English."""

from __future__ import annotations

from tvd.students.features import char_features, sentence_features, token_features


def test_a_one_character_token_sees_the_trigrams_around_it() -> None:
    tokens = ["明", "日", "の", "天", "気"]
    assert char_features(tokens, 3) == {
        "c[-1]": "の",
        "c[+1]": "気",
        "c1=天": 1.0,
        "c2L=の天": 1.0,
        "c2R=天気": 1.0,
        "c3L=日の天": 1.0,
        "c3LR=の天気": 1.0,
    }
    first = char_features(tokens, 0)
    assert first["c[-1]"] == "<s>" and "c3R=明日の" in first and not any("L" in k for k in first)
    assert char_features(tokens, 4)["c[+1]"] == "</s>"


def test_a_multi_character_token_gets_its_inner_ngrams() -> None:
    features = char_features(["東京都", "の", "天気"], 0)
    inner = {k for k in features if k.startswith(("c1=", "c2=", "c3="))}
    assert inner == {"c1=東", "c1=京", "c1=都", "c2=東京", "c2=京都", "c3=東京都"}
    assert {"c2R=都の", "c3R=京都の", "c3R=都の天"} <= set(features)


def test_a_latin_token_next_to_kanji_gets_only_the_edges() -> None:
    features = char_features(["午後", "5", "時"], 1)
    assert features == {
        "c[-1]": "後",
        "c[+1]": "時",
        "c2L=後5": 1.0,
        "c2R=5時": 1.0,
        "c3L=午後5": 1.0,
        "c3LR=後5時": 1.0,
    }


def test_english_features_are_unchanged() -> None:
    sentences = [["play", "Adele", "on", "spotify"], ["weather", "in", "zürich", "at", "10:30pm"], ["ok"]]
    for tokens in sentences:
        assert sentence_features(tokens) == sentence_features(tokens, char_ngrams=False)
        assert all(char_features(tokens, i) == {} for i in range(len(tokens)))
    assert not any(key.startswith("c") for key in token_features(["play", "Adele"], 1))


def test_char_ngrams_can_be_switched_off() -> None:
    tokens = ["明", "日", "の", "天", "気"]
    with_ngrams, without = token_features(tokens, 3), token_features(tokens, 3, char_ngrams=False)
    assert set(with_ngrams) - set(without) == set(char_features(tokens, 3))
    assert without["w"] == "天" and without["w[-1]"] == "の"
