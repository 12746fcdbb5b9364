"""The teacher interface: prompts in, ``n`` completions out, with generation parameters.

Every backend (the embedded llama.cpp model, HTTP servers, transformers, cloud endpoints, the scripted
fake used in tests) implements :class:`Teacher`.  Nothing above this layer knows which one it talks to.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings.  ``grammar`` is a GBNF grammar; backends that cannot constrain ignore it
    (the output parser validates every completion anyway).  ``seed`` makes sampling reproducible:
    completion ``i`` of a call is sampled with seed ``seed + i``."""

    max_tokens: int = 64
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ("\n",)
    grammar: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["stop"] = list(self.stop)
        return record


@dataclass(frozen=True)
class Completion:
    """One completion.  Token counts come from the backend where it reports them."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class TeacherError(Exception):
    """A teacher call that failed.

    ``reason`` is a short stable code counted in run summaries (``rate_limited``, ``server_error``,
    ``timeout``, ``connection``, ``bad_response``...).  ``retryable`` errors are retried by the engine with
    exponential backoff and jitter, waiting at least ``retry_after`` seconds when the server said so; a
    request whose retries run out is reported as failed with its reason (and retried on the next run).
    Problems the user must fix (wrong URL, 401, unknown model, missing API key) are raised as
    :class:`~tvd.errors.TvdError` instead and stop the run at once.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class Teacher(abc.ABC):
    """A text generator.  Subclasses set :attr:`backend` and implement :meth:`generate`.

    ``concurrent`` says whether several calls may be in flight at once (remote servers: yes; an
    in-process model: no).  Remote backends override :meth:`agenerate` with a real asynchronous call.
    """

    backend: str = "abstract"
    concurrent: bool = False

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """A stable identifier of the weights (file name + size, model name...), part of cache keys."""

    @abc.abstractmethod
    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """Return ``n`` completions of ``prompt``."""

    async def agenerate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """Asynchronous :meth:`generate`; the default runs it in a worker thread."""
        return await asyncio.to_thread(self.generate, prompt, n, params)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``, for estimates where the server reports no usage; backends with a tokenizer
        override this heuristic (about four characters a token for English)."""
        return max(1, len(text) // 4)

    def fingerprint(self) -> str:
        """Identifies backend and model for caching; parameters and prompt are added per request.

        It is stored in clear (the cache's ``teacher`` column, every generated line's ``meta.teacher``), so it
        must hold no secret: a URL goes in as :func:`tvd.teachers.urls.redact_url` gives it, a key not at all."""
        return f"{self.backend}:{self.model_id}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model memory, connections)."""

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_fingerprint(path: Path, window: int = 1 << 20) -> str:
    """``name:size:hash`` of a model file; the hash covers its first and last MiB, so it is cheap.

    The first MiB of a GGUF is mostly metadata and vocabulary, which fine-tunes of one base model share
    (often with identical sizes); the last MiB is tensor data, which they do not.
    """
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(window))
        if size > window:
            handle.seek(max(window, size - window))
            digest.update(handle.read(window))
    return f"{path.name}:{size}:{digest.hexdigest()[:16]}"


def request_key(teacher_fingerprint: str, prompt: str, params: GenerationParams, sample: int) -> str:
    """The cache key of one sampled completion: backend, model, prompt, parameters and sample index.

    The sample index keeps intended duplicates (n samples of one prompt) distinct.
    """
    payload = json.dumps(
        {"teacher": teacher_fingerprint, "prompt": prompt, "params": params.to_dict(), "sample": sample},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
