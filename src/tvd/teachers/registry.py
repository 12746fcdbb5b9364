"""Teacher backends by name: one config block (``backend: ...`` plus options) selects and builds one."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tvd.errors import TvdError
from tvd.teachers.base import Teacher


def _lazy(module: str, name: str) -> Callable[..., Teacher]:
    """A factory importing its backend only when used, so optional dependencies stay optional."""

    def factory(**options: Any) -> Teacher:
        cls = getattr(importlib.import_module(module), name)
        return cls(**options)

    return factory


BACKENDS: dict[str, tuple[Callable[..., Teacher], str]] = {
    "llamacpp": (
        _lazy("tvd.teachers.llamacpp", "LlamaCppTeacher"),
        "embedded GGUF model on CPU through llama-cpp-python (default: Gemma 3 270M)",
    ),
    "openai": (
        _lazy("tvd.teachers.openai_http", "OpenAITeacher"),
        "OpenAI-compatible HTTP server or API (vLLM, Ollama, llama.cpp server, hosted), completions or chat",
    ),
    "transformers": (
        _lazy("tvd.teachers.transformers_lm", "TransformersTeacher"),
        "local Hugging Face model folder (causal or seq2seq), optional LoRA adapter, batched",
    ),
    "sagemaker": (
        _lazy("tvd.teachers.sagemaker", "SageMakerTeacher"),
        "Amazon SageMaker endpoint with AlexaTM 20B JumpStart conventions ([CLM] prefix, <br> between shots)",
    ),
    "bedrock": (
        _lazy("tvd.teachers.bedrock", "BedrockTeacher"),
        "Amazon Bedrock model through the Converse API",
    ),
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
