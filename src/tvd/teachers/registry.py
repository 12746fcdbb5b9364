"""Teacher backends by name: one config block (``backend: ...`` plus options) selects and builds one.

Backends are lazy ``"module:Class"`` entries of :data:`TEACHERS`, so a backend's optional dependencies are
imported only when it is built; an installed package adds one through the entry-point group ``tvd.teachers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvd.errors import E_BAD_TEACHER_OPTION, E_UNKNOWN_TEACHER, TvdError
from tvd.registry import Registry
from tvd.teachers.base import Teacher

TEACHERS: Registry[Callable[..., Teacher]] = Registry("teachers", "teacher backend", E_UNKNOWN_TEACHER)
"""Teacher backends: name -> a callable (usually the class) taking the backend's options."""

for _name, _target, _description in (  # sorted by name: the order listings and error messages use
    ("bedrock", "tvd.teachers.bedrock:BedrockTeacher", "Amazon Bedrock model through the Converse API"),
    (
        "llamacpp",
        "tvd.teachers.llamacpp:LlamaCppTeacher",
        "embedded GGUF model on CPU through llama-cpp-python (default: Gemma 3 270M)",
    ),
    (
        "openai",
        "tvd.teachers.openai_http:OpenAITeacher",
        "OpenAI-compatible HTTP server or API (vLLM, Ollama, llama.cpp server, hosted), completions or chat",
    ),
    (
        "sagemaker",
        "tvd.teachers.sagemaker:SageMakerTeacher",
        "Amazon SageMaker endpoint with AlexaTM 20B JumpStart conventions ([CLM] prefix, <br> between shots)",
    ),
    (
        "transformers",
        "tvd.teachers.transformers_lm:TransformersTeacher",
        "local Hugging Face model folder (causal or seq2seq), optional LoRA adapter, batched",
    ),
):
    TEACHERS.register(_name, _target, description=_description)


def teacher_backends() -> list[tuple[str, str]]:
    """``(name, description)`` of every teacher backend, sorted by name (what ``tvd teacher list`` prints)."""
    return sorted(TEACHERS.describe())


def make_teacher(backend: str, **options: Any) -> Teacher:
    """Build the teacher ``backend`` with its options; unknown names (E310) and options (E311) give a TvdError."""
    factory = TEACHERS.get(backend)
    try:
        return factory(**options)
    except TypeError as exc:
        raise TvdError(
            E_BAD_TEACHER_OPTION,
            f"bad option for teacher backend {backend!r}: {exc}",
            fix="check the teacher block of the config",
        ) from exc
