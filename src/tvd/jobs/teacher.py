"""A config's teacher block as the objects the engine takes: the teacher backend and the engine settings."""

from __future__ import annotations

from tvd.config import TeacherConfig
from tvd.engine.accounting import Price
from tvd.engine.dispatch import EngineSettings
from tvd.teachers.base import Teacher
from tvd.teachers.registry import make_teacher


def build_teacher(teacher: TeacherConfig) -> Teacher:
    """The backend a teacher block names, built with its options."""
    return make_teacher(teacher.backend, **teacher.backend_options())


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
