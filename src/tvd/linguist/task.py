"""LINGUIST as an engine task: a :class:`~tvd.linguist.request.LinguistRequest` in, a validated utterance out.

The prompt is :func:`~tvd.linguist.prompt.build_prompt`, the grammar :func:`~tvd.linguist.grammar.output_grammar`
and validation :func:`~tvd.linguist.parse.parse_output`.  Fixed include values are checked verbatim only when
the request's language is ``source_language`` (the seeds' language); for another language the teacher may
translate them, as the prompt instructs, and the grammar does not force them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tvd.data.utterance import Utterance
from tvd.engine.task import Rejection
from tvd.linguist.grammar import output_grammar
from tvd.linguist.parse import PARSER_VERSION, parse_output
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import LinguistRequest
from tvd.teachers.base import Completion, GenerationParams


@dataclass(frozen=True)
class LinguistTask:
    """LINGUIST requests through the engine (:func:`tvd.engine.generate.generate`); results are utterances with
    ``meta`` holding ``request_id``, ``source``, ``bracketed``, ``sample`` and ``teacher``."""

    source_language: str = "en"
    name: str = "generating"
    unit: str = "utt"
    version: str = PARSER_VERSION
    default_params: GenerationParams = field(default_factory=GenerationParams)

    def request_id(self, request: LinguistRequest) -> str:
        return request.request_id

    def prompt(self, request: LinguistRequest) -> str:
        return build_prompt(request)

    def grammar(self, request: LinguistRequest) -> str | None:
        return output_grammar(request, same_language_fixed_values=request.language == self.source_language)

    def validate(self, request: LinguistRequest, completion: Completion, *, sample: int, teacher: str) -> Utterance:
        utterance = parse_output(
            completion.text,
            request,
            finish_reason=completion.finish_reason,
            check_fixed_values=request.language == self.source_language,
        )
        return utterance.replace(meta={**utterance.meta, "sample": sample, "teacher": teacher})

    def reject_record(self, request: LinguistRequest, sample: int, rejection: Rejection, raw: str) -> dict[str, Any]:
        return {
            "request_id": request.request_id,
            "sample": sample,
            "reason": rejection.reason,
            "message": str(rejection),
            "raw": raw,
            "include": [[s.label, s.value] for s in request.include],
        }
