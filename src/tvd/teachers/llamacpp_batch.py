"""Batched decoding for the embedded teacher: ``batch_width`` sequences decoded together in one llama.cpp batch.

:class:`BatchDecoder` (used by :class:`~tvd.teachers.llamacpp.LlamaCppTeacher` when ``batch_width`` > 1) owns
a second llama.cpp context on the teacher's model with ``batch_width + 1`` sequences: one *lane* per sequence
decoded in parallel, plus a *prompt* sequence.  A request's prompt (all tokens but the last) is evaluated
into the prompt sequence along the teacher's canonical path (batches of ``n_batch`` aligned at absolute
positions, reusing the aligned prefix shared with the previous prompt, so consecutive samples of one prompt
evaluate it once), then copied into a free lane (``llama_memory_seq_cp``); from there the lane decodes one
token per step together with the other lanes, the last prompt token first.  Each lane has its own
:class:`~tvd.teachers.llamacpp._Sampler` (seed, grammar state, shortlist).  A finished lane takes the next
request at once (continuous batching).

Reproducibility.  A completion depends on its prompt, parameters, seed and the batch width, and on nothing
else: not on which requests share its batch, their order, the lane it lands in, when it joined, or how many
requests the call had; so a run resumed after ``kill -9`` (which resends only the missing requests, in other
company) gives the same texts as an uninterrupted one.  Two things make that hold, both measured bitwise on
the logits (see tests/test_teachers_llamacpp.py):

* the KV cache is not unified (``kv_unified = false``): each sequence has its own storage, so its attention
  never sums over another sequence's cells;
* every step decodes exactly ``batch_width`` rows, all with logits: a lane without a request decodes a
  dummy token at position 0 of its own (cleared) sequence.  llama.cpp's CPU matrix kernels take rows in
  groups of 4 with another kernel for the remainder, so a row's last bits depend on how many rows the batch
  has; with a fixed count they do not depend on the row's place or on the other rows' contents.

Outputs at width ``w`` > 1 differ from width 1 (and from other widths) in the last bits of the logits and so,
after a few tokens, in the text: the width is part of the teacher's fingerprint.  As at width 1, outputs do
not depend on ``n_threads``, and may depend on ``n_batch``, the llama.cpp build and the CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tvd.errors import E_LLAMA_CPP, TvdError
from tvd.teachers.base import Completion, GenerationParams
from tvd.teachers.llamacpp import _LOG, LlamaCppTeacher, _Sampler

_UBATCH = 128
Job = tuple[list[int], GenerationParams, int, Any]  # prompt tokens, parameters, seed, parsed grammar (or None)


@dataclass
class _Lane:
    """One request being decoded: where its next token goes and what it has produced."""

    index: int  # the request's place in the call
    tokens: list[int]
    params: GenerationParams
    seed: int
    sampler: _Sampler
    budget: int
    stops: list[bytes]
    started: float
    prompt_seconds: float
    pending: int  # the token to decode at the next step
    position: int
    generated: list[int] = field(default_factory=list)
    text: bytes = b""
    digest: Any = None  # sha1 over the logits rows it was sampled from, when tracing


class BatchDecoder:
    """``width`` lanes over their own llama.cpp context on ``teacher``'s model; see the module docstring."""

    def __init__(self, teacher: LlamaCppTeacher, width: int) -> None:
        self.teacher = teacher
        self.width = width
        self.lib = lib = teacher._llama_cpp
        self.prompt_seq = width  # sequences 0..width-1 are the lanes
        params = lib.llama_context_default_params()
        params.n_ctx = teacher.n_ctx * (width + 1)  # llama.cpp gives each of n_seq_max sequences n_ctx / n_seq_max
        params.n_batch = max(teacher.n_batch, width)
        # one ubatch holds a whole step (every lane); logits are reserved for a ubatch's rows (n_vocab floats
        # each), so a small ubatch keeps that buffer small (prompt chunks run as several ubatches, as fast)
        params.n_ubatch = params.n_outputs_max = min(params.n_batch, max(width, _UBATCH))
        params.n_seq_max = width + 1
        params.kv_unified = False  # per-sequence KV storage: see the module docstring
        params.n_threads = params.n_threads_batch = teacher.n_threads
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the width-1 context
        params.no_perf = True
        self.ctx = lib.llama_init_from_model(teacher._llm._model.model, params)
        if not self.ctx:
            detail = _LOG.recent()
            raise TvdError(
                E_LLAMA_CPP,
                f"llama.cpp could not create a context for batch_width={width}" + (f"\n{detail}" if detail else ""),
                fix="use a smaller batch_width or n_ctx (each lane holds n_ctx tokens of KV cache)",
            )
        adapter = getattr(teacher._llm, "_lora_adapter", None)
        if adapter is not None:
            adapters = (lib.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(teacher._llm.lora_scale)
            if lib.llama_set_adapters_lora(self.ctx, adapters, 1, scales):
                self.close()
                raise TvdError(
                    E_LLAMA_CPP,
                    "llama.cpp could not apply the LoRA adapter to the batched context",
                    file=teacher.lora_path,
                    fix="check that the adapter was made for this model, or use batch_width 1",
                )
        self.memory = lib.llama_get_memory(self.ctx)
        self.capacity = params.n_batch
        self.batch = lib.llama_batch_init(self.capacity, 0, 1)
        self.dummy = int(lib.llama_vocab_bos(teacher._vocab))
        if self.dummy < 0:
            self.dummy = 0
        self.evaluated: list[int] = []  # the prompt sequence's tokens
        #: Put the sha1 of every logits row a completion was sampled from into its ``extra["logits_sha1"]``
        #: (for tests of the reproducibility guarantee: bitwise, not only the text).
        self.trace_logits = False

    # -- llama.cpp calls -------------------------------------------------------------------------------
    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """Decode ``(token, position, sequence, logits?)`` rows in one llama.cpp batch."""
        batch = self.batch
        batch.n_tokens = len(items)
        for i, (token, position, seq, logits) in enumerate(items):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        status = self.lib.llama_decode(self.ctx, batch)
        if status != 0:
            detail = _LOG.recent(3)
            raise TvdError(
                E_LLAMA_CPP,
                f"llama_decode failed with status {status} (batch_width={self.width})"
                + (f"\n{detail}" if detail else ""),
                fix="raise teacher.n_ctx, or lower batch_width",
            )

    def _prepare(self, tokens: list[int]) -> None:
        """Put ``tokens[:-1]`` into the prompt sequence along the canonical path (aligned ``n_batch`` chunks)."""
        target = tokens[:-1]
        teacher = self.teacher
        if teacher.reuse_prompt and target == self.evaluated:
            return
        shared = 0
        if teacher.reuse_prompt:
            for old, new in zip(self.evaluated, target, strict=False):
                if old != new:
                    break
                shared += 1
        keep = (shared // teacher.n_batch) * teacher.n_batch
        self.lib.llama_memory_seq_rm(self.memory, self.prompt_seq, keep, -1)
        self.evaluated = []
        for start in range(keep, len(target), teacher.n_batch):
            chunk = target[start : start + teacher.n_batch]
            self._decode([(token, start + i, self.prompt_seq, False) for i, token in enumerate(chunk)])
        self.evaluated = list(target)

    # -- decoding --------------------------------------------------------------------------------------
    def run(self, jobs: list[Job]) -> list[Completion]:
        """One completion per job, in order; ``width`` decoded at a time, refilling lanes as they finish."""
        lib = self.lib
        results: list[Completion | None] = [None] * len(jobs)
        lanes: list[_Lane | None] = [None] * self.width
        waiting = iter(enumerate(jobs))
        remaining = len(jobs)
        try:
            for lane in range(self.width):
                lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
            while remaining:
                for slot in range(self.width):
                    if lanes[slot] is None and (job := next(waiting, None)) is not None:
                        lanes[slot] = self._start(slot, *job)
                rows = []
                for slot, lane in enumerate(lanes):
                    if lane is None:  # keep the row count fixed: a dummy token in the lane's own, emptied sequence
                        lib.llama_memory_seq_rm(self.memory, slot, -1, -1)
                        rows.append((self.dummy, 0, slot, True))
                    else:
                        rows.append((lane.pending, lane.position, slot, True))
                self._decode(rows)
                for slot, lane in enumerate(lanes):
                    if lane is not None and (done := self._step(slot, lane)) is not None:
                        results[lane.index] = done
                        lanes[slot] = None
                        remaining -= 1
        finally:
            for lane in lanes:
                if lane is not None:
                    lane.sampler.free()
        return [completion for completion in results if completion is not None]

    def _start(self, slot: int, index: int, job: Job) -> _Lane:
        """Give lane ``slot`` the request ``job``: its prompt evaluated and copied in, its sampler made."""
        tokens, params, seed, grammar = job
        teacher = self.teacher
        started = time.perf_counter()
        self._prepare(tokens)
        self.lib.llama_memory_seq_cp(self.memory, self.prompt_seq, slot, -1, -1)  # done at the next decode
        room = teacher.n_ctx - len(tokens)
        budget = min(params.max_tokens, room) if params.max_tokens > 0 else room
        return _Lane(
            index=index,
            tokens=tokens,
            params=params,
            seed=seed,
            sampler=_Sampler(self.lib, teacher, params, seed, grammar, ctx=self.ctx),
            budget=budget,
            stops=[stop.encode("utf-8") for stop in params.stop if stop],
            started=started,
            prompt_seconds=time.perf_counter() - started,
            pending=tokens[-1],
            position=len(tokens) - 1,
            digest=hashlib.sha1() if self.trace_logits else None,
        )

    def _step(self, slot: int, lane: _Lane) -> Completion | None:
        """Sample lane ``slot``'s next token from the last decode; its completion when it is finished."""
        lib, teacher = self.lib, self.teacher
        finish_reason = None
        if lane.budget <= 0:
            finish_reason = "length"
        else:
            if lane.digest is not None:
                row = lib.llama_get_logits_ith(self.ctx, slot)
                lane.digest.update(np.ctypeslib.as_array(row, shape=(teacher._n_vocab,)).tobytes())
            token = lane.sampler.sample(slot)
            if lib.llama_vocab_is_eog(teacher._vocab, token):
                finish_reason = "stop"
            else:
                lane.generated.append(token)
                text = teacher._llm.detokenize(lane.generated, prev_tokens=lane.tokens)
                cut = min((text.find(stop) for stop in lane.stops if stop in text), default=-1)
                if cut >= 0:
                    text, finish_reason = text[:cut], "stop"
                elif len(lane.generated) >= lane.budget:
                    finish_reason = "length"
                lane.text = text
                lane.pending = token
                lane.position += 1
        if finish_reason is None:
            return None
        lane.sampler.free()
        return Completion(
            text=lane.text.decode("utf-8", errors="ignore"),
            prompt_tokens=len(lane.tokens),
            completion_tokens=len(lane.generated),
            finish_reason=finish_reason,
            extra={
                "seed": lane.seed,
                "seconds": round(time.perf_counter() - lane.started, 4),
                "prompt_seconds": round(lane.prompt_seconds, 4),
                "batch_width": self.width,
                **({"logits_sha1": lane.digest.hexdigest()} if lane.digest is not None else {}),
            },
        )

    def forget_prompt(self) -> None:
        """Drop the evaluated prompt (for benchmarks)."""
        self.evaluated = []
        if self.ctx:
            self.lib.llama_memory_seq_rm(self.memory, self.prompt_seq, -1, -1)

    def close(self) -> None:
        """Free the batch and the context (before the model they were made from)."""
        batch, self.batch = getattr(self, "batch", None), None
        if batch is not None:
            self.lib.llama_batch_free(batch)
        ctx, self.ctx = getattr(self, "ctx", None), None
        if ctx:
            with contextlib.suppress(Exception):
                self.lib.llama_free(ctx)
