"""A config's teacher block as the objects the engine takes: the teacher backend and the engine settings."""

from __future__ import annotations

import os

from tvd.config import TeacherConfig
from tvd.engine.accounting import Price
from tvd.engine.dispatch import EngineSettings
from tvd.teachers.base import Teacher
from tvd.teachers.registry import make_teacher

#: The embedded (``llamacpp``) teacher's ``batch_width`` and ``n_threads`` when a config does not set them
#: (README "Teacher throughput": widths 4-16 were within a few % of each other, 8 needs half the memory of 16;
#: 2 threads were 1.7x as fast as 1 on an idle 2-core machine, batched or not).  ``options.batch_width: 1``
#: decodes one completion at a time, with the cache keys and texts of tvd before batching.
LLAMACPP_BATCH_WIDTH = 8
LLAMACPP_THREADS = 2


def build_teacher(teacher: TeacherConfig) -> Teacher:
    """The backend a teacher block names, built with its options (the embedded teacher batched by default)."""
    options = teacher.backend_options()
    if teacher.backend == "llamacpp":
        options.setdefault("batch_width", LLAMACPP_BATCH_WIDTH)
        options.setdefault("n_threads", max(1, min(LLAMACPP_THREADS, os.cpu_count() or 1)))
    return make_teacher(teacher.backend, **options)


def engine_settings(teacher: TeacherConfig) -> EngineSettings:
    """The generation engine's settings from a config's teacher block."""
    price = teacher.price
    return EngineSettings(
        concurrency=teacher.concurrency,
        max_concurrency=max(teacher.max_concurrency, teacher.concurrency),
        adaptive_concurrency=teacher.adaptive_concurrency,
        requests_per_minute=teacher.requests_per_minute,
        tokens_per_minute=teacher.tokens_per_minute,
        max_retries=teacher.max_retries,
        backoff_s=teacher.backoff_s,
        max_backoff_s=teacher.max_backoff_s,
        price=Price(price.input_per_million, price.output_per_million) if price else Price(),
    )
