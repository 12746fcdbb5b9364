"""LINGUIST output parser and validator: every reject reason."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Span
from tvd.linguist.parse import REASONS, Rejection, parse_output


def test_parse_valid_output(request_):
    utterance = parse_output("what will the weather be in [2 dallas ] on [1 saturday ]", request_)
    assert utterance.text == "what will the weather be in dallas on saturday"
    assert utterance.intent == "GetWeather"
    assert utterance.spans == (Span(28, 34, "city"), Span(38, 46, "timeRange"))
    assert utterance.meta["request_id"] == "GetWeather-0-00000"


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("   ", "empty_output"),
        ("weather in [2 dallas on [1 monday ]", "nested_bracket"),
        ("weather in [2 dallas ] on [1 monday", "unbalanced_bracket"),
        ("weather in [2 ] on [1 monday ]", "empty_value"),
        ("weather in [9 dallas ] on [1 monday ]", "unknown_label"),
        ("weather in [2 dallas ] on [1 monday ] if [3 cold ]", "slot_not_requested"),
        ("weather in [2 dallas ] today", "missing_slot"),
        ("weather in [2 houston ] on [1 monday ]", "fixed_value_changed"),
        ("weather in [2 dallas ] on [1 * ]", "wildcard_not_filled"),
    ],
)
def test_parse_rejects_with_reason(request_, output, reason):
    with pytest.raises(Rejection) as info:
        parse_output(output, request_)
    assert info.value.reason == reason
    assert reason in REASONS


def test_truncated_and_translated_fixed_values(request_):
    with pytest.raises(Rejection) as info:
        parse_output("weather in [2 dallas ] on [1 monday ]", request_, finish_reason="length")
    assert info.value.reason == "truncated"
    # another language: the fixed value may be translated, as the prompt instructs
    utterance = parse_output("Wetter in [2 Dallas-Stadt ] am [1 Montag ]", request_, check_fixed_values=False)
    assert utterance.slots == [("city", "Dallas-Stadt"), ("timeRange", "Montag")]
    # fixed values compare case-insensitively
    assert parse_output("weather in [2 Dallas ] on [1 monday ]", request_).slots[0] == ("city", "Dallas")
