"""The embedded teacher: a GGUF model run on the CPU by llama.cpp through llama-cpp-python.

Default model: Gemma 3 270M (see :mod:`tvd.teachers.embedded_model`); any GGUF file works.

Reproducibility.  Completion ``i`` of a call is sampled with seed ``params.seed + i``, and the same prompt,
parameters and seed give the same text however many calls came before.  That needs care: llama.cpp's
logits for a token differ in the last bits depending on whether it was evaluated alone or inside a batch,
and llama-cpp-python reuses whatever prefix of the prompt is still in the KV cache, so a plain
``create_completion(seed=s)`` gives one text on a fresh model and another after any earlier call.  This
teacher therefore evaluates every prompt along one canonical path: all tokens but the last in batches of
``n_batch`` aligned at absolute positions (reusing the aligned part of the prefix shared with the previous
prompt), then the last token alone, from which sampling starts.  The ``n`` samples of a call share the
evaluated prompt, so only the last prompt token is evaluated again per sample.

Outputs do not depend on ``n_threads``; they may depend on ``n_batch``, the llama.cpp build and the CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tvd.errors import TvdError
from tvd.teachers.base import Completion, GenerationParams, Teacher
from tvd.teachers.embedded_model import INSTALL_FIX, file_fingerprint, resolve_model_path

_NO_SEED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: "pick a random seed"


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise TvdError(
            "E301",
            f"the embedded teacher needs llama-cpp-python, which is not importable ({exc})",
            fix=INSTALL_FIX.replace("or set teacher.model_path to any GGUF file", "or choose another teacher backend"),
        ) from exc
    return llama_cpp


class _LlamaLog:
    """Receives llama.cpp's log lines (process-wide): keeps the last ones, prints them only when verbose."""

    def __init__(self) -> None:
        self.verbose = False
        self.lines: deque[str] = deque(maxlen=50)
        self._callback: Any = None

    def install(self, llama_cpp: Any) -> None:
        if self._callback is not None:
            return

        def receive(level: int, text: bytes, user_data: Any) -> None:
            message = text.decode("utf-8", errors="replace")
            self.lines.append(message)
            if self.verbose:
                print(message, end="", flush=True, file=sys.stderr)

        self._callback = llama_cpp.llama_log_callback(receive)  # keep a reference: C holds a pointer
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def recent(self, count: int = 5) -> str:
        return "".join(list(self.lines)[-count:]).strip()


_LOG = _LlamaLog()


class _Captured:
    text = ""


@contextlib.contextmanager
def _capture_stderr(enabled: bool = True) -> Iterator[_Captured]:
    """Redirect file descriptor 2 (where C code writes) into a buffer while the block runs."""
    captured = _Captured()
    if not enabled:
        yield captured
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            captured.text = buffer.read().decode("utf-8", errors="replace")


class LlamaCppTeacher(Teacher):
    """A GGUF model on the CPU.

    ``model_path``: a GGUF file, or ``None`` for the default embedded model.  ``n_threads``: CPU threads
    for generation and prompt evaluation (1 is often fastest on a busy machine).  ``n_ctx``: context
    window in tokens (prompt + completion).  ``n_batch``: prompt tokens evaluated per step, also the
    granularity of prefix reuse between different prompts.  ``verbose``: show llama.cpp's log on stderr.
    ``reuse_prompt``: keep the evaluated prompt between samples and calls (switch off only to measure it).
    """

    backend = "llamacpp"

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_threads: int = 1,
        n_ctx: int = 2048,
        n_batch: int = 512,
        verbose: bool = False,
        *,
        reuse_prompt: bool = True,
    ) -> None:
        if n_threads < 1 or n_ctx < 16 or n_batch < 1:
            raise TvdError(
                "E305",
                f"bad llama.cpp settings: n_threads={n_threads}, n_ctx={n_ctx}, n_batch={n_batch}",
                fix="use n_threads >= 1, n_ctx >= 16, n_batch >= 1",
            )
        self.model_path = resolve_model_path(model_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.verbose = verbose
        self.reuse_prompt = reuse_prompt
        self._model_id = file_fingerprint(self.model_path)
        self._llama_cpp = _import_llama_cpp()
        _LOG.install(self._llama_cpp)
        _LOG.verbose = verbose
        started = time.perf_counter()
        try:
            self._llm = self._llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_ubatch=n_batch,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=verbose,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = _LOG.recent()
            raise TvdError(
                "E305",
                f"llama.cpp could not load the model: {exc}" + (f"\n{detail}" if detail else ""),
                file=self.model_path,
                fix="check that the file is a complete GGUF model that this llama-cpp-python version supports",
            ) from exc
        #: Seconds it took to load the model.
        self.load_seconds = time.perf_counter() - started
        self._grammars: dict[str, Any] = {}
        self._evaluated: list[int] = []  # tokens whose KV entries lie in the cache along the canonical path

    @property
    def model_id(self) -> str:
        return self._model_id

    # -- prompt evaluation -------------------------------------------------------------------------
    def _prepare(self, tokens: list[int]) -> None:
        """Put ``tokens[:-1]`` into the KV cache along the canonical path (see the module docstring)."""
        llm = self._llm
        target = tokens[:-1]
        if self.reuse_prompt and target == self._evaluated:
            return  # create_completion re-evaluates only the last prompt token
        shared = 0
        if self.reuse_prompt:
            for old, new in zip(self._evaluated, target, strict=False):
                if old != new:
                    break
                shared += 1
        keep = (shared // self.n_batch) * self.n_batch
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm.reset()
            keep = 0
        self._evaluated = []
        for start in range(keep, len(target), self.n_batch):
            llm.eval(target[start : start + self.n_batch])
        self._evaluated = list(target)

    def _grammar(self, source: str | None) -> Any:
        """The compiled grammar for a GBNF string (cached), or ``None``; a bad grammar is a TvdError."""
        if source is None:
            return None
        grammar = self._grammars.get(source)
        if grammar is None:
            lib = self._llama_cpp
            _LOG.lines.clear()
            with _capture_stderr(enabled=not self.verbose) as captured:  # the parser prints to fd 2 itself
                sampler = lib.llama_sampler_init_grammar(self._llm._model.vocab, source.encode("utf-8"), b"root")
            if not sampler:
                detail = " ".join((captured.text + " " + _LOG.recent(3)).split())
                raise TvdError(
                    "E306",
                    "llama.cpp cannot parse the GBNF grammar" + (f": {detail}" if detail else ""),
                    fix="check the grammar (a 'root' rule is required); see llama.cpp's grammars/README.md",
                )
            lib.llama_sampler_free(sampler)
            grammar = lib.LlamaGrammar.from_string(source, verbose=self.verbose)
            self._grammars[source] = grammar
        return grammar

    # -- generation --------------------------------------------------------------------------------
    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions of ``prompt``; completion ``i`` is sampled with seed ``params.seed + i``."""
        if self._llm is None:
            raise TvdError("E305", "the llama.cpp teacher was closed", fix="create a new teacher")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + 1 >= self.n_ctx:
            raise TvdError(
                "E307",
                f"the prompt has {len(tokens)} tokens, too many for the context window of {self.n_ctx}",
                fix="raise teacher.n_ctx or use fewer or shorter examples in the prompt",
            )
        grammar = self._grammar(params.grammar)
        completions = []
        for i in range(n):
            seed = (params.seed + i) % _NO_SEED
            started = time.perf_counter()
            self._prepare(tokens)
            response = self._llm.create_completion(
                tokens,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                min_p=0.0,  # llama.cpp's default is 0.05; GenerationParams alone decides sampling
                repeat_penalty=params.repeat_penalty,
                seed=seed,
                stop=list(params.stop),
                grammar=grammar,
            )
            choice = response["choices"][0]
            usage = response.get("usage") or {}
            completions.append(
                Completion(
                    text=choice["text"],
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                    finish_reason=choice.get("finish_reason"),
                    extra={"seed": seed, "seconds": round(time.perf_counter() - started, 4)},
                )
            )
        return completions

    def close(self) -> None:
        """Free the model and its context."""
        llm, self._llm = getattr(self, "_llm", None), None
        self._evaluated = []
        if llm is not None:
            llm.close()
