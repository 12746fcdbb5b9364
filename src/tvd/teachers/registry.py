"""Teacher backends by name: one config block (``backend: ...`` plus options) selects and builds one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvd.errors import TvdError
from tvd.teachers.base import Teacher


def _llamacpp(**options: Any) -> Teacher:
    from tvd.teachers.llamacpp import LlamaCppTeacher

    return LlamaCppTeacher(**options)


BACKENDS: dict[str, tuple[Callable[..., Teacher], str]] = {
    "llamacpp": (_llamacpp, "embedded GGUF model on CPU through llama-cpp-python (default: Gemma 3 270M)"),
}


def make_teacher(backend: str, **options: Any) -> Teacher:
    """Build the teacher ``backend`` with its options; unknown names and options give a TvdError."""
    if backend not in BACKENDS:
        raise TvdError("E310", f"unknown teacher backend {backend!r}", fix=f"use one of: {', '.join(sorted(BACKENDS))}")
    factory, _ = BACKENDS[backend]
    try:
        return factory(**options)
    except TypeError as exc:
        raise TvdError(
            "E311", f"bad option for teacher backend {backend!r}: {exc}", fix="check the teacher block of the config"
        ) from exc
