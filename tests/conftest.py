"""Shared fixtures: tiny SNIPS-style utterances (SNIPS is CC0) built in code, no external data."""

from __future__ import annotations

import pytest

from factories import bio
from tvd.data.utterance import Utterance
from tvd.linguist.request import WILDCARD, IncludeSlot, LinguistRequest


@pytest.fixture
def weather_seeds() -> list[Utterance]:
    return [
        bio("will it rain in boston on friday", "O O O O B-city O B-timeRange", "GetWeather"),
        bio("weather for austin tomorrow", "O O B-city B-timeRange", "GetWeather"),
        bio("is it cold in paris", "O O B-condition_temperature O B-city", "GetWeather"),
        bio("forecast for denver next week", "O O B-city B-timeRange I-timeRange", "GetWeather"),
    ]


@pytest.fixture
def request_(weather_seeds):
    return LinguistRequest(
        intent="GetWeather",
        labels=("timeRange", "city", "condition_temperature"),
        include=(IncludeSlot("city", "dallas"), IncludeSlot("timeRange", WILDCARD)),
        examples=tuple(weather_seeds[:2]),
        language="en",
        request_id="GetWeather-0-00000",
    )
