"""The engine knows no task: any object with the task protocol runs through the one loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tvd.engine.cache import CompletionCache
from tvd.engine.generate import estimate_generation, generate
from tvd.engine.task import Rejection
from tvd.teachers.base import Completion, GenerationParams
from tvd.teachers.scripted import ScriptedTeacher


@dataclass(frozen=True)
class Arithmetic:
    """A toy task, defined outside tvd: the teacher must answer a sum; odd answers are rejected."""

    name: str = "sums"
    unit: str = "sum"
    version: str = "sums-1"
    default_params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=4))

    def request_id(self, request: tuple[int, int]) -> str:
        return f"{request[0]}+{request[1]}"

    def prompt(self, request: tuple[int, int]) -> str:
        return f"{request[0]} + {request[1]} ="

    def grammar(self, request: tuple[int, int]) -> str | None:
        return "root ::= [0-9]+"

    def validate(self, request: tuple[int, int], completion: Completion, *, sample: int, teacher: str) -> int:
        value = int(completion.text)
        if value % 2:
            raise Rejection("odd", f"{value} is odd")
        return value

    def reject_record(self, request: tuple[int, int], sample: int, rejection: Rejection, raw: str) -> dict[str, Any]:
        return {"request_id": self.request_id(request), "sample": sample, "reason": rejection.reason, "raw": raw}


class _Recording(ScriptedTeacher):
    def __init__(self) -> None:
        super().__init__(_answer)
        self.params_seen: list[GenerationParams] = []

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        self.params_seen.append(params)
        return super().generate(prompt, n, params)


def _answer(prompt: str, seed: int) -> str:
    a, b = (int(x) for x in prompt.rstrip(" =").split(" + "))
    return str(a + b + seed % 1000)  # sample s adds s: sample 0 right, sample 1 off by one


def test_a_task_of_its_own_runs_through_the_one_loop(tmp_path) -> None:
    requests = [(1, 1), (2, 3), (4, 4)]
    teacher = _Recording()
    with CompletionCache(tmp_path / "c.sqlite") as cache:
        result = generate(Arithmetic(), requests, teacher, cache, samples_per_request=2, progress=False)
        again = generate(Arithmetic(), requests, teacher, cache, samples_per_request=2, progress=False)
    assert result.accepted == [2, 6, 8]  # request and sample order; sample s answers the sum + s
    assert result.stats.rejected == {"odd": 3} and [r["raw"] for r in result.rejects] == ["3", "5", "9"]
    assert result.stats.to_dict()["parser_version"] == "sums-1"
    assert teacher.calls == 6 and again.stats.cached == 6 and again.accepted == result.accepted
    params = teacher.params_seen[0]
    assert params.max_tokens == 4 and params.grammar == "root ::= [0-9]+"  # the task's defaults and grammar


def test_send_false_uses_the_cache_only(tmp_path) -> None:
    teacher = ScriptedTeacher(_answer)
    with CompletionCache(tmp_path / "c.sqlite") as cache:
        generate(Arithmetic(), [(1, 1)], teacher, cache, progress=False)
        peek = generate(Arithmetic(), [(1, 1), (2, 2)], teacher, cache, progress=False, send=False)
        estimate = estimate_generation(Arithmetic(), [(1, 1), (2, 2)], teacher, cache)
    assert teacher.calls == 1
    assert peek.accepted == [2] and peek.stats.cached == 1 and peek.stats.unsent == 1
    assert (estimate.planned, estimate.cached, estimate.to_send) == (2, 1, 1)
