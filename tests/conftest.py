"""Shared fixtures: tiny SNIPS-style utterances (SNIPS is CC0) built in code, no external data."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no config files, no instance metadata: nothing can reach AWS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
