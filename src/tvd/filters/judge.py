"""A teacher as judge: asks, per generated utterance, whether it is a request of its intent with values of the
right types, and removes it on "no" (reason ``judge_rejected``).

The prompt (:meth:`JudgeFilter.prompt`) is short and written for any model, a pretrained one included (the
embedded Gemma 3 270M is not instruction-tuned): one header line saying what is judged, ``examples`` answered
lines, then the question line, which ends where the answer starts (here with ``examples: 1``)::

    Does each request ask for its intent, with every [label=value] a value of the right type for its label?
    intent: book restaurant | request: book a table for [party_size_number=four] in [city=boston] | answer: yes
    intent: book restaurant | request: play some [genre=jazz] | answer: no
    intent: book restaurant | request: reserve a table at [restaurant_name=the keg] | answer:

The intent name is humanised (``BookRestaurant`` / ``book_restaurant`` -> ``book restaurant``); slots are shown
inline as ``[label=value]``.  With ``examples`` k > 0 (0 to 8, default 0) the prompt holds the first k seeds
answered "yes" (fewer when there are fewer seeds) and as many made-up "no" lines, alternating between a base
utterance of another intent shown as this intent and a seed whose values are put under the wrong labels (its
labels rotated among its slots, or, with one label, its value replaced by a base value of another label).  They
are fixed for a filter (base utterances are drawn with a fixed seed), so the same utterance always gets the same
prompt and every prompt of a run shares them.

The answer is one word, greedy (temperature 0): a GBNF grammar (:data:`YES_NO_GRAMMAR`) limits it to "yes" or
"no" on backends that take grammars (llama.cpp, servers with grammar support); others may write anything, and
:func:`parse_answer` reads it leniently (the first word, case and punctuation ignored: yes / y / true, no / n /
false).  An answer it cannot read, or a request that failed after the engine's retries, **keeps** the utterance
(a judge that cannot answer removes nothing) and is counted in :attr:`JudgeFilter.stats` (``unparseable``,
``failed``), next to ``yes``, ``no``, ``sent`` and ``cached``.  No backend reports token probabilities, so there
is no yes-probability threshold: the word decides.

Calls go through the engine's :class:`~tvd.engine.dispatch.Dispatcher` (the teacher's batching, concurrency,
retries and rate limits, with the run's :class:`~tvd.engine.dispatch.EngineSettings` when given), every text of a
batch in one dispatch (:meth:`JudgeFilter.prepare`).  With a completion cache (in a run, the run's
``cache.sqlite``) each answer is stored under :func:`~tvd.teachers.base.request_key` of its prompt and the judge's
parameters, sample 0, whatever the utterance's place in the batch, so a resumed run does not ask again.

The judge's calls count against the run's ``--budget`` (:class:`~tvd.engine.accounting.Budget`, what the
translations and the generation left of it), are in the dry-run estimate (an upper bound: every planned
completion judged) and their cost is in :attr:`JudgeFilter.spent_usd` and the run's cost line.  When the budget
runs out, the utterances not judged are left out with reason ``judge_not_asked`` (in ``filtered.jsonl``, as any
removal) and counted in ``stats["unsent"]``: a re-run with a higher budget asks about them and keeps the answers
already cached.

Measured on SNIPS training data with the embedded teacher (``bench/filter_calibration.py --filters judge``: 3
intents x 40 real held-out + 40 generated utterances, seed 0): Gemma 3 270M answered "yes" to all 240 without
examples; with ``examples`` 2 / 4 it removed 10.8 / 14.2 % of the real utterances and 10.0 / 14.2 % of the
generated ones.  A judge that removes real data as often as generated data does not help, so the judge is not in
``tvd run``'s default pipeline; it is there for a stronger teacher.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.utterance import Span, Utterance
from tvd.engine.accounting import Budget
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import Dispatcher, EngineSettings, Job, Outcome
from tvd.filters.base import Filter, FilterContext, OptionRange
from tvd.teachers.base import Completion, GenerationParams, Teacher, request_key

YES_NO_GRAMMAR = 'root ::= " "? ("yes" | "no")\n'
"""The answer: one word, "yes" or "no" (an optional leading space, which most tokenizers put before a word)."""

HEADER = "Does each request ask for its intent, with every [label=value] a value of the right type for its label?"
"""The first line of every judge prompt."""

JUDGE_PARAMS = GenerationParams(max_tokens=4, temperature=0.0, top_p=1.0, top_k=0, seed=0, stop=("\n",))
"""Greedy decoding of a few tokens: the judge's answer is deterministic, its seed irrelevant."""

_YES = frozenset({"yes", "y", "true"})
_NO = frozenset({"no", "n", "false"})
_WORD = re.compile(r"[a-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_.\-/:]+")


def humanise(intent: str) -> str:
    """The intent name in words: ``BookRestaurant``, ``book_restaurant``, ``weather.query`` ->
    ``book restaurant``, ``book restaurant``, ``weather query``."""
    return " ".join(_SEPARATORS.sub(" ", _CAMEL.sub(" ", intent)).lower().split())


def render(utterance: Utterance) -> str:
    """The utterance's text with each slot written inline as ``[label=value]``, on one line."""
    pieces: list[str] = []
    cursor = 0
    for span in utterance.spans:
        pieces += [utterance.text[cursor : span.start], f"[{span.label}={utterance.value(span)}]"]
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return " ".join("".join(pieces).split())


def parse_answer(text: str) -> bool | None:
    """``True`` for yes, ``False`` for no, ``None`` when the answer's first word is neither (see module doc)."""
    match = _WORD.search(text.casefold())
    if match is None:
        return None
    word = match.group()
    return True if word in _YES else False if word in _NO else None


def _line(intent: str, shown: str, answer: str | None = None) -> str:
    return f"intent: {intent} | request: {shown} | answer:" + (f" {answer}" if answer is not None else "")


def _mislabelled(seed: Utterance, base: Sequence[Utterance], rng: random.Random) -> str | None:
    """A seed shown with values under the wrong labels: labels rotated among its slots, or, with one slot (or
    one label), the value replaced by a base value of another label; ``None`` when there is nothing to swap."""
    labels = [span.label for span in seed.spans]
    if len(set(labels)) > 1:
        rotated = labels[1:] + labels[:1]
        spans = tuple(Span(s.start, s.end, label) for s, label in zip(seed.spans, rotated, strict=True))
        return render(seed.replace(spans=spans))
    if not labels:
        return None
    others = sorted({(s.label, u.value(s)) for u in base for s in u.spans if s.label != labels[0]})
    if not others:
        return None
    _, value = others[rng.randrange(len(others))]
    span = seed.spans[0]
    text = seed.text[: span.start] + value + seed.text[span.end :]
    return render(Utterance(text, seed.intent, (Span(span.start, span.start + len(value), span.label),)))


class JudgeFilter(Filter):
    """Removes an utterance when ``teacher`` answers "no" to whether it is a request of its intent with values
    of the right types (see the module docstring).  ``examples``: answered yes- and no-lines in the prompt."""

    name = "judge"
    reason = "judge_rejected"
    unasked_reason: ClassVar[str] = "judge_not_asked"
    needs_teacher: ClassVar[bool] = True
    options: ClassVar[Mapping[str, Any]] = MappingProxyType({"examples": 0, "constrained": True})
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {"examples": OptionRange(int, 0, 8), "constrained": OptionRange(bool)}
    )

    def __init__(
        self,
        teacher: Teacher,
        seeds: Sequence[Utterance] = (),
        base: Sequence[Utterance] = (),
        *,
        cache: CompletionCache | None = None,
        engine: EngineSettings | None = None,
        budget: Budget | None = None,
        examples: int = 0,
        constrained: bool = True,
    ) -> None:
        self.teacher = teacher
        self.budget = budget
        #: dollars the judge's sent calls cost (at the engine's price)
        self.spent_usd = 0.0
        self.cache = cache
        self.engine = engine
        self.params = replace(JUDGE_PARAMS, grammar=YES_NO_GRAMMAR) if constrained else JUDGE_PARAMS
        self.seeds = tuple(seeds)
        self.base = tuple(base)
        self.examples = examples
        #: counts of the judge's answers (distinct prompts): yes, no, unparseable, failed; sent, cached; unsent
        #: (not asked: the budget ran out)
        self.stats: Counter[str] = Counter()
        self._answers: dict[str, bool | None] = {}
        self._unasked: set[str] = set()
        self._fingerprint = teacher.fingerprint()
        self._shots: dict[str, list[str]] = {}

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        options = cls.resolve_options(context.options)
        return cls(
            cls.require_teacher(context),
            context.seeds,
            context.base,
            cache=context.cache,
            engine=context.engine,
            budget=context.budget,
            **options,
        )

    # -- the prompt ------------------------------------------------------------------------------
    def _examples(self, intent: str) -> list[str]:
        """The answered lines of ``intent``'s prompts (fixed per filter and intent)."""
        if intent in self._shots:
            return self._shots[intent]
        shown = humanise(intent)
        rng = random.Random(0)
        own = [s for s in self.seeds if s.intent == intent] or list(self.seeds)
        others = [u for u in self.base if u.intent != intent]
        yes = [_line(shown, render(s), "yes") for s in own[: self.examples]]
        no: list[str] = []
        drawn = rng.sample(others, min(len(others), self.examples)) if others else []
        for i in range(len(yes)):  # as many no-lines as yes-lines: a one-sided prompt biases the answer
            line = None
            if i % 2 == 0 and i // 2 < len(drawn):
                line = render(drawn[i // 2])
            elif own:
                line = _mislabelled(own[(i // 2) % len(own)], self.base, rng)
            if line is None and drawn:
                line = render(drawn[i % len(drawn)])
            if line is not None:
                no.append(_line(shown, line, "no"))
        lines: list[str] = []
        for i in range(max(len(yes), len(no))):
            lines += [*yes[i : i + 1], *no[i : i + 1]]
        self._shots[intent] = lines
        return lines

    def prompt(self, utterance: Utterance) -> str:
        """The judge's prompt for ``utterance`` (its answer is the next word)."""
        intent = utterance.intent or ""
        return "\n".join([HEADER, *self._examples(intent), _line(humanise(intent), render(utterance))])

    # -- asking ----------------------------------------------------------------------------------
    def _settle(self, prompt: str, completion: Completion) -> None:
        verdict = parse_answer(completion.text)
        self._answers[prompt] = verdict
        self.stats["unparseable" if verdict is None else "yes" if verdict else "no"] += 1

    def _ask(self, prompts: Sequence[str]) -> None:
        """Answers for the prompts not yet answered: from the cache, else from the teacher in one dispatch."""
        jobs: list[Job] = []
        for prompt in dict.fromkeys(prompts):
            if prompt in self._answers or prompt in self._unasked:
                continue
            key = request_key(self._fingerprint, prompt, self.params, 0)
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                self.stats["cached"] += 1
                self._settle(prompt, cached)
            else:
                jobs.append(Job(len(jobs), prompt, self.params, key, self.teacher.count_tokens(prompt)))

        def done(job: Job, outcome: Outcome) -> None:
            if outcome.completion is None:
                self._answers[job.prompt] = None
                self.stats["failed"] += 1
                return
            if self.cache is not None:
                request_id = "judge-" + hashlib.sha256(job.prompt.encode("utf-8")).hexdigest()[:16]
                self.cache.put(job.key, self._fingerprint, request_id, 0, outcome.completion)
            self.stats["sent"] += 1
            self._settle(job.prompt, outcome.completion)

        if jobs:  # the engine's dispatcher (one the settings name, e.g. Ray's, else this process's)
            dispatcher = getattr(self.engine, "dispatcher", None) or Dispatcher
            budget_usd = self.budget.left() if self.budget is not None else None
            report = dispatcher(self.teacher, self.engine, on_done=done, budget_usd=budget_usd).run(jobs)
            self.spent_usd += report.spent_usd
            if self.budget is not None:
                self.budget.spend(report.spent_usd, self.name)
            unasked = {job.prompt for job in jobs} - set(self._answers)
            if unasked:
                self._unasked |= unasked
                self.stats["unsent"] += len(unasked)

    def prepare(self, utterances: Sequence[Utterance]) -> None:
        self._ask([self.prompt(utterance) for utterance in utterances])

    def check(self, utterance: Utterance) -> str | None:
        prompt = self.prompt(utterance)
        if prompt not in self._answers and prompt not in self._unasked:
            self._ask([prompt])
        if prompt in self._unasked:
            return self.unasked_reason
        return self.reason if self._answers[prompt] is False else None
