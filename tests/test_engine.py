"""The generation engine: cache, resume after a crash, accept/reject accounting, reproducible seeds."""

from __future__ import annotations

import re

import pytest

from tvd.data.resample import build_catalogue
from tvd.engine.cache import CompletionCache
from tvd.engine.generate import generate
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.task import LinguistTask
from tvd.teachers.base import Completion, GenerationParams
from tvd.teachers.scripted import ScriptedTeacher

LINGUIST = LinguistTask()


def _answer(prompt: str, seed: int) -> str:
    """A fake teacher that fills the include block of the prompt; about every third answer is malformed."""
    include = re.search(r"<include> (.*) </include>", prompt)
    slots = re.findall(r"\[(\d+) ([^\]]+?) \]", include.group(1)) if include else []
    if (seed // 1000 + seed) % 3 == 2:
        return "weather in [1 broken"
    parts = [f"[{n} {'place' + str(seed) if v == '*' else v} ]" for n, v in slots]
    return f"what about {' and '.join(parts)} please" if parts else f"weather now {seed}"


@pytest.fixture
def requests(weather_seeds):
    settings = PlanSettings(requests=6, examples_per_prompt=2, seed=3)
    return plan_requests("GetWeather", weather_seeds, settings, build_catalogue(weather_seeds))


def test_every_completion_is_accepted_or_rejected_with_reason(tmp_path, requests):
    teacher = ScriptedTeacher(_answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        result = generate(LINGUIST, requests, teacher, cache, samples_per_request=2, progress=False)
    stats = result.stats
    assert stats.samples == 12 == stats.accepted + sum(stats.rejected.values())
    assert stats.sent == 12 and stats.cached == 0
    assert stats.rejected["unbalanced_bracket"] == len(result.rejects) > 0
    assert all(r["raw"] == "weather in [1 broken" and r["reason"] == "unbalanced_bracket" for r in result.rejects)
    assert {u.meta["request_id"] for u in result.accepted} <= {r.request_id for r in requests}
    assert all(u.intent == "GetWeather" for u in result.accepted)


def test_rerun_is_served_from_cache(tmp_path, requests):
    teacher = ScriptedTeacher(_answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        first = generate(LINGUIST, requests, teacher, cache, samples_per_request=2, progress=False)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        second = generate(LINGUIST, requests, teacher, cache, samples_per_request=2, progress=False)
    assert teacher.calls == 12
    assert second.stats.cached == 12 and second.stats.sent == 0
    assert [u.to_dict() for u in first.accepted] == [u.to_dict() for u in second.accepted]


class _CrashingTeacher(ScriptedTeacher):
    def __init__(self, crash_after: int) -> None:
        super().__init__(_answer)
        self.crash_after = crash_after

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        if self.calls == self.crash_after:
            raise KeyboardInterrupt  # stands in for a crash or Ctrl-C mid-run
        return super().generate(prompt, n, params)


def test_interrupted_run_resumes_without_resending(tmp_path, requests):
    crashing = _CrashingTeacher(crash_after=5)
    with pytest.raises(KeyboardInterrupt), CompletionCache(tmp_path / "cache.sqlite") as cache:
        generate(LINGUIST, requests, crashing, cache, samples_per_request=2, progress=False)
    resumed_teacher = ScriptedTeacher(_answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        resumed = generate(LINGUIST, requests, resumed_teacher, cache, samples_per_request=2, progress=False)
    assert resumed.stats.cached == 5 and resumed.stats.sent == 7 and resumed_teacher.calls == 7
    with CompletionCache(tmp_path / "fresh.sqlite") as cache:
        uninterrupted = generate(
            LINGUIST, requests, ScriptedTeacher(_answer), cache, samples_per_request=2, progress=False
        )
    assert [u.to_dict() for u in resumed.accepted] == [u.to_dict() for u in uninterrupted.accepted]
    assert resumed.rejects == uninterrupted.rejects


def test_seeds_and_parameters_are_part_of_the_key(tmp_path, requests):
    seen: list[int] = []

    def record(prompt: str, seed: int) -> str:
        seen.append(seed)
        return _answer(prompt, seed)

    teacher = ScriptedTeacher(record)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        generate(LINGUIST, requests, teacher, cache, samples_per_request=3, progress=False)
        assert len(set(seen)) == 18  # each sample of each request has its own seed
        generate(
            LINGUIST,
            requests,
            teacher,
            cache,
            samples_per_request=3,
            params=GenerationParams(temperature=0.5),
            progress=False,
        )
    assert teacher.calls == 36  # changed parameters: nothing reused


def test_cache_round_trip(tmp_path):
    with CompletionCache(tmp_path / "c.sqlite") as cache:
        cache.put("k", "t", "r", 0, Completion("hi [1 x ]", 3, 4, "stop", {"a": 1}))
        assert cache.get("k") == Completion("hi [1 x ]", 3, 4, "stop", {"a": 1})
        assert cache.get("missing") is None
        assert len(cache) == 1


def test_existing_cache_opens_only_a_file_that_is_there(tmp_path):
    from tvd.engine.cache import existing_cache

    with existing_cache(tmp_path / "none.sqlite") as missing:
        assert missing is None
    assert not (tmp_path / "none.sqlite").exists()  # a dry run creates no cache file
    CompletionCache(tmp_path / "c.sqlite").close()
    with existing_cache(tmp_path / "c.sqlite") as cache:
        assert cache is not None and len(cache) == 0
