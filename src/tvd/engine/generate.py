"""The generation loop: LINGUIST requests -> teacher (through the cache) -> validated utterances or rejects.

Every sampled completion ends up in exactly one place: accepted (an utterance) or rejected (raw text and
reason).  Completions come from the :class:`~tvd.engine.cache.CompletionCache` when present, so a
re-run or a run restarted after a crash sends only what is missing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tqdm.auto import tqdm

from tvd.data.utterance import Utterance
from tvd.engine.cache import CompletionCache
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import PARSER_VERSION, Rejection, parse_output
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import LinguistRequest
from tvd.teachers.base import GenerationParams, Teacher, request_key

_SEED_STRIDE = 1000  # seeds of request r: base + r * stride + sample; samples per request stay below it


@dataclass
class GenerationStats:
    """Counts of one generation; ``rejected`` is by reason."""

    requests: int = 0
    samples: int = 0
    cached: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    teacher_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "samples": self.samples,
            "cached": self.cached,
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "teacher_seconds": round(self.teacher_seconds, 2),
            "parser_version": PARSER_VERSION,
        }


@dataclass
class GenerationResult:
    accepted: list[Utterance]
    rejects: list[dict[str, Any]]
    stats: GenerationStats


def generate(
    requests: Sequence[LinguistRequest],
    teacher: Teacher,
    cache: CompletionCache,
    *,
    params: GenerationParams | None = None,
    samples_per_request: int = 1,
    constrained: bool = True,
    source_language: str = "en",
    progress: bool = True,
) -> GenerationResult:
    """Run ``requests`` through ``teacher`` and validate every completion.

    ``constrained`` adds each request's GBNF grammar (backends that cannot use one ignore it).  Fixed
    include values are checked verbatim only when the request's language is ``source_language``; for
    another language the teacher may translate them, as the prompt instructs.
    """
    if not 1 <= samples_per_request < _SEED_STRIDE:
        raise ValueError(f"samples_per_request must be within [1, {_SEED_STRIDE - 1}]")
    base = params or GenerationParams()
    stats = GenerationStats(requests=len(requests))
    accepted: list[Utterance] = []
    rejects: list[dict[str, Any]] = []
    fingerprint = teacher.fingerprint()
    total = len(requests) * samples_per_request
    bar = tqdm(total=total, desc="generating", unit="utt", disable=not progress)
    try:
        for r, request in enumerate(requests):
            prompt = build_prompt(request)
            same_language = request.language == source_language
            grammar = output_grammar(request, same_language_fixed_values=same_language) if constrained else None
            for sample in range(samples_per_request):
                sample_params = replace(base, seed=base.seed + r * _SEED_STRIDE + sample, grammar=grammar)
                key = request_key(fingerprint, prompt, sample_params, sample)
                completion = cache.get(key)
                if completion is None:
                    started = time.perf_counter()
                    completion = teacher.generate(prompt, 1, sample_params)[0]
                    stats.teacher_seconds += time.perf_counter() - started
                    cache.put(key, fingerprint, request.request_id, sample, completion)
                    stats.sent += 1
                else:
                    stats.cached += 1
                stats.samples += 1
                stats.prompt_tokens += completion.prompt_tokens or 0
                stats.completion_tokens += completion.completion_tokens or 0
                try:
                    utterance = parse_output(
                        completion.text,
                        request,
                        finish_reason=completion.finish_reason,
                        check_fixed_values=same_language,
                    )
                except Rejection as rejection:
                    stats.rejected[rejection.reason] += 1
                    rejects.append(
                        {
                            "request_id": request.request_id,
                            "sample": sample,
                            "reason": rejection.reason,
                            "message": str(rejection),
                            "raw": completion.text,
                            "include": [[s.label, s.value] for s in request.include],
                        }
                    )
                else:
                    stats.accepted += 1
                    accepted.append(
                        utterance.replace(meta={**utterance.meta, "sample": sample, "teacher": fingerprint})
                    )
                bar.update(1)
                bar.set_postfix(accepted=stats.accepted, rejected=sum(stats.rejected.values()), refresh=False)
    finally:
        bar.close()
    return GenerationResult(accepted, rejects, stats)
