"""Sending requests to a teacher: concurrency, rate limits, retries with backoff, budget, failures.

:class:`Dispatcher` takes the requests that are not in the cache (:class:`Job`, one sampled completion
each) and runs them in one asyncio event loop:

* at most ``concurrency`` in flight (1 for a teacher whose ``concurrent`` is false; such a teacher,
  unless it has its own ``agenerate``, is called directly in the loop's thread, one call at a time, and
  if it has ``generate_requests([(prompt, params), ...])`` it gets up to ``batch_size`` jobs per call);
  with ``adaptive_concurrency`` the limit grows while answers come back fine and halves on a 429;
* requests/minute and tokens/minute token buckets (tokens estimated before sending, corrected with the
  server's usage afterwards);
* retryable :class:`~tvd.teachers.base.TeacherError` s are retried up to ``max_retries`` times with
  exponential backoff and jitter, waiting at least the server's ``Retry-After`` (a 429 with
  ``Retry-After`` also pauses every other request for that long); a request whose retries run out,
  or that failed with a non-retryable error, becomes a failure with its reason;
* a budget in dollars: a request is sent only if the money spent so far, plus the estimates of the
  requests in flight and of this one (prompt tokens + ``max_tokens``), stays within it; otherwise
  sending stops and the remaining jobs are reported as not sent.

A :class:`~tvd.errors.TvdError` (a problem the user must fix: wrong URL, bad key...) stops everything at
once and is raised; other exceptions too.  Each finished job is handed to ``on_done`` as soon as it
finishes (the caller stores it in the cache), so nothing already answered is lost on any stop.

Where the teacher is called is one method, :meth:`Dispatcher._send`: :class:`~tvd.engine.ray_dispatch.RayDispatcher`
overrides it (and the number of requests in flight) to call teachers held by Ray actors, keeping everything else
here (budget, rate limits, retries, ``on_done`` in the driver); ``EngineSettings.dispatcher`` says which class
:func:`~tvd.engine.generate.generate` builds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tvd.engine.accounting import Price, Usage, usage_of
from tvd.engine.limits import ConcurrencyGate, TokenBucket, backoff_delay
from tvd.teachers.base import Completion, GenerationParams, Teacher, TeacherError


@dataclass(frozen=True)
class EngineSettings:
    """How requests are sent.  The defaults (one at a time, no rate limits) suit the embedded teacher.

    ``concurrency``: requests in flight (the starting value when adaptive).  ``max_concurrency``: the
    ceiling of adaptive concurrency.  ``requests_per_minute`` / ``tokens_per_minute``: rate limits (None =
    none).  ``max_retries``: retries of a request after its first attempt.  ``backoff_s``: the first
    retry's delay, doubled each retry up to ``max_backoff_s``.  ``price``: for cost accounting and budgets.
    """

    concurrency: int = 1
    max_concurrency: int = 32
    adaptive_concurrency: bool = False
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    price: Price = field(default_factory=Price)
    #: the dispatcher generate() builds, called like :class:`Dispatcher` (None: :class:`Dispatcher`, one process);
    #: :func:`tvd.engine.ray_dispatch.ray_dispatcher` gives one that runs the teacher calls on Ray actors
    dispatcher: Callable[..., Dispatcher] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_concurrency < 1:
            raise ValueError("concurrency and max_concurrency must be >= 1")
        if self.max_retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("max_retries, backoff_s and max_backoff_s must be >= 0")


@dataclass
class Job:
    """One sampled completion to request: ``index`` is its place in the output order; ``prompt_tokens``
    the estimate used for rate limits and budgets before the server reports usage."""

    index: int
    prompt: str
    params: GenerationParams
    key: str
    prompt_tokens: int


@dataclass
class Outcome:
    """How a job ended: a ``completion`` (with its ``usage``), or a failure ``reason`` and ``message``."""

    completion: Completion | None
    usage: Usage | None = None
    reason: str | None = None
    message: str | None = None
    attempts: int = 1
    seconds: float = 0.0


@dataclass
class DispatchReport:
    """Counts of one dispatch.  ``unsent``: jobs not sent because the budget would be exceeded.  ``engine``: what a
    dispatcher that is not this process's says about where it ran (the Ray one: workers, nodes, workers lost)."""

    sent: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    retried: int = 0
    unsent: list[Job] = field(default_factory=list)
    stopped_by_budget: bool = False
    spent_usd: float = 0.0
    teacher_seconds: float = 0.0
    peak_concurrency: int = 1
    engine: dict[str, Any] = field(default_factory=dict)


def _calls_inline(teacher: Teacher) -> bool:
    """A teacher that cannot run concurrently and has no asynchronous call of its own."""
    return not teacher.concurrent and type(teacher).agenerate is Teacher.agenerate


BatchCall = Callable[[list[tuple[str, GenerationParams]]], Sequence[Completion]]


def teacher_calls(teacher: Teacher) -> tuple[bool, BatchCall | None, int]:
    """How ``teacher`` is called: inline (in the loop's thread), its ``generate_requests`` batch call (inline
    teachers that have one) and the jobs per call (``batch_size`` for a batch call, else 1)."""
    inline = _calls_inline(teacher)
    batch_call = getattr(teacher, "generate_requests", None) if inline else None
    if not callable(batch_call):
        return inline, None, 1
    return inline, batch_call, max(1, int(getattr(teacher, "batch_size", 1) or 1))


async def send_requests(
    teacher: Teacher, requests: list[tuple[str, GenerationParams]], inline: bool, batch_call: BatchCall | None
) -> list[Completion]:
    """One call of ``teacher`` for ``requests`` (several only with a batch call), one completion each."""
    if batch_call is not None:
        return list(batch_call(requests))
    prompt, params = requests[0]
    if inline:
        return teacher.generate(prompt, 1, params)
    return await teacher.agenerate(prompt, 1, params)


class Dispatcher:
    """Runs jobs against one teacher; see the module docstring.  ``rng`` drives the backoff jitter."""

    def __init__(
        self,
        teacher: Teacher,
        settings: EngineSettings | None = None,
        *,
        on_done: Callable[[Job, Outcome], None],
        budget_usd: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.teacher = teacher
        self.settings = settings or EngineSettings()
        self.on_done = on_done
        self.budget_usd = budget_usd
        self.rng = rng or random.Random()
        self.report = DispatchReport()
        self._inline, self._batch_call, self._batch_size = teacher_calls(teacher)
        self._reserved = 0.0
        self._pause_until = 0.0
        self._jobs: list[Job] = []
        self._next = 0
        self._stop = False

    def run(self, jobs: Sequence[Job]) -> DispatchReport:
        """Send ``jobs`` (blocking; starts an event loop, so call it where none runs)."""
        if not jobs:
            return self.report
        asyncio.run(self._run(list(jobs)))
        return self.report

    # -- scheduling --------------------------------------------------------------------------------
    def _workers(self) -> int:
        s = self.settings
        if not self.teacher.concurrent:
            return 1
        return max(s.concurrency, s.max_concurrency) if s.adaptive_concurrency else s.concurrency

    def _limit(self) -> int:
        """Requests in flight at first (the adaptive gate's starting value)."""
        return 1 if not self.teacher.concurrent else self.settings.concurrency

    def _estimate(self, job: Job) -> float:
        return self.settings.price.cost(job.prompt_tokens, job.params.max_tokens)

    def _take(self, count: int = 1) -> list[Job]:
        """Up to ``count`` next jobs in order; fewer (or none) when all are taken or the budget is reached."""
        taken: list[Job] = []
        while len(taken) < count and not self._stop and self._next < len(self._jobs):
            job = self._jobs[self._next]
            if self.budget_usd is not None:
                estimate = self._estimate(job)
                if self.report.spent_usd + self._reserved + estimate > self.budget_usd:
                    self._stop = True
                    self.report.stopped_by_budget = True
                    break
                self._reserved += estimate
            self._next += 1
            taken.append(job)
        return taken

    async def _run(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        s = self.settings
        workers = self._workers()
        if self.teacher.concurrent and type(self.teacher).agenerate is Teacher.agenerate:
            # the default agenerate runs generate in the loop's executor: give it a thread per worker
            asyncio.get_running_loop().set_default_executor(
                concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tvd-teacher")
            )
        limit = self._limit()
        self._gate = ConcurrencyGate(
            limit, adaptive=s.adaptive_concurrency and self.teacher.concurrent, ceiling=s.max_concurrency
        )
        self._rpm = TokenBucket(s.requests_per_minute, 1.0) if s.requests_per_minute else None
        self._tpm = (
            TokenBucket(s.tokens_per_minute, max(1.0, s.tokens_per_minute / 6.0)) if s.tokens_per_minute else None
        )
        tasks = [asyncio.create_task(self._worker()) for _ in range(workers)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            closer = getattr(self.teacher, "aclose", None)
            if closer is not None:
                await closer()
            self.report.peak_concurrency = self._gate.peak
            self.report.unsent = self._jobs[self._next :] if self._stop else []
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _worker(self) -> None:
        while batch := self._take(self._batch_size):
            outcomes = await self._attempts(batch)
            for job, outcome in zip(batch, outcomes, strict=True):
                if self.budget_usd is not None:
                    self._reserved -= self._estimate(job)
                if outcome.usage is not None:
                    self.report.spent_usd += self.settings.price.cost(
                        outcome.usage.prompt_tokens, outcome.usage.completion_tokens
                    )
                self.on_done(job, outcome)

    async def _wait_for_pause(self) -> None:
        while (wait := self._pause_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    async def _send(self, requests: list[tuple[str, GenerationParams]]) -> list[Completion]:
        """Call the teacher once for ``requests`` (here, in this process)."""
        return await send_requests(self.teacher, requests, self._inline, self._batch_call)

    async def _call(self, batch: list[Job]) -> list[Completion]:
        completions = await self._send([(job.prompt, job.params) for job in batch])
        if len(completions) != len(batch) or not all(isinstance(c, Completion) for c in completions):
            raise TeacherError(
                f"the teacher returned {len(completions)} completions for {len(batch)} requested",
                reason="bad_response",
            )
        return completions

    async def _attempts(self, batch: list[Job]) -> list[Outcome]:
        """Send ``batch`` (one job, or several for a teacher with ``generate_requests``) until it succeeds,
        fails for good, or its retries run out."""
        s = self.settings
        attempt = 0
        started = time.perf_counter()
        estimated_tokens = sum(job.prompt_tokens + job.params.max_tokens for job in batch)
        while True:
            await self._wait_for_pause()
            epoch = await self._gate.acquire()
            call_started = time.perf_counter()
            try:
                if self._rpm is not None:
                    await self._rpm.acquire(len(batch))
                if self._tpm is not None:
                    await self._tpm.acquire(estimated_tokens)
                call_started = time.perf_counter()
                completions = await self._call(batch)
            except TeacherError as error:
                self.report.teacher_seconds += time.perf_counter() - call_started
                rate_limited = error.reason == "rate_limited"
                await self._gate.release(rate_limited_epoch=epoch if rate_limited else None)
                if rate_limited and error.retry_after:
                    self._pause_until = max(self._pause_until, time.monotonic() + error.retry_after)
                if not error.retryable or attempt >= s.max_retries:
                    self.report.failed[error.reason] += len(batch)
                    seconds = time.perf_counter() - started
                    failure = Outcome(None, reason=error.reason, message=str(error), attempts=attempt + 1)
                    return [replace(failure, seconds=seconds) for _ in batch]
                delay = backoff_delay(
                    attempt, base_s=s.backoff_s, max_s=s.max_backoff_s, retry_after=error.retry_after, rng=self.rng
                )
                if attempt == 0:
                    self.report.retried += len(batch)
                attempt += 1
                self.report.retries += len(batch)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await self._gate.release()
                raise
            self.report.teacher_seconds += time.perf_counter() - call_started
            await self._gate.release(success=True)
            seconds = time.perf_counter() - started
            outcomes = []
            for job, completion in zip(batch, completions, strict=True):
                usage = usage_of(completion, job.prompt, self.teacher, job.prompt_tokens)
                outcomes.append(Outcome(completion, usage=usage, attempts=attempt + 1, seconds=seconds))
            if self._tpm is not None:
                used = sum(o.usage.prompt_tokens + o.usage.completion_tokens for o in outcomes if o.usage)
                self._tpm.adjust(used - estimated_tokens)
            self.report.sent += len(batch)
            return outcomes
