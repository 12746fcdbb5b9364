"""Token and cost accounting: a price table and the token counts of one completion.

Token counts come from the server's usage fields; where a backend reports none they are estimated with
the teacher's :meth:`~tvd.teachers.base.Teacher.count_tokens` (and counted as estimates in the summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tvd.teachers.base import Completion, Teacher


@dataclass(frozen=True)
class Price:
    """US dollars per million input (prompt) and output (completion) tokens; zero = free (local)."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    @property
    def is_free(self) -> bool:
        return self.input_per_million == 0.0 and self.output_per_million == 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for ``prompt_tokens`` in and ``completion_tokens`` out."""
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


@dataclass(frozen=True)
class Usage:
    """Tokens of one completion; ``estimated`` when either count was not reported by the backend."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool


def usage_of(completion: Completion, prompt: str, teacher: Teacher, prompt_estimate: int | None = None) -> Usage:
    """The token counts of ``completion`` of ``prompt``: the backend's where reported, else estimated.

    ``prompt_estimate`` saves tokenizing the same prompt again (n samples share one prompt).
    """
    estimated = False
    prompt_tokens = completion.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = prompt_estimate if prompt_estimate is not None else teacher.count_tokens(prompt)
        estimated = True
    completion_tokens = completion.completion_tokens
    if completion_tokens is None:
        completion_tokens = teacher.count_tokens(completion.text) if completion.text else 0
        estimated = True
    return Usage(prompt_tokens, completion_tokens, estimated)


@dataclass
class Budget:
    """A run's spending limit in dollars, shared by what it sends in turn (the seed translations, the generation,
    then a filter that asks the teacher, the judge): each gives its dispatch :meth:`left` and records what it
    spent with :meth:`spend`."""

    limit_usd: float
    spent_usd: float = 0.0
    spent_by: dict[str, float] = field(default_factory=dict)

    def left(self) -> float:
        return max(self.limit_usd - self.spent_usd, 0.0)

    def spend(self, dollars: float, by: str) -> None:
        self.spent_usd += dollars
        self.spent_by[by] = self.spent_by.get(by, 0.0) + dollars


def format_cost(dollars: float) -> str:
    """``$0.0123`` with enough digits to show small amounts."""
    if dollars == 0:
        return "$0"
    return f"${dollars:,.4f}" if dollars < 100 else f"${dollars:,.2f}"
