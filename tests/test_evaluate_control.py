"""Control-quality metrics of generated data: well-formed, fixed values honoured, wildcard novelty, templates."""

from __future__ import annotations

from factories import bio
from tvd.data.utterance import Span, Utterance
from tvd.evaluate.control import ControlCounts, ControlSample, control_counts, control_quality
from tvd.filters.template import template_of
from tvd.linguist.request import IncludeSlot, LinguistRequest

SEED = bio("will it rain in boston tomorrow", "O O O O B-city B-timeRange", "GetWeather")
REQUEST = LinguistRequest(
    intent="GetWeather",
    labels=("timeRange", "city"),
    include=(IncludeSlot("city", "paris"), IncludeSlot("timeRange")),
    examples=(SEED,),
)


def test_control_quality_counts_each_share() -> None:
    samples = [
        ControlSample(REQUEST, "rain in [2 paris ] [1 tonight ]\n"),  # fixed kept, wildcard new
        ControlSample(REQUEST, "is it hot in [2 Paris ] [1 tomorrow ]"),  # fixed kept (case), wildcard seen
        ControlSample(REQUEST, "rain in [2 rome ] [1 next week ]"),  # fixed changed, wildcard new, template seen
        ControlSample(REQUEST, "weather in [2 paris [1 now ]"),  # not well-formed
        ControlSample(REQUEST, "weather in [7 paris ]"),  # unknown label number
    ]
    assert control_counts(samples) == ControlCounts(5, 3, 3, 2, 3, 2, 2)  # what the shares are made of
    quality = control_quality(samples)
    assert quality["samples"] == 5
    assert quality["well_formed"] == 3 / 5
    assert quality["fixed_honoured"] == 2 / 3
    assert quality["wildcard_novel"] == 2 / 3
    assert quality["templates_per_100"] == 100 * 2 / 3  # 2 templates in 3 parsed


def test_seed_values_can_be_given_and_empty_input_is_undefined() -> None:
    samples = [ControlSample(REQUEST, "rain in [2 paris ] [1 tonight ]")]
    assert control_quality(samples, {"timeRange": ["tonight"]})["wildcard_novel"] == 0.0
    empty = control_quality([])
    assert empty["well_formed"] is None and empty["templates_per_100"] is None


def test_templates_are_the_template_filters() -> None:
    # one definition for the metric and the filter: values become {label}, labels keep their case
    assert template_of(SEED) == "will it rain in {city} {timeRange}"
    text = " Will it  RAIN in\tboston tomorrow"
    spaced = Utterance(text, "GetWeather", (Span(18, 24, "city"), Span(25, 33, "timeRange")))
    assert template_of(spaced) == template_of(SEED)


def test_free_samples_ask_the_teacher_once_per_request_without_the_grammar() -> None:
    from tvd.evaluate.control import free_samples
    from tvd.linguist.prompt import build_prompt
    from tvd.teachers.base import Completion, GenerationParams
    from tvd.teachers.scripted import ScriptedTeacher

    class Recording(ScriptedTeacher):
        def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
            calls.append((prompt, n, params))
            return super().generate(prompt, n, params)

    calls: list[tuple[str, int, GenerationParams]] = []
    teacher = Recording(lambda prompt, seed: f"rain in [2 paris ] [1 day {seed} ]")
    params = GenerationParams(seed=11, grammar="root ::= [a-z]+")
    samples = free_samples([REQUEST, REQUEST], teacher, params)
    assert [s.text for s in samples] == ["rain in [2 paris ] [1 day 11 ]"] * 2
    assert all(s.request is REQUEST for s in samples)
    assert [(prompt, n, p.grammar, p.seed) for prompt, n, p in calls] == [(build_prompt(REQUEST), 1, None, 11)] * 2
    assert control_quality(samples)["well_formed"] == 1.0
