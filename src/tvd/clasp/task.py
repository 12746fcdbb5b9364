"""CLASP as an engine task: a :class:`~tvd.clasp.strategies.ClaspRequest` in, a validated pair (or value) out.

A ``pair`` request's completion must be a valid TOP tree (:func:`~tvd.clasp.validate.check_output`): the
requested parse for RS / TS, the English parse's shape for TB; English outputs are also checked against the
catalogues (a known TOPPING / DRINKTYPE / STYLE value outside any slot is ``value_outside_slot``), and outputs
in another language by ``language_check`` when the task has one (``wrong_language``: the utterance is not in
the requested language; the job passes the ``language`` filter's :func:`~tvd.filters.language.in_language`,
a later layer than this one).  A ``value`` request (TS's first step) must be a short translation with no
markup that is not the English value again (``untranslated``; a value without letters, a number, may stay).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tvd.clasp.strategies import ClaspRequest
from tvd.clasp.validate import check_output
from tvd.data.parse_tree import Tree
from tvd.engine.task import Rejection
from tvd.teachers.base import Completion, GenerationParams

#: Bump when accept/reject behaviour changes.
VALIDATOR_VERSION = "clasp-validate-2"


def shape(tree: Tree) -> Tree:
    """The tree's labels only (slot values blanked): TB outputs must keep the English parse's shape."""
    if tree.is_preterminal():
        return Tree(tree.label, ("*",))
    return Tree(tree.label, tuple(shape(c) for c in tree.subtrees))


def _default_params() -> GenerationParams:
    return GenerationParams(max_tokens=192, temperature=0.7)


@dataclass(frozen=True)
class ClaspTask:
    """CLASP requests through the engine.  ``lexicon`` (label -> catalogue values) turns on the English
    ``value_outside_slot`` check; ``language_check`` (``(text, language) -> bool``) the ``wrong_language``
    check of pairs in another language than English.  Results are dicts: ``request_id``, ``strategy``,
    ``language``, ``sample``, then ``text`` and ``top`` (pairs) or ``source`` and ``value`` (TS value
    translations), and ``teacher``."""

    lexicon: Mapping[str, Sequence[str]] | None = None
    language_check: Callable[[str, str], bool] | None = None
    name: str = "clasp"
    unit: str = "pair"
    version: str = VALIDATOR_VERSION
    default_params: GenerationParams = field(default_factory=_default_params)

    def request_id(self, request: ClaspRequest) -> str:
        return request.request_id

    def prompt(self, request: ClaspRequest) -> str:
        return request.prompt

    def grammar(self, request: ClaspRequest) -> str | None:
        return request.grammar

    def _check(self, request: ClaspRequest, completion: Completion) -> dict[str, Any]:
        if request.kind == "value":
            text = completion.text.strip()
            if text.endswith("</"):
                text = text[:-2].strip()
            if not text or "<" in text or ">" in text:
                raise Rejection("empty_value" if not text else "malformed", f"bad translation {text!r}")
            if text.casefold() == request.source.casefold() and any(c.isalpha() for c in text):
                raise Rejection("untranslated", f"the translation of {request.source!r} is the English value")
            return {"source": request.source, "value": text}
        checked = check_output(
            completion.text,
            expected=request.expected,
            finish_reason=completion.finish_reason,
            language=request.language,
            lexicon=self.lexicon if request.language == "en" else None,  # the catalogues are English
        )
        if request.strategy == "tb" and request.source:
            source = Tree.from_top(request.source).semantics_only()
            if not shape(checked.tree.semantics_only()).unordered_equal(shape(source)):
                raise Rejection("parse_changed", "the translated parse does not have the English parse's shape")
        checker = self.language_check if request.language != "en" else None
        if checker is not None and not checker(checked.text, request.language):
            raise Rejection("wrong_language", f"the utterance is not in {request.language!r}: {checked.text!r}")
        return {"text": checked.text, "top": str(checked.tree)}

    def validate(self, request: ClaspRequest, completion: Completion, *, sample: int, teacher: str) -> dict[str, Any]:
        record = self._check(request, completion)
        return {
            "request_id": request.request_id,
            "strategy": request.strategy,
            "language": request.language,
            "sample": sample,
            **record,
            "teacher": teacher,
        }

    def reject_record(self, request: ClaspRequest, sample: int, rejection: Rejection, raw: str) -> dict[str, Any]:
        return {
            "request_id": request.request_id,
            "strategy": request.strategy,
            "sample": sample,
            "reason": rejection.reason,
            "message": str(rejection),
            "raw": raw,
            "expected": str(request.expected) if request.expected is not None else None,
        }
