"""LINGUIST prompt builder and request type."""

from __future__ import annotations

import pytest

from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import IncludeSlot, LinguistRequest, language_name


def test_prompt_has_the_five_blocks_with_numbered_labels(request_):
    prompt = build_prompt(request_)
    assert prompt.startswith("<language> English </language> <intent> GetWeather </intent>\n")
    assert "<include> [2 dallas ], [1 * ] </include>" in prompt
    assert "<labels> [1=timeRange], [2=city], [3=condition_temperature] </labels>" in prompt
    assert "will it rain in [2 boston ] on [1 friday ]" in prompt
    # the prompt ends inside the open examples block: the completion is the next example line
    examples = "will it rain in [2 boston ] on [1 friday ]\nweather for [2 austin ] [1 tomorrow ]\n"
    assert prompt.endswith("<examples>\n" + examples)


def test_zero_shot_prompt_and_other_language(request_):
    request = LinguistRequest("GetWeather", request_.labels, request_.include, (), "de")
    prompt = build_prompt(request)
    assert "<language> German </language>" in prompt
    assert prompt.endswith("</labels>\n<examples>\n")
    assert language_name("ja") == "Japanese" and language_name("xx") == "xx"


def test_request_rejects_labels_outside_the_map(weather_seeds):
    with pytest.raises(ValueError, match="not in the label map"):
        LinguistRequest("GetWeather", ("city",), (IncludeSlot("timeRange"),))
    with pytest.raises(ValueError, match="example slot"):
        LinguistRequest("GetWeather", ("city",), (), (weather_seeds[0],))
