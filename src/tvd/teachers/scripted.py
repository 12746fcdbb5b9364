"""A scripted fake teacher for unit tests of pipeline logic (never used for results)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tvd.teachers.base import Completion, GenerationParams, Teacher


class ScriptedTeacher(Teacher):
    """Answers from a fixed list (cycled) or a function of ``(prompt, sample_seed)``.

    ``calls`` counts how many completions were requested, so tests can check caching.
    """

    backend = "scripted"

    def __init__(self, script: Sequence[str] | Callable[[str, int], str], name: str = "scripted") -> None:
        self._script = script
        self._name = name
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self._name

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        out = []
        for i in range(n):
            seed = params.seed + i
            if callable(self._script):
                text = self._script(prompt, seed)
            else:
                text = self._script[self.calls % len(self._script)]
            self.calls += 1
            out.append(Completion(text=text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split())))
        return out
