"""A config's teacher block as the objects the engine takes: the teacher backend and the engine settings (with
the ``engine`` block: a Ray dispatcher and the factory its actors build their teachers with)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from tvd.config import EngineConfig, TeacherConfig
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


@dataclass(frozen=True)
class ConfiguredTeacher:
    """Builds a teacher block's teacher in a Ray actor (pickled there): worker ``i`` gets ``endpoints[i % len]`` as
    the option ``endpoint_option`` when endpoints are given, and an embedded model uses the actor's CPUs as
    threads unless the block sets ``n_threads``."""

    teacher: TeacherConfig
    endpoints: tuple[str, ...] = ()
    endpoint_option: str = "base_url"
    cpus: float = 1.0

    def __call__(self, worker: int) -> Teacher:
        options = dict(self.teacher.options)
        if self.endpoints:
            options[self.endpoint_option] = self.endpoints[worker % len(self.endpoints)]
        if self.teacher.backend == "llamacpp":
            options.setdefault("n_threads", max(1, math.floor(self.cpus)))
        return build_teacher(self.teacher.model_copy(update={"options": options}))


def with_ray_address(engine: EngineConfig | None, address: str | None) -> EngineConfig | None:
    """``--ray ADDRESS`` applied to a config's engine block (its other fields kept; a new block otherwise)."""
    if address is None:
        return engine
    fields = engine.model_dump() if engine is not None else {}
    return EngineConfig.model_validate({**fields, "backend": "ray", "address": address})


def engine_settings(teacher: TeacherConfig, engine: EngineConfig | None = None) -> EngineSettings:
    """The generation engine's settings from a config's teacher block and its ``engine`` block (``backend: ray``:
    a :class:`~tvd.engine.ray_dispatch.RayDispatcher` whose actors build the teacher block's teacher; nothing is
    started until a generation sends)."""
    price = teacher.price
    dispatcher = None
    if engine is not None and engine.backend == "ray":
        from tvd.engine.ray_dispatch import RaySettings, ray_dispatcher

        ray = RaySettings(
            address=engine.address,
            workers=engine.workers,
            cpus_per_worker=engine.cpus_per_worker,
            gpus_per_worker=engine.gpus_per_worker,
            max_worker_deaths=engine.max_worker_deaths,
            start_timeout_s=engine.start_timeout_s,
        )
        factory = ConfiguredTeacher(teacher, tuple(engine.endpoints), engine.endpoint_option, engine.cpus_per_worker)
        dispatcher = ray_dispatcher(ray, factory)
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
        dispatcher=dispatcher,
    )
