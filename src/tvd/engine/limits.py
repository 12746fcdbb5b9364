"""Politeness towards a teacher server: in-flight limit (optionally adaptive), rate limits, backoff.

All of it runs inside one asyncio event loop (no locking across threads).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable


class TokenBucket:
    """A token bucket refilled at ``per_minute / 60`` per second, holding at most ``capacity``.

    :meth:`acquire` waits until the bucket holds ``min(amount, capacity)`` and then takes ``amount``; the
    level may go negative (a request larger than the bucket), which makes later requests wait for the
    debt, so the long-run rate stays at ``per_minute``.  :meth:`adjust` corrects an estimate afterwards.
    """

    def __init__(self, per_minute: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or capacity <= 0:
            raise ValueError("per_minute and capacity must be positive")
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self._clock = clock
        self._level = capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        async with self._lock:  # first come, first served
            need = min(amount, self.capacity)
            while True:
                self._refill()
                if self._level >= need:
                    self._level -= amount
                    return
                await asyncio.sleep((need - self._level) / self.rate)

    def adjust(self, delta: float) -> None:
        """Take ``delta`` more (or give back ``-delta``) once the real amount is known."""
        self._refill()
        self._level = min(self.capacity, self._level - delta)


class ConcurrencyGate:
    """At most ``limit`` requests in flight.

    With ``adaptive``, the limit grows by one after ``limit`` successes in a row, up to ``ceiling``, and
    halves (at least 1) on a rate-limit answer.  One burst of 429s halves it once: only a request sent
    since the last decrease (same :attr:`epoch`) can decrease it again.
    """

    def __init__(self, limit: int, *, adaptive: bool = False, ceiling: int | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.adaptive = adaptive
        self.ceiling = max(limit, ceiling or limit)
        self.in_flight = 0
        self.epoch = 0
        self.peak = limit
        self._successes = 0
        self._cond = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a free slot; returns the epoch the request is sent in."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            return self.epoch

    async def release(self, *, success: bool = False, rate_limited_epoch: int | None = None) -> None:
        async with self._cond:
            self.in_flight -= 1
            if self.adaptive and success:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self.peak = max(self.peak, self.limit)
                    self._successes = 0
            if self.adaptive and rate_limited_epoch is not None and rate_limited_epoch == self.epoch:
                self.limit = max(1, self.limit // 2)
                self.epoch += 1
                self._successes = 0
            self._cond.notify_all()


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt + 1``: exponential (``base_s * 2**attempt``, at most
    ``max_s``) with jitter (a random 50-100% of it), and never less than the server's ``retry_after``."""
    rng = rng or random
    delay = min(max_s, base_s * (2**attempt)) * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
