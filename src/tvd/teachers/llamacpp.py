"""The embedded teacher: a GGUF model run on the CPU by llama.cpp through llama-cpp-python.

Default model: Gemma 3 270M (see :mod:`tvd.teachers.embedded_model`); any GGUF file works.

Reproducibility.  Completion ``i`` of a call is sampled with seed ``params.seed + i``, and the same prompt,
parameters and seed give the same text however many calls came before.  That needs care: llama.cpp's
logits for a token differ in the last bits depending on whether it was evaluated alone or inside a batch,
and llama-cpp-python's ``create_completion`` reuses whatever prefix of the prompt is still in the KV
cache, so ``create_completion(seed=s)`` gives one text on a fresh model and another after any earlier
call.  This teacher therefore evaluates every prompt along one canonical path: all tokens but the last in
batches of ``n_batch`` aligned at absolute positions (reusing the aligned part of the prefix shared with
the previous prompt), then the last token alone, from which sampling starts.  The ``n`` samples of a call
share the evaluated prompt, so only the last prompt token is evaluated again per sample.

Sampling runs in this module (llama.cpp's sampler objects, driven token by token) rather than inside
``create_completion``, so that grammars can be checked on a shortlist first (see :class:`_Sampler`).

Batching.  With ``batch_width`` w > 1, :meth:`LlamaCppTeacher.generate_requests` decodes w completions
together in one llama.cpp batch, a finished lane taking the next request (:mod:`tvd.teachers.llamacpp_batch`).
The guarantee is then: a completion depends only on prompt, parameters, seed and w, never on which other
requests share its batch, its lane, their order or timing, so a run resumed after ``kill -9`` (which resends
only the missing requests) caches the same texts as an uninterrupted one.  Texts at width w differ from those
at width 1 (the logits differ in the last bits, and sampling follows them after a few tokens), so w > 1 is part
of :meth:`~LlamaCppTeacher.fingerprint`; width 1 is the one-at-a-time path above, fingerprint unchanged.

Outputs do not depend on ``n_threads``; they may depend on ``n_batch``, ``batch_width``, the llama.cpp build
and the CPU.  A teacher is not thread-safe: give each thread or process its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tvd.errors import E_BAD_GRAMMAR, E_LLAMA_CPP, E_LLAMA_PROMPT_TOO_LONG, E_NO_LLAMA_CPP, TvdError
from tvd.teachers.base import Completion, GenerationParams, Teacher, file_fingerprint
from tvd.teachers.embedded_model import INSTALL_FIX, resolve_model_path

_NO_SEED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: "pick a random seed"
MAX_BATCH_WIDTH = 64  # lanes of the batched decoder (llama.cpp allows 256 sequences; each lane holds n_ctx of KV)
_REQUESTS_PER_LANE = 4  # batch_size = this x batch_width


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise TvdError(
            E_NO_LLAMA_CPP,
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
    ``grammar_shortlist``: check a grammar on the top-k candidates before the whole vocabulary (see
    :class:`_Sampler`; about 4x faster constrained decoding with Gemma's 262k vocabulary); ``False`` gives
    exact grammar-first sampling, as llama-cpp-python's ``create_completion`` does.  ``lora_path``: a LoRA
    adapter GGUF applied on top of the model (e.g. ``adapter.gguf`` written by ``tvd teacher tune``); it is
    part of :attr:`model_id`, so cached completions of the base model are never reused for the tuned one.
    ``batch_width``: sequences decoded together (see :mod:`tvd.teachers.llamacpp_batch`); 1 decodes one
    completion at a time, as before.  Widths above 1 give other (equally valid) texts than width 1, and are
    part of :meth:`fingerprint`; the engine then sends :attr:`batch_size` requests per call.
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
        grammar_shortlist: bool = True,
        lora_path: str | Path | None = None,
        batch_width: int = 1,
    ) -> None:
        bad_width = isinstance(batch_width, bool) or not isinstance(batch_width, int)
        if n_threads < 1 or n_ctx < 16 or n_batch < 1 or bad_width or not 1 <= batch_width <= MAX_BATCH_WIDTH:
            raise TvdError(
                E_LLAMA_CPP,
                f"bad llama.cpp settings: n_threads={n_threads}, n_ctx={n_ctx}, n_batch={n_batch}, "
                f"batch_width={batch_width!r}",
                fix=f"use n_threads >= 1, n_ctx >= 16, n_batch >= 1 and an integer batch_width in 1..{MAX_BATCH_WIDTH}",
            )
        self.batch_width = batch_width
        self.model_path = resolve_model_path(model_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.verbose = verbose
        self.reuse_prompt = reuse_prompt
        self.grammar_shortlist = grammar_shortlist
        self._model_id = file_fingerprint(self.model_path)
        self.lora_path = Path(lora_path).expanduser() if lora_path else None
        if self.lora_path is not None:
            if not self.lora_path.is_file():
                raise TvdError(
                    E_LLAMA_CPP,
                    "LoRA adapter file not found",
                    file=self.lora_path,
                    fix="give the adapter.gguf written by `tvd teacher tune`",
                )
            self._model_id += f"+lora:{file_fingerprint(self.lora_path)}"
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
                **({"lora_path": str(self.lora_path)} if self.lora_path is not None else {}),
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = _LOG.recent()
            raise TvdError(
                E_LLAMA_CPP,
                f"llama.cpp could not load the model: {exc}" + (f"\n{detail}" if detail else ""),
                file=self.model_path,
                fix="check that the file is a complete GGUF model that this llama-cpp-python version supports",
            ) from exc
        #: Seconds it took to load the model.
        self.load_seconds = time.perf_counter() - started
        self._grammars: dict[str, Any] = {}  # GBNF source -> parsed grammar sampler (cloned per sample)
        self._vocab = self._llm._model.vocab
        self._n_vocab = self._llm.n_vocab()
        self._candidates = np.zeros(self._n_vocab, dtype=_TOKEN_DATA)  # reused candidate buffer
        self._evaluated: list[int] = []  # tokens whose KV entries lie in the cache along the canonical path
        self._batched: Any = None  # the batched decoder (batch_width > 1), created on first use

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def batch_size(self) -> int:
        """Requests the engine sends per :meth:`generate_requests` call: enough to keep every lane busy
        most of the call (a finished lane takes the next request), few enough that a kill loses little."""
        return 1 if self.batch_width == 1 else _REQUESTS_PER_LANE * self.batch_width

    def fingerprint(self) -> str:
        """``llamacpp:<model>`` at width 1 (as before batching existed); ``...:batch_width=<w>`` above,
        since the width changes the last bits of the logits and so the texts."""
        base = super().fingerprint()
        return base if self.batch_width == 1 else f"{base}:batch_width={self.batch_width}"

    # -- prompt evaluation -------------------------------------------------------------------------
    def _prepare(self, tokens: list[int]) -> None:
        """Put ``tokens[:-1]`` into the KV cache along the canonical path (see the module docstring)."""
        llm = self._llm
        target = tokens[:-1]
        if self.reuse_prompt and target == self._evaluated:
            return  # _complete evaluates only the last prompt token again
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

    def _grammar(self, source: str) -> Any:
        """A parsed grammar sampler for a GBNF string (cached; each sample uses a fresh clone)."""
        prototype = self._grammars.get(source)
        if prototype is None:
            lib = self._llama_cpp
            _LOG.lines.clear()
            with _capture_stderr(enabled=not self.verbose) as captured:  # the parser prints to fd 2 itself
                prototype = lib.llama_sampler_init_grammar(self._vocab, source.encode("utf-8"), b"root")
            if not prototype:
                detail = " ".join((captured.text + " " + _LOG.recent(3)).split())
                raise TvdError(
                    E_BAD_GRAMMAR,
                    "llama.cpp cannot parse the GBNF grammar" + (f": {detail}" if detail else ""),
                    fix="check the grammar (a 'root' rule is required); see llama.cpp's grammars/README.md",
                )
            self._grammars[source] = prototype
        return prototype

    # -- generation --------------------------------------------------------------------------------
    def _tokens(self, prompt: str) -> list[int]:
        """The prompt's tokens (BOS first); E307 when they leave no room in the context window."""
        if self._llm is None:
            raise TvdError(E_LLAMA_CPP, "the llama.cpp teacher was closed", fix="create a new teacher")
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + 1 >= self.n_ctx:
            raise TvdError(
                E_LLAMA_PROMPT_TOO_LONG,
                f"the prompt has {len(tokens)} tokens, too many for the context window of {self.n_ctx}",
                fix="raise teacher.n_ctx or use fewer or shorter examples in the prompt",
            )
        return list(tokens)

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions of ``prompt``; completion ``i`` is sampled with seed ``params.seed + i``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if self.batch_width > 1:
            return self.generate_requests([(prompt, replace(params, seed=params.seed + i)) for i in range(n)])
        tokens = self._tokens(prompt)
        grammar = self._grammar(params.grammar) if params.grammar is not None else None
        return [self._complete(tokens, params, (params.seed + i) % _NO_SEED, grammar) for i in range(n)]

    def generate_requests(self, requests: Sequence[tuple[str, GenerationParams]]) -> list[Completion]:
        """One completion per ``(prompt, params)``, sampled with seed ``params.seed``, in order.

        At width 1 exactly ``generate(prompt, 1, params)`` for each; above, decoded ``batch_width`` at a
        time (see :mod:`tvd.teachers.llamacpp_batch`), each text independent of the others in the call."""
        if self.batch_width == 1:
            return [self.generate(prompt, 1, params)[0] for prompt, params in requests]
        jobs = []
        for prompt, params in requests:
            grammar = self._grammar(params.grammar) if params.grammar is not None else None
            jobs.append((self._tokens(prompt), params, params.seed % _NO_SEED, grammar))
        if not jobs:
            return []
        if self._batched is None:
            from tvd.teachers.llamacpp_batch import BatchDecoder  # imports this module

            self._batched = BatchDecoder(self, self.batch_width)
        return self._batched.run(jobs)

    def _complete(self, tokens: list[int], params: GenerationParams, seed: int, grammar: Any) -> Completion:
        """One sampled completion of the prompt ``tokens``."""
        llm, lib = self._llm, self._llama_cpp
        started = time.perf_counter()
        self._prepare(tokens)
        llm.n_tokens = len(tokens) - 1
        llm.eval(tokens[-1:])  # the last prompt token alone: the canonical path
        prompt_seconds = time.perf_counter() - started
        room = self.n_ctx - len(tokens)
        budget = min(params.max_tokens, room) if params.max_tokens > 0 else room
        stops = [stop.encode("utf-8") for stop in params.stop if stop]
        sampler = _Sampler(lib, self, params, seed, grammar)
        generated: list[int] = []
        text = b""
        finish_reason = "length"
        try:
            while len(generated) < budget:
                token = sampler.sample()
                if lib.llama_vocab_is_eog(self._vocab, token):
                    finish_reason = "stop"
                    break
                generated.append(token)
                text = llm.detokenize(generated, prev_tokens=tokens)
                cut = min((text.find(stop) for stop in stops if stop in text), default=-1)
                if cut >= 0:
                    text = text[:cut]
                    finish_reason = "stop"
                    break
                if len(generated) < budget:
                    llm.eval([token])
        finally:
            sampler.free()
        return Completion(
            text=text.decode("utf-8", errors="ignore"),
            prompt_tokens=len(tokens),
            completion_tokens=len(generated),
            finish_reason=finish_reason,
            extra={
                "seed": seed,
                "seconds": round(time.perf_counter() - started, 4),
                "prompt_seconds": round(prompt_seconds, 4),
            },
        )

    def forget_prompt(self) -> None:
        """Drop the evaluated prompt, so the next call evaluates its prompt from scratch (for benchmarks)."""
        self._evaluated = []
        if self._llm is not None:
            self._llm.reset()
        if self._batched is not None:
            self._batched.forget_prompt()

    def close(self) -> None:
        """Free the model, its context and the cached grammars."""
        batched, self._batched = getattr(self, "_batched", None), None
        if batched is not None:
            batched.close()  # before the model it was made from
        llm, self._llm = getattr(self, "_llm", None), None
        self._evaluated = []
        for prototype in getattr(self, "_grammars", {}).values():
            self._llama_cpp.llama_sampler_free(prototype)
        self._grammars = {}
        if llm is not None:
            llm.close()


_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
_SHORTLIST_FOR_GREEDY = 40


class _Sampler:
    """The samplers of one completion: repeat penalty, top-k, grammar, top-p, temperature, seeded draw.

    Without a grammar this is one llama.cpp sampler chain.  With one, the grammar is checked on the top-k
    shortlist first and on the whole vocabulary only when no shortlisted token fits.  Checking a 262k
    vocabulary at every step is what makes constrained decoding slow; the shortlist gives the same choice
    whenever at least one valid token is in the unconstrained top k (it differs from grammar-first
    sampling only in dropping valid tokens ranked below k).  ``top_k <= 0`` (no top-k) checks the full
    vocabulary every step.
    """

    def __init__(
        self,
        lib: Any,
        teacher: LlamaCppTeacher,
        params: GenerationParams,
        seed: int,
        grammar: Any,
        ctx: Any = None,
    ) -> None:
        self.lib = lib
        self.ctx = teacher._llm.ctx if ctx is None else ctx  # the batched decoder samples from its own context
        self.candidates = teacher._candidates
        greedy = params.temperature <= 0
        top_k = params.top_k if params.top_k > 0 else (_SHORTLIST_FOR_GREEDY if greedy else 0)
        self.penalties = (
            lib.llama_sampler_init_penalties(teacher._n_vocab, 64, params.repeat_penalty, 0.0, 0.0)
            if params.repeat_penalty != 1.0
            else None
        )
        self.top_k = lib.llama_sampler_init_top_k(top_k) if top_k > 0 else None
        self.shortlist = teacher.grammar_shortlist
        self.grammar = lib.llama_sampler_clone(grammar) if grammar is not None else None
        self.tail = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if greedy:
            lib.llama_sampler_chain_add(self.tail, lib.llama_sampler_init_greedy())
        else:
            if params.top_p < 1.0:
                lib.llama_sampler_chain_add(self.tail, lib.llama_sampler_init_top_p(params.top_p, 1))
            lib.llama_sampler_chain_add(self.tail, lib.llama_sampler_init_temp(params.temperature))
            lib.llama_sampler_chain_add(self.tail, lib.llama_sampler_init_dist(seed))
        self.chain = None
        if self.grammar is None:  # one chain, sampled inside llama.cpp
            self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
            for part in (self.penalties, self.top_k, self.tail):
                if part is not None:
                    lib.llama_sampler_chain_add(self.chain, part)  # the chain owns and frees them
            self.penalties = self.top_k = self.tail = None

    def sample(self, index: int = -1) -> int:
        """The next token, from the logits of output row ``index`` of the last decode (-1: the last row)."""
        lib = self.lib
        if self.chain is not None:
            return int(lib.llama_sampler_sample(self.chain, self.ctx, index))
        candidates = self.candidates
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.ctx, index), shape=(len(candidates),))
        token = None
        if self.top_k is not None and self.shortlist:
            array = self._fill(logits)
            self._apply(self.penalties, array)
            self._apply(self.top_k, array)
            if ctypes.addressof(array.data.contents) == candidates.ctypes.data:
                self._apply(self.grammar, array)
                shortlist = candidates[: array.size]
                valid = shortlist[np.isfinite(shortlist["logit"])]  # still sorted, best first
                if len(valid):
                    # llama.cpp's samplers take a sorted array's first logit as its maximum: drop the -inf ones
                    candidates[: len(valid)] = valid
                    array.size = len(valid)
                    self._apply(self.tail, array)
                    token = int(candidates["id"][array.selected])
        if token is None:  # nothing valid in the shortlist: the grammar looks at the whole vocabulary
            array = self._fill(logits)
            for part in (self.penalties, self.grammar, self.top_k, self.tail):
                self._apply(part, array)
            token = int(candidates["id"][array.selected])
        for part in (self.penalties, self.grammar, self.top_k, self.tail):
            if part is not None:
                lib.llama_sampler_accept(part, token)
        return token

    def _fill(self, logits: np.ndarray) -> Any:
        candidates = self.candidates
        candidates["id"] = np.arange(len(candidates), dtype=np.intc)
        candidates["logit"] = logits
        candidates["p"] = 0.0
        data = candidates.ctypes.data_as(self.lib.llama_token_data_p)
        return self.lib.llama_token_data_array(data=data, size=len(candidates), selected=-1, sorted=False)

    def _apply(self, sampler: Any, array: Any) -> None:
        if sampler is not None:
            self.lib.llama_sampler_apply(sampler, ctypes.byref(array))

    def free(self) -> None:
        for part in (self.chain, self.penalties, self.top_k, self.grammar, self.tail):
            if part is not None:
                self.lib.llama_sampler_free(part)
        self.chain = self.penalties = self.top_k = self.grammar = self.tail = None
