"""CLASP requests (:mod:`tvd.clasp`) through the engine: cache, resume, dispatch, validation, rejects, accounting.

The same machinery as LINGUIST's :func:`tvd.engine.generate.generate` (that loop is written for LINGUIST
requests and its parser, so CLASP has this small loop over the same parts): every completion is keyed by
:func:`~tvd.teachers.base.request_key` (teacher, prompt, parameters with grammar and seed, sample) and
stored in the :class:`~tvd.engine.cache.CompletionCache` the moment it arrives, so a re-run or a run
restarted after a crash sends only what is missing; the :class:`~tvd.engine.dispatch.Dispatcher` handles
concurrency, retries and budget; raw text is cached and validated again on every run.  Every request ends
up accepted, rejected (with reason) or failed (with reason).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tqdm.auto import tqdm

from tvd.clasp.strategies import ClaspRequest
from tvd.clasp.validate import Rejection, check_output
from tvd.data.parse_tree import Tree
from tvd.engine.accounting import usage_of
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import Dispatcher, EngineSettings, Job, Outcome
from tvd.teachers.base import Completion, GenerationParams, Teacher, request_key

_SEED_STRIDE = 1000


@dataclass
class ClaspResult:
    """Accepted outputs (dicts with ``request_id``, ``text``, ``top`` or ``value``), rejects, failures, stats."""

    accepted: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)


def shape(tree: Tree) -> Tree:
    """The tree's labels only (slot values blanked): TB outputs must keep the English parse's shape."""
    if tree.is_preterminal():
        return Tree(tree.label, ("*",))
    return Tree(tree.label, tuple(shape(c) for c in tree.subtrees))


def _validate(
    request: ClaspRequest, completion: Completion, lexicon: Mapping[str, Sequence[str]] | None
) -> dict[str, Any]:
    if request.kind == "value":
        text = completion.text.strip()
        if text.endswith("</"):
            text = text[:-2].strip()
        if not text or "<" in text or ">" in text:
            raise Rejection("empty_value" if not text else "malformed", f"bad translation {text!r}")
        return {"source": request.source, "value": text}
    checked = check_output(
        completion.text,
        expected=request.expected,
        finish_reason=completion.finish_reason,
        language=request.language,
        lexicon=lexicon if request.language == "en" else None,  # the catalogues are English
    )
    if request.strategy == "tb" and request.source:
        source = Tree.from_top(request.source).semantics_only()
        if not shape(checked.tree.semantics_only()).unordered_equal(shape(source)):
            raise Rejection("parse_changed", "the translated parse does not have the English parse's shape")
    return {"text": checked.text, "top": str(checked.tree)}


def generate_pairs(
    requests: Sequence[ClaspRequest],
    teacher: Teacher,
    cache: CompletionCache,
    *,
    params: GenerationParams | None = None,
    samples_per_request: int = 1,
    constrained: bool = True,
    settings: EngineSettings | None = None,
    budget_usd: float | None = None,
    progress: bool = True,
    lexicon: Mapping[str, Sequence[str]] | None = None,
) -> ClaspResult:
    """Generate and validate one completion per request and sample (see the module docstring).

    ``lexicon`` (label -> catalogue values): English outputs with a known TOPPING / DRINKTYPE / STYLE value
    outside any slot are rejected (``value_outside_slot``)."""
    started = time.perf_counter()
    settings = settings or EngineSettings()
    base = params or GenerationParams(max_tokens=192, temperature=0.7)
    fingerprint = teacher.fingerprint()
    planned: list[tuple[Job, ClaspRequest, int]] = []
    for r, request in enumerate(requests):
        tokens = teacher.count_tokens(request.prompt)
        for sample in range(samples_per_request):
            p = replace(
                base, seed=base.seed + r * _SEED_STRIDE + sample, grammar=request.grammar if constrained else None
            )
            key = request_key(fingerprint, request.prompt, p, sample)
            planned.append((Job(len(planned), request.prompt, p, key, tokens), request, sample))

    accepted: list[dict[str, Any] | None] = [None] * len(planned)
    rejects: list[dict[str, Any] | None] = [None] * len(planned)
    failures: list[dict[str, Any] | None] = [None] * len(planned)
    counts: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    tokens_in = tokens_out = 0
    cost = 0.0

    def settle(index: int, completion: Completion) -> None:
        nonlocal tokens_in, tokens_out
        job, request, sample = planned[index]
        usage = usage_of(completion, job.prompt, teacher, job.prompt_tokens)
        tokens_in += usage.prompt_tokens
        tokens_out += usage.completion_tokens
        try:
            record = _validate(request, completion, lexicon)
        except Rejection as rejection:
            rejected[rejection.reason] += 1
            rejects[index] = {
                "request_id": request.request_id,
                "strategy": request.strategy,
                "sample": sample,
                "reason": rejection.reason,
                "message": str(rejection),
                "raw": completion.text,
                "expected": str(request.expected) if request.expected is not None else None,
            }
        else:
            counts["accepted"] += 1
            accepted[index] = {
                "request_id": request.request_id,
                "strategy": request.strategy,
                "language": request.language,
                "sample": sample,
                **record,
                "teacher": fingerprint,
            }

    to_send: list[Job] = []
    for job, _, _ in planned:
        completion = cache.get(job.key)
        if completion is None:
            to_send.append(job)
        else:
            counts["cached"] += 1
            settle(job.index, completion)
    bar = tqdm(total=len(planned), initial=counts["cached"], desc="clasp", unit="pair", disable=not progress)
    try:

        def done(job: Job, outcome: Outcome) -> None:
            nonlocal cost
            _, request, sample = planned[job.index]
            if outcome.completion is None:
                failures[job.index] = {
                    "request_id": request.request_id,
                    "sample": sample,
                    "reason": outcome.reason,
                    "message": outcome.message,
                    "attempts": outcome.attempts,
                }
            else:
                cache.put(job.key, fingerprint, request.request_id, sample, outcome.completion)
                counts["sent"] += 1
                settle(job.index, outcome.completion)
                usage = usage_of(outcome.completion, job.prompt, teacher, job.prompt_tokens)
                cost += settings.price.cost(usage.prompt_tokens, usage.completion_tokens)
            bar.set_postfix(accepted=counts["accepted"], rejected=sum(rejected.values()), refresh=False)
            bar.update(1)

        report = Dispatcher(teacher, settings, on_done=done, budget_usd=budget_usd).run(to_send)
    finally:
        bar.close()
    stats = {
        "requests": len(requests),
        "planned": len(planned),
        "cached": counts["cached"],
        "sent": counts["sent"],
        "accepted": counts["accepted"],
        "rejected": sum(rejected.values()),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "failed": sum(1 for f in failures if f is not None),
        "unsent": len(report.unsent),
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "cost_usd": round(cost, 6),
        "teacher_seconds": round(report.teacher_seconds, 2),
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }
    return ClaspResult(
        accepted=[a for a in accepted if a is not None],
        rejects=[r for r in rejects if r is not None],
        failures=[f for f in failures if f is not None],
        stats=stats,
    )
