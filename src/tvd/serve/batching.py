"""Micro-batching of concurrent ``/parse`` requests: one ``Student.predict`` call for several requests' texts.

:class:`MicroBatchPredictor` adds no waiting: a request that arrives while the student is idle is predicted at
once; requests that arrive while a prediction runs queue up and, when it finishes, are predicted together in
one call of at most ``max_texts`` texts (a request is never split; one larger than ``max_texts`` runs alone).
An encoder pays a fixed cost per call (tokeniser and runtime dispatch), so a batch of 8 costs far less than 8
calls; under no concurrency it behaves like :class:`~tvd.serve.app.ThreadPoolPredictor` with one thread.

When a combined call fails, every request in it gets the error (each is answered with a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from tvd.data.utterance import Utterance
from tvd.students.base import Student


class MicroBatchPredictor:
    """Predicts queued requests together, one call at a time, in one worker thread."""

    def __init__(self, student: Student, max_texts: int = 32) -> None:
        self.student = student
        self.max_texts = max_texts
        self._pending: list[tuple[list[str], asyncio.Future[list[Utterance]]]] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.calls = 0  # predict calls made (for tests and measurements)

    async def predict(self, texts: Sequence[str]) -> list[Utterance]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Utterance]] = loop.create_future()
        self._pending.append((list(texts), future))
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[list[str], asyncio.Future[list[Utterance]]]]:
        taken = [self._pending.pop(0)]
        size = len(taken[0][0])
        while self._pending and size + len(self._pending[0][0]) <= self.max_texts:
            size += len(self._pending[0][0])
            taken.append(self._pending.pop(0))
        return taken

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tvd-batch")
        try:
            while self._pending:
                batch = [item for item in self._take() if not item[1].cancelled()]
                if not batch:
                    continue
                texts = [text for request_texts, _ in batch for text in request_texts]
                self.calls += 1
                try:
                    predictions = await loop.run_in_executor(self._executor, self.student.predict, texts)
                    if len(predictions) != len(texts):
                        raise RuntimeError(f"{len(predictions)} predictions for {len(texts)} texts")
                except Exception as exc:  # every request of the failed call gets the error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for request_texts, future in batch:
                    if not future.done():
                        future.set_result(predictions[start : start + len(request_texts)])
                    start += len(request_texts)
        finally:
            self._running = False

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
