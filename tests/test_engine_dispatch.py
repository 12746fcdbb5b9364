"""The generation engine's sending side: concurrency, order, retries, failures, rate limits, budget, estimates.

Uses an in-process asynchronous fake teacher (no HTTP); tests/test_engine_faults.py does the same
against a faulty HTTP server.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tvd.data.resample import build_catalogue
from tvd.engine.accounting import Price
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import estimate_generation, generate, summary_lines
from tvd.engine.limits import ConcurrencyGate, TokenBucket, backoff_delay
from tvd.errors import TvdError
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.task import LinguistTask
from tvd.teachers.base import Completion, GenerationParams, Teacher, TeacherError
from tvd.teachers.scripted import ScriptedTeacher

LINGUIST = LinguistTask()

FAST = EngineSettings(concurrency=4, max_retries=3, backoff_s=0.001, max_backoff_s=0.01)


def _answer(prompt: str, seed: int) -> str:
    include = re.search(r"<include> (.*) </include>", prompt)
    slots = re.findall(r"\[(\d+) ([^\]]+?) \]", include.group(1)) if include else []
    if (seed // 1000 + seed) % 4 == 3:
        return "weather in [1 broken"
    parts = [f"[{n} {'place' + str(seed) if v == '*' else v} ]" for n, v in slots]
    return f"what about {' and '.join(parts)} please" if parts else f"weather now {seed}"


class AsyncFake(Teacher):
    """A concurrent teacher: answers after ``delay(seed)`` seconds; ``fault(prompt, seed, attempt)`` may
    return an exception to raise instead.  Records calls, attempts and the most calls in flight."""

    backend = "fake"
    concurrent = True

    def __init__(
        self,
        delay: Callable[[int], float] = lambda seed: 0.0,
        fault: Callable[[str, int, int], BaseException | None] | None = None,
        usage: bool = True,
    ) -> None:
        self.delay = delay
        self.fault = fault
        self.usage = usage
        self.attempts: Counter[tuple[str, int]] = Counter()
        self.answered: Counter[tuple[str, int]] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.started: dict[tuple[str, int], float] = {}  # when each (prompt, seed) was last sent

    @property
    def model_id(self) -> str:
        return "fake-1"

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        raise AssertionError("the engine must use agenerate for a concurrent teacher")

    async def agenerate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        key = (prompt, params.seed)
        attempt = self.attempts[key]
        self.attempts[key] += 1
        self.started[key] = time.perf_counter()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay(params.seed))
            error = self.fault(prompt, params.seed, attempt) if self.fault else None
            if error is not None:
                raise error
        finally:
            self.in_flight -= 1
        self.answered[key] += 1
        text = _answer(prompt, params.seed)
        if not self.usage:
            return [Completion(text)]
        return [Completion(text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()))]


@pytest.fixture
def requests(weather_seeds):
    settings = PlanSettings(requests=10, examples_per_prompt=2, seed=5)
    return plan_requests("GetWeather", weather_seeds, settings, build_catalogue(weather_seeds))


def _run(tmp_path, requests, teacher, name="cache.sqlite", **options):
    options.setdefault("settings", FAST)
    with CompletionCache(tmp_path / name) as cache:
        return generate(LINGUIST, requests, teacher, cache, samples_per_request=3, progress=False, **options)


def _dump(result):
    return [u.to_dict() for u in result.accepted], result.rejects


def test_output_order_is_the_request_order_whatever_order_answers_arrive_in(tmp_path, requests):
    in_order = _run(tmp_path, requests, AsyncFake(), "a.sqlite", settings=EngineSettings(concurrency=1))
    shuffled_delays = random.Random(7)
    delays = {}

    def scrambled(seed: int) -> float:
        return delays.setdefault(seed, shuffled_delays.uniform(0.0, 0.02))

    scrambled_teacher = AsyncFake(delay=scrambled)
    result = _run(tmp_path, requests, scrambled_teacher, "b.sqlite", settings=EngineSettings(concurrency=8))
    assert scrambled_teacher.peak > 1  # answers really overlapped
    assert _dump(result) == _dump(in_order)
    assert result.stats.accepted > 0 and result.rejects
    assert [(r["request_id"], r["sample"]) for r in result.rejects] == sorted(
        (r["request_id"], r["sample"]) for r in result.rejects
    )


def test_in_flight_limit_is_respected(tmp_path, requests):
    teacher = AsyncFake(delay=lambda seed: 0.01)
    result = _run(tmp_path, requests, teacher, settings=EngineSettings(concurrency=3))
    assert teacher.peak == 3
    assert result.stats.sent == 30 and result.stats.peak_concurrency == 3


def test_teacher_that_cannot_run_concurrently_is_called_one_at_a_time_in_order(tmp_path, requests):
    seeds: list[int] = []

    def record(prompt: str, seed: int) -> str:
        seeds.append(seed)
        return _answer(prompt, seed)

    result = _run(tmp_path, requests, ScriptedTeacher(record), settings=EngineSettings(concurrency=8))
    assert result.stats.sent == 30 and seeds == sorted(seeds)


class _BatchingTeacher(ScriptedTeacher):
    """An in-process teacher that takes many single-sample requests per call (like the transformers one)."""

    batch_size = 4

    def __init__(self) -> None:
        super().__init__(_answer)
        self.batches: list[int] = []

    def generate_requests(self, requests: list[tuple[str, GenerationParams]]) -> list[Completion]:
        self.batches.append(len(requests))
        return [self.generate(prompt, 1, params)[0] for prompt, params in requests]


def test_teacher_with_generate_requests_gets_batches_of_jobs(tmp_path, requests):
    teacher = _BatchingTeacher()
    result = _run(tmp_path, requests, teacher, "batched.sqlite")
    assert teacher.batches == [4] * 7 + [2] and result.stats.sent == 30
    assert _dump(result) == _dump(_run(tmp_path, requests, ScriptedTeacher(_answer), "single.sqlite"))


class _ThreadedTeacher(ScriptedTeacher):
    """A blocking teacher that may run concurrently (like boto3 clients): the engine uses threads."""

    concurrent = True

    def __init__(self) -> None:
        super().__init__(_answer)
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.1)  # long enough for all ten threads to overlap even on a busy machine
        with self._lock:
            self.in_flight -= 1
            return super().generate(prompt, n, params)


def test_blocking_concurrent_teacher_runs_in_as_many_threads_as_requests_in_flight(tmp_path, requests):
    teacher = _ThreadedTeacher()
    result = _run(tmp_path, requests, teacher, settings=EngineSettings(concurrency=10))
    assert teacher.peak == 10 and result.stats.sent == 30
    assert _dump(result) == _dump(_run(tmp_path, requests, ScriptedTeacher(_answer), "single.sqlite"))


def test_transient_errors_are_retried_until_they_succeed(tmp_path, requests):
    def flaky(prompt: str, seed: int, attempt: int) -> BaseException | None:
        return TeacherError("boom", reason="server_error") if attempt < 2 else None

    teacher = AsyncFake(fault=flaky)
    result = _run(tmp_path, requests, teacher)
    stats = result.stats
    assert stats.sent == 30 and not stats.failed and stats.retried == 30 and stats.retries == 60
    assert all(count == 3 for count in teacher.attempts.values())
    assert _dump(result) == _dump(_run(tmp_path, requests, AsyncFake(), "clean.sqlite"))


def test_requests_whose_retries_run_out_fail_with_reason_and_are_retried_next_run(tmp_path, requests):
    doomed = {1002, 4001, 7000}  # seeds = request * 1000 + sample

    def broken(prompt: str, seed: int, attempt: int) -> BaseException | None:
        if seed in doomed:
            return TeacherError("no answer", reason="timeout")
        if seed == 2002:
            return TeacherError("bad prompt", reason="bad_request", retryable=False)
        return None

    first_teacher = AsyncFake(fault=broken)
    first = _run(tmp_path, requests, first_teacher, settings=EngineSettings(concurrency=4, max_retries=2, backoff_s=0))
    stats = first.stats
    assert stats.failed == Counter({"timeout": 3, "bad_request": 1})
    assert stats.samples + 4 == stats.planned == 30 and stats.accepted + sum(stats.rejected.values()) == 26
    by_seed = {1000 * [r.request_id for r in requests].index(f["request_id"]) + f["sample"]: f for f in first.failures}
    assert set(by_seed) == {*doomed, 2002}
    assert [by_seed[s]["attempts"] for s in sorted(by_seed)] == [3, 1, 3, 3]  # 2002 is not retryable
    assert by_seed[2002]["reason"] == "bad_request" and "bad prompt" in by_seed[2002]["message"]
    # failures were not cached: the next run sends exactly them and ends where an uninterrupted run ends
    healthy = AsyncFake()
    second = _run(tmp_path, requests, healthy)
    assert second.stats.sent == 4 and second.stats.cached == 26 and not second.stats.failed
    assert {seed for _, seed in healthy.attempts} == {*doomed, 2002}
    assert _dump(second) == _dump(_run(tmp_path, requests, AsyncFake(), "clean.sqlite"))


def test_retry_after_is_honoured_and_pauses_other_requests(tmp_path, requests):
    def limited(prompt: str, seed: int, attempt: int) -> BaseException | None:
        if seed == 0 and attempt == 0:
            return TeacherError("slow down", reason="rate_limited", retry_after=0.4, status=429)
        return None

    teacher = AsyncFake(delay=lambda seed: 0.0 if seed == 0 else 0.05, fault=limited)
    started = time.perf_counter()
    result = _run(tmp_path, requests[:1], teacher, settings=EngineSettings(concurrency=2, backoff_s=0.001))
    sent_at = {seed: at - started for (_, seed), at in teacher.started.items()}
    assert sent_at[0] >= 0.38  # the retry waited for Retry-After, not the 1 ms backoff
    assert sent_at[1] < 0.1  # already in flight when the 429 came
    assert sent_at[2] >= 0.38  # sent after the 429: paused too
    assert result.stats.retried == 1 and result.stats.sent == 3


def test_fatal_error_stops_the_run_and_keeps_what_was_answered(tmp_path, requests):
    def expired(prompt: str, seed: int, attempt: int) -> BaseException | None:
        return TvdError("E324", "key refused", fix="check it") if seed >= 5000 else None

    with pytest.raises(TvdError, match="E324"):
        _run(tmp_path, requests, AsyncFake(fault=expired), settings=EngineSettings(concurrency=1))
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        assert len(cache) == 15  # requests 0-4, three samples each


def test_budget_stops_cleanly_and_a_rerun_continues(tmp_path, requests):
    price = Price(input_per_million=1_000_000.0, output_per_million=0.0)  # a dollar per prompt token
    settings = EngineSettings(concurrency=2, price=price)
    teacher = AsyncFake(delay=lambda seed: 0.001, usage=False)  # spend = estimates
    with CompletionCache(tmp_path / "probe.sqlite") as cache:
        estimate = estimate_generation(LINGUIST, requests, teacher, cache, samples_per_request=3, price=price)
    per_request = estimate.cost_usd / estimate.to_send  # estimates use teacher.count_tokens (chars / 4)
    budget = per_request * 10.5
    first = _run(tmp_path, requests, teacher, settings=settings, budget_usd=budget)
    stats = first.stats
    assert stats.stopped_by_budget and 5 < stats.sent < 20 and stats.unsent == 30 - stats.sent
    assert stats.cost_usd <= budget < stats.cost_usd + 2 * per_request
    second = _run(tmp_path, requests, AsyncFake(), settings=settings)
    assert second.stats.cached == stats.sent and not second.stats.stopped_by_budget
    assert _dump(second) == _dump(_run(tmp_path, requests, AsyncFake(), "clean.sqlite"))


def test_token_counts_are_estimated_where_the_backend_reports_none(tmp_path, requests):
    result = _run(tmp_path, requests[:2], AsyncFake(usage=False), settings=EngineSettings(price=Price(2.0, 4.0)))
    stats = result.stats
    assert stats.estimated_tokens == 6 and stats.prompt_tokens > 0 and stats.completion_tokens > 0
    assert stats.cost_usd == pytest.approx((stats.sent_prompt_tokens * 2.0 + stats.sent_completion_tokens * 4.0) / 1e6)
    text = "\n".join(summary_lines(stats, Price(2.0, 4.0)))
    assert "6 sent" in text and "estimated" in text and "cost: $" in text


def test_estimate_counts_what_is_not_cached_and_sends_nothing(tmp_path, requests):
    teacher = AsyncFake()
    _run(tmp_path, requests[:4], teacher, params=GenerationParams(max_tokens=10))
    sent_before = sum(teacher.attempts.values())
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        estimate = estimate_generation(
            LINGUIST,
            requests,
            teacher,
            cache,
            samples_per_request=3,
            params=GenerationParams(max_tokens=10),
            price=Price(1, 2),
        )
    assert sum(teacher.attempts.values()) == sent_before
    assert (estimate.planned, estimate.cached, estimate.to_send) == (30, 12, 18)
    assert estimate.max_completion_tokens == 180
    assert estimate.cost_usd == pytest.approx((estimate.prompt_tokens * 1 + 180 * 2) / 1e6)


# -- limits ----------------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_jittered_and_honours_retry_after():
    rng = random.Random(0)
    delays = [backoff_delay(a, base_s=1.0, max_s=5.0, rng=rng) for a in range(6)]
    for attempt, delay in enumerate(delays):
        full = min(5.0, 2.0**attempt)
        assert full * 0.5 <= delay <= full
    assert len(set(delays)) == len(delays)  # jittered
    assert backoff_delay(0, base_s=0.1, max_s=1.0, retry_after=3.0, rng=rng) == 3.0


def test_adaptive_gate_grows_while_healthy_and_halves_once_per_burst_of_429s():
    async def scenario() -> list[int]:
        gate = ConcurrencyGate(2, adaptive=True, ceiling=5)
        seen = []
        for _ in range(20):
            await gate.acquire()
            await gate.release(success=True)
        seen.append(gate.limit)  # grew to the ceiling
        epochs = [await gate.acquire() for _ in range(3)]
        for epoch in epochs:  # three 429s of requests sent in one epoch halve once
            await gate.release(rate_limited_epoch=epoch)
        seen.append(gate.limit)
        epoch = await gate.acquire()
        await gate.release(rate_limited_epoch=epoch)
        seen.append(gate.limit)
        return seen

    assert asyncio.run(scenario()) == [5, 2, 1]


def test_adaptive_concurrency_backs_off_on_429_in_a_run(tmp_path, requests):
    def limited(prompt: str, seed: int, attempt: int) -> BaseException | None:
        return TeacherError("429", reason="rate_limited") if seed % 1000 == 0 and attempt == 0 else None

    teacher = AsyncFake(delay=lambda seed: 0.005, fault=limited)
    settings = EngineSettings(concurrency=4, max_concurrency=8, adaptive_concurrency=True, backoff_s=0.001)
    result = _run(tmp_path, requests, teacher, settings=settings)
    assert result.stats.sent == 30 and result.stats.retried == 10 and teacher.peak <= 8


def test_requests_per_minute_spaces_requests(tmp_path, requests):
    settings = EngineSettings(concurrency=4, requests_per_minute=1200)  # one per 50 ms
    started = time.perf_counter()
    _run(tmp_path, requests[:4], AsyncFake(), settings=settings)  # 12 requests
    assert time.perf_counter() - started >= 11 * 0.05 * 0.9


def test_token_bucket_waits_for_its_debt():
    async def scenario() -> float:
        bucket = TokenBucket(per_minute=6000, capacity=10)  # 100 tokens/s
        await bucket.acquire(10)
        started = time.perf_counter()
        await bucket.acquire(30)  # larger than the bucket: waits for a full bucket, then owes 20
        await bucket.acquire(5)  # waits for the debt and 5 more: 0.25 s
        return time.perf_counter() - started

    assert 0.3 <= asyncio.run(scenario()) < 1.0


def test_a_budget_is_shared_by_what_a_run_sends_in_turn() -> None:
    from tvd.engine.accounting import Budget

    budget = Budget(1.0)
    budget.spend(0.25, "translation")
    budget.spend(0.5, "generation")
    budget.spend(0.5, "judge")
    assert budget.left() == 0.0 and budget.spent_usd == 1.25  # overspending leaves nothing, never a negative
    assert budget.spent_by == {"translation": 0.25, "generation": 0.5, "judge": 0.5}
