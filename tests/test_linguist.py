"""LINGUIST requests, prompt builder, output grammar, parser/validator and planner."""

from __future__ import annotations

import re

import pytest

from tvd.data.resample import build_catalogue
from tvd.data.utterance import Span
from tvd.errors import TvdError
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import REASONS, Rejection, parse_output
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import WILDCARD, IncludeSlot, LinguistRequest, language_name


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


def _grammar_language(grammar: str) -> re.Pattern[str]:
    """Translate our GBNF (only literals, char classes, ?, *, |, groups) into a Python regex, to check it."""
    rules = {}
    for line in grammar.strip().splitlines():
        name, body = line.split(" ::= ", 1)
        rules[name] = body

    def expand(body: str, depth: int = 0) -> str:
        out, i = [], 0
        while i < len(body):
            ch = body[i]
            if ch == '"':
                j = i + 1
                literal = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        literal.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        literal.append(body[j])
                    j += 1
                out.append(re.escape("".join(literal)))
                i = j + 1
            elif ch == "[":
                j = body.index("]", i + 2)
                while body[j - 1] == "\\":
                    j = body.index("]", j + 1)
                out.append(body[i : j + 1])
                i = j + 1
            elif ch in "()|?*+ ":
                out.append("" if ch == " " else ch)
                i += 1
            elif ch == "{":
                j = body.index("}", i)
                out.append(body[i : j + 1])
                i = j + 1
            else:
                match = re.match(r"[a-z0-9-]+", body[i:])
                assert match, body[i:]
                out.append("(?:" + expand(rules[match.group(0)], depth + 1) + ")")
                i += len(match.group(0))
        return "".join(out)

    return re.compile(expand(rules["root"]))


def test_grammar_admits_valid_outputs_and_nothing_malformed(request_):
    language = _grammar_language(output_grammar(request_))
    assert language.fullmatch("what is the weather in [2 dallas ] on [1 saturday ]\n")
    assert language.fullmatch("[1 tonight ] in [2 dallas ]?")
    assert not language.fullmatch("weather in [2 houston ] on [1 saturday ]")  # fixed value forced
    assert not language.fullmatch("weather in [2 dallas ]")  # wildcard slot required
    assert not language.fullmatch("weather in [2 dallas ] on [1 * ]")
    assert not language.fullmatch("weather [3 cold ] in [2 dallas ] on [1 monday ]")
    assert not language.fullmatch("weather in [2 dallas ] on [1 mon ] </examples>")
    assert not language.fullmatch("28 | 30 | 31 [2 dallas ] on [1 mon ]")  # markup characters
    assert not language.fullmatch("a b c d e f g h i j [2 dallas ] on [1 mon ]")  # babble is bounded
    translated = _grammar_language(output_grammar(request_, same_language_fixed_values=False))
    assert translated.fullmatch("Wetter in [2 Dallas ] am [1 Montag ]")


def test_grammar_without_slots_needs_some_text(weather_seeds):
    request = LinguistRequest("GetWeather", ("city",))
    language = _grammar_language(output_grammar(request))
    assert language.fullmatch("how is the weather")
    assert not language.fullmatch("")
    assert not language.fullmatch("weather in [1 x ]")


def test_planner_is_deterministic_and_varies_numbering(weather_seeds):
    settings = PlanSettings(requests=20, examples_per_prompt=3, wildcard_rate=0.5, seed=7)
    catalogue = build_catalogue(weather_seeds)
    first = plan_requests("GetWeather", weather_seeds, settings, catalogue)
    again = plan_requests("GetWeather", weather_seeds, settings, catalogue)
    assert [build_prompt(r) for r in first] == [build_prompt(r) for r in again]
    assert len({r.labels for r in first}) > 1  # shuffled label numbering
    assert all(len(r.examples) == 3 for r in first)
    signatures = {tuple(s.label for s in u.spans) for u in weather_seeds}
    assert all(tuple(s.label for s in r.include) in signatures for r in first)
    values = [s.value for r in first for s in r.include]
    assert WILDCARD in values and any(v != WILDCARD for v in values)
    assert all(v == WILDCARD or v in catalogue[s.label] for r in first for s in r.include for v in [s.value])
    assert plan_requests("GetWeather", weather_seeds, PlanSettings(requests=5, seed=8), catalogue) != first[:5]


def test_planner_zero_shot_fixed_values_and_errors(weather_seeds):
    settings = PlanSettings(requests=10, examples_per_prompt=0, fixed_values={"city": ["dallas"]}, seed=1)
    requests = plan_requests("GetWeather", weather_seeds, settings)
    assert all(r.examples == () for r in requests)
    assert all(s.value == "dallas" for r in requests for s in r.include if s.label == "city")
    with pytest.raises(TvdError, match="E203"):
        plan_requests("GetWeather", weather_seeds, PlanSettings(fixed_values={"airline": ["x"]}))
    with pytest.raises(TvdError, match="E201"):
        plan_requests("GetWeather", weather_seeds, PlanSettings(wildcard_rate=1.5))
