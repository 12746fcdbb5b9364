"""The generation loop, for any task: requests -> teacher (through the cache) -> validated results or rejects.

A task (:class:`~tvd.engine.task.Task`: LINGUIST in :mod:`tvd.linguist.task`, CLASP in :mod:`tvd.clasp.task`)
gives each request's prompt and grammar and validates completions; this loop does the rest.  Each request is
sampled ``samples_per_request`` times; sample ``s`` of request ``r`` is one completion with seed
``base + r * 1000 + s``, cached under :func:`~tvd.teachers.base.request_key`.  Completions come from the
:class:`~tvd.engine.cache.CompletionCache` when present, so a re-run, or a run restarted after a crash or
``kill -9``, sends only what is missing; the rest goes through the :class:`~tvd.engine.dispatch.Dispatcher`
(concurrency, rate limits, retries, budget; or the Ray engine's :class:`~tvd.engine.ray_dispatch.RayDispatcher`,
which calls teachers held by Ray actors and hands every answer back here, so this loop stays the single writer
of the cache and the outputs).  The raw text is what is cached: validation runs again on every run, so a
changed validator never re-queries the teacher.

Every planned completion ends up in exactly one place: accepted (a result), rejected (raw text and
reason), failed (the teacher gave no answer after its retries: reason, not cached, so the next run tries
again) or not sent (the budget was reached).  Outputs are in request and sample order whatever order
the answers arrived in.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from tqdm.auto import tqdm

from tvd.engine.accounting import Price, format_cost, usage_of
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import Dispatcher, DispatchReport, EngineSettings, Job, Outcome
from tvd.engine.task import Rejection, Task
from tvd.teachers.base import Completion, GenerationParams, Teacher, request_key

SEED_STRIDE = 1000  # seeds of request r: base + r * stride + sample; samples per request stay below it

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


@dataclass
class GenerationStats:
    """Counts of one generation.

    ``planned`` completions = ``samples`` obtained (``cached`` + ``sent``) + ``failed`` + ``unsent``;
    ``samples`` = ``accepted`` + rejected.  ``retried``: requests that needed at least one retry,
    ``retries``: retry attempts in all.  Token counts cover every completion (cached ones included);
    ``sent_*_tokens`` and ``cost_usd`` only those sent in this run.  ``estimated_tokens``: completions
    whose token counts were estimated because the backend reported none.
    """

    requests: int = 0
    planned: int = 0
    samples: int = 0
    cached: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    retries: int = 0
    unsent: int = 0
    stopped_by_budget: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sent_prompt_tokens: int = 0
    sent_completion_tokens: int = 0
    estimated_tokens: int = 0
    cost_usd: float = 0.0
    teacher_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    peak_concurrency: int = 1
    validator_version: str = ""
    engine: dict[str, Any] = field(default_factory=dict)  # where it ran, when not in this process (Ray)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "planned": self.planned,
            "samples": self.samples,
            "cached": self.cached,
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "failed": sum(self.failed.values()),
            "failed_by_reason": dict(sorted(self.failed.items())),
            "retried": self.retried,
            "retries": self.retries,
            "unsent": self.unsent,
            "stopped_by_budget": self.stopped_by_budget,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "sent_prompt_tokens": self.sent_prompt_tokens,
            "sent_completion_tokens": self.sent_completion_tokens,
            "estimated_tokens": self.estimated_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "teacher_seconds": round(self.teacher_seconds, 2),
            "elapsed_seconds": round(self.elapsed_seconds, 2),
            "peak_concurrency": self.peak_concurrency,
            "parser_version": self.validator_version,
            **({"engine": self.engine} if self.engine else {}),
        }


@dataclass
class GenerationResult(Generic[ResultT]):
    """Accepted results (the task's type: utterances for LINGUIST), rejects and failures (dicts, as written to
    the run directory), in request and sample order."""

    accepted: list[ResultT]
    rejects: list[dict[str, Any]]
    stats: GenerationStats
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class GenerationEstimate:
    """What a generation would send (``tvd generate --dry-run``): requests not in the cache, their
    estimated prompt tokens, the most completion tokens they may use (``max_tokens`` each) and the cost
    of that upper bound."""

    planned: int
    cached: int
    to_send: int
    prompt_tokens: int
    max_completion_tokens: int
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cost_usd": round(self.cost_usd, 6)}


@dataclass
class _Planned(Generic[RequestT]):
    """One planned completion: the job to send (if not cached), its request and sample number."""

    job: Job
    request: RequestT
    sample: int


def _plan(
    task: Task[RequestT, Any],
    requests: Sequence[RequestT],
    teacher: Teacher,
    params: GenerationParams | None,
    samples_per_request: int,
    constrained: bool,
) -> list[_Planned[RequestT]]:
    if not 1 <= samples_per_request < SEED_STRIDE:
        raise ValueError(f"samples_per_request must be within [1, {SEED_STRIDE - 1}]")
    base = params or task.default_params
    fingerprint = teacher.fingerprint()
    planned: list[_Planned[RequestT]] = []
    for r, request in enumerate(requests):
        prompt = task.prompt(request)
        prompt_tokens = teacher.count_tokens(prompt)
        grammar = task.grammar(request) if constrained else None
        for sample in range(samples_per_request):
            sample_params = replace(base, seed=base.seed + r * SEED_STRIDE + sample, grammar=grammar)
            key = request_key(fingerprint, prompt, sample_params, sample)
            planned.append(_Planned(Job(len(planned), prompt, sample_params, key, prompt_tokens), request, sample))
    return planned


def estimate_generation(
    task: Task[RequestT, Any],
    requests: Sequence[RequestT],
    teacher: Teacher,
    cache: CompletionCache | None,
    *,
    params: GenerationParams | None = None,
    samples_per_request: int = 1,
    constrained: bool = True,
    price: Price | None = None,
) -> GenerationEstimate:
    """What :func:`generate` would send, without sending anything (``cache`` None = nothing cached)."""
    price = price or Price()
    planned = _plan(task, requests, teacher, params, samples_per_request, constrained)
    missing = [p.job for p in planned if cache is None or cache.get(p.job.key) is None]
    prompt_tokens = sum(job.prompt_tokens for job in missing)
    completion_tokens = sum(job.params.max_tokens for job in missing)
    return GenerationEstimate(
        planned=len(planned),
        cached=len(planned) - len(missing),
        to_send=len(missing),
        prompt_tokens=prompt_tokens,
        max_completion_tokens=completion_tokens,
        cost_usd=price.cost(prompt_tokens, completion_tokens),
    )


def generate(
    task: Task[RequestT, ResultT],
    requests: Sequence[RequestT],
    teacher: Teacher,
    cache: CompletionCache,
    *,
    params: GenerationParams | None = None,
    samples_per_request: int = 1,
    constrained: bool = True,
    progress: bool = True,
    settings: EngineSettings | None = None,
    budget_usd: float | None = None,
    send: bool = True,
) -> GenerationResult[ResultT]:
    """Run ``task``'s ``requests`` through ``teacher`` and validate every completion.

    ``params``: decoding parameters (the task's defaults when None); ``constrained`` adds each request's GBNF
    grammar (backends that cannot use one ignore it).  ``settings``: how requests are sent (concurrency, rate
    limits, retries, price); ``budget_usd``: the most this call may spend on requests it sends (it stops,
    resumably, before a request whose estimate would exceed it).  ``send=False`` uses only what the cache
    holds (a dry run's look at earlier answers): the rest counts as not sent.
    """
    started = time.perf_counter()
    settings = settings or EngineSettings()
    planned = _plan(task, requests, teacher, params, samples_per_request, constrained)
    fingerprint = teacher.fingerprint()
    stats = GenerationStats(requests=len(requests), planned=len(planned), validator_version=task.version)
    accepted: list[ResultT | None] = [None] * len(planned)
    rejects: list[dict[str, Any] | None] = [None] * len(planned)
    failures: list[dict[str, Any] | None] = [None] * len(planned)

    def settle(item: _Planned[RequestT], completion: Completion) -> None:
        try:
            result = task.validate(item.request, completion, sample=item.sample, teacher=fingerprint)
        except Rejection as rejection:
            stats.rejected[rejection.reason] += 1
            rejects[item.job.index] = task.reject_record(item.request, item.sample, rejection, completion.text)
        else:
            stats.accepted += 1
            accepted[item.job.index] = result
        stats.samples += 1

    def postfix() -> dict[str, int]:
        counts = {"accepted": stats.accepted, "rejected": sum(stats.rejected.values())}
        if stats.failed:
            counts["failed"] = sum(stats.failed.values())
        return counts

    def count_tokens(completion: Completion, item: _Planned[RequestT]) -> tuple[int, int]:
        usage = usage_of(completion, item.job.prompt, teacher, item.job.prompt_tokens)
        stats.prompt_tokens += usage.prompt_tokens
        stats.completion_tokens += usage.completion_tokens
        stats.estimated_tokens += usage.estimated
        return usage.prompt_tokens, usage.completion_tokens

    to_send: list[Job] = []
    for item in planned:  # cached completions are validated again (the validator may have changed)
        completion = cache.get(item.job.key)
        if completion is None:
            to_send.append(item.job)
            continue
        stats.cached += 1
        count_tokens(completion, item)
        settle(item, completion)
    # rate and ETA count only what is sent: the cached part is the bar's starting point
    bar = tqdm(
        total=len(planned), initial=stats.cached, desc=task.name, unit=task.unit, disable=not progress, smoothing=0.1
    )
    bar.set_postfix(postfix(), refresh=False)
    try:

        def done(job: Job, outcome: Outcome) -> None:
            item = planned[job.index]
            request_id = task.request_id(item.request)
            if outcome.completion is None:
                stats.failed[outcome.reason or "unknown"] += 1
                failures[job.index] = {
                    "request_id": request_id,
                    "sample": item.sample,
                    "reason": outcome.reason,
                    "message": outcome.message,
                    "attempts": outcome.attempts,
                }
            else:
                cache.put(job.key, fingerprint, request_id, item.sample, outcome.completion)
                stats.sent += 1
                prompt_tokens, completion_tokens = count_tokens(outcome.completion, item)
                stats.sent_prompt_tokens += prompt_tokens
                stats.sent_completion_tokens += completion_tokens
                stats.cost_usd += settings.price.cost(prompt_tokens, completion_tokens)
                settle(item, outcome.completion)
            bar.set_postfix(postfix(), refresh=False)
            bar.update(1)

        if send:
            dispatcher = settings.dispatcher or Dispatcher  # a Ray engine's RayDispatcher, or this process
            report = dispatcher(teacher, settings, on_done=done, budget_usd=budget_usd).run(to_send)
        else:
            report = DispatchReport(unsent=to_send)
    finally:
        bar.close()
    stats.retried, stats.retries = report.retried, report.retries
    stats.unsent, stats.stopped_by_budget = len(report.unsent), report.stopped_by_budget
    stats.teacher_seconds = report.teacher_seconds
    stats.peak_concurrency = report.peak_concurrency
    stats.engine = report.engine
    stats.elapsed_seconds = time.perf_counter() - started
    return GenerationResult(
        accepted=[a for a in accepted if a is not None],
        rejects=[r for r in rejects if r is not None],
        stats=stats,
        failures=[f for f in failures if f is not None],
    )


def summary_lines(stats: GenerationStats, price: Price | None = None) -> list[str]:
    """The human-readable summary of a generation (printed by ``tvd generate`` / ``tvd run``)."""
    d = stats.to_dict()
    lines = [
        f"generation: {d['planned']} completions planned: {d['cached']} from cache, {d['sent']} sent"
        f" ({d['retried']} retried, {d['retries']} retries in all), {d['failed']} failed"
        + (f" {d['failed_by_reason']}" if d["failed"] else "")
        + (f", {d['unsent']} not sent (budget)" if d["unsent"] else ""),
        f"validation: {d['accepted']} valid, {d['rejected']} rejected"
        + (f" {d['rejected_by_reason']}" if d["rejected"] else ""),
    ]
    tokens = f"tokens: {d['prompt_tokens']:,} in / {d['completion_tokens']:,} out"
    if d["sent"]:
        tokens += f" ({d['sent_prompt_tokens']:,} / {d['sent_completion_tokens']:,} sent in this run)"
    if d["estimated_tokens"]:
        tokens += f"; {d['estimated_tokens']} completion(s) without usage counts were estimated"
    lines.append(tokens)
    if price is not None and not price.is_free:
        lines.append(
            f"cost: {format_cost(stats.cost_usd)} for this run "
            f"(${price.input_per_million:g} / ${price.output_per_million:g} per million tokens in / out)"
        )
    if engine := d.get("engine"):
        lost = f", {engine['workers_lost']} lost ({engine['resent']} request(s) sent again)"
        lines.append(
            f"engine: {engine['backend']}, {engine['workers']} worker(s) on {engine['nodes']} node(s)"
            + (lost if engine["workers_lost"] else "")
        )
    if d["elapsed_seconds"] > 0 and d["sent"]:
        lines.append(
            f"time: {d['elapsed_seconds']:.1f} s, {d['sent'] / d['elapsed_seconds']:.2f} requests/s sent"
            + (f", peak concurrency {d['peak_concurrency']}" if d["peak_concurrency"] > 1 else "")
        )
    return lines


def estimate_lines(estimate: GenerationEstimate, price: Price | None, max_tokens: int | None = None) -> list[str]:
    """The human-readable dry run (printed by ``tvd generate --dry-run`` / ``tvd clasp --dry-run``); ``price``
    None: the config sets none.  ``max_tokens``: the per-request limit, named when one applies to all."""
    tokens = f"estimated tokens: {estimate.prompt_tokens:,} in, at most {estimate.max_completion_tokens:,} out"
    if max_tokens is not None:
        tokens += f" (max_tokens {max_tokens} per request)"
    return [
        f"dry run: {estimate.planned} completions planned, {estimate.cached} in the cache, "
        f"{estimate.to_send} request(s) to send",
        tokens,
        "estimated cost: none set (add teacher.price: {input_per_million, output_per_million})"
        if price is None
        else f"estimated cost: at most {format_cost(estimate.cost_usd)}",
        "nothing was sent",
    ]
