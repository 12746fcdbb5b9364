"""Small builders for test data (SNIPS-style utterances written in code; SNIPS is CC0)."""

from __future__ import annotations

import os
from pathlib import Path

from tvd.data.utterance import Span, Utterance


def tagged(text: str, intent: str | None, *slots: tuple[str, str]) -> Utterance:
    """An utterance whose slots are given as (label, value) pairs found left to right in the text."""
    spans, cursor = [], 0
    for label, value in slots:
        start = text.index(value, cursor)
        spans.append(Span(start, start + len(value), label))
        cursor = start + len(value)
    return Utterance(text, intent, tuple(spans))


def bio(tokens: str, tags: str, intent: str, language: str = "en") -> Utterance:
    """An utterance from space-separated tokens and BIO tags."""
    return Utterance.from_bio(tokens.split(), tags.split(), intent=intent, language=language)


# Twelve utterances of three intents with slots: enough for a student to fit, small enough for a fast test.
THREE_INTENTS = [
    bio("play some jazz", "O O B-genre", "PlayMusic"),
    bio("play the beatles in the kitchen", "O B-artist I-artist O O B-room", "PlayMusic"),
    bio("put on miles davis", "O O B-artist I-artist", "PlayMusic"),
    bio("play rock music in the bedroom", "O B-genre O O O B-room", "PlayMusic"),
    bio("will it rain in boston tomorrow", "O O O O B-city B-timeRange", "GetWeather"),
    bio("weather for austin on friday", "O O B-city O B-timeRange", "GetWeather"),
    bio("is it cold in paris", "O O O O B-city", "GetWeather"),
    bio("forecast for denver tomorrow", "O O B-city B-timeRange", "GetWeather"),
    bio("book a table for two in boston", "O O O O B-party_size O B-city", "BookRestaurant"),
    bio("reserve a table for four", "O O O O B-party_size", "BookRestaurant"),
    bio("book a restaurant in paris for six", "O O O O B-city O B-party_size", "BookRestaurant"),
    bio("i need a table for three tonight", "O O O O O B-party_size B-timeRange", "BookRestaurant"),
]


def shared_data(name: str) -> Path:
    """A folder of the public datasets: ``$TVD_DATA/name``, else ``../shared/data/name`` next to the repository.

    Tests that need real data skip when it is absent (the project ships none of it).
    """
    root = os.environ.get("TVD_DATA")
    return (Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data") / name
