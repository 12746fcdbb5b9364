"""Parse and validate a teacher's LINGUIST output against the request that produced it.

A completion becomes an :class:`~tvd.data.utterance.Utterance` only if every check holds; otherwise
:func:`parse_output` raises :class:`~tvd.engine.task.Rejection` with a stable ``reason`` (counted in run summaries and
written to the rejects file with the raw text):

``empty_output``        nothing but whitespace
``unbalanced_bracket``  a ``[`` or ``]`` outside a well-formed ``[N value ]`` slot
``nested_bracket``      a slot inside a slot
``empty_value``         ``[N ]``
``unknown_label``       a slot number that is not in the label map
``slot_not_requested``  a slot whose label is not in the include block (or more of it than requested)
``missing_slot``        an include slot the output does not contain
``fixed_value_changed`` a fixed include value not reproduced verbatim (case-insensitive)
``wildcard_not_filled`` a wildcard slot whose value is still ``*``
``truncated``           the teacher stopped at ``max_tokens`` before finishing
"""

from __future__ import annotations

from collections import Counter

from tvd.data.utterance import SpanError, Utterance
from tvd.engine.task import Rejection
from tvd.formats.brackets import BracketError, utterance_from_brackets
from tvd.linguist.prompt import EXAMPLES_CLOSE
from tvd.linguist.request import WILDCARD, LinguistRequest

#: Bump when the parser's accept/reject behaviour changes: derived data keyed on it is recomputed.
PARSER_VERSION = "linguist-parse-1"

REASONS = (
    "empty_output",
    "unbalanced_bracket",
    "nested_bracket",
    "empty_value",
    "unknown_label",
    "slot_not_requested",
    "missing_slot",
    "fixed_value_changed",
    "wildcard_not_filled",
    "truncated",
)

__all__ = ["PARSER_VERSION", "REASONS", "Rejection", "parse_output"]


def _norm(value: str) -> str:
    return " ".join(value.casefold().split())


def parse_output(
    text: str,
    request: LinguistRequest,
    *,
    finish_reason: str | None = None,
    check_fixed_values: bool = True,
) -> Utterance:
    """The validated utterance in ``text``.  ``check_fixed_values=False`` when the request asked for another
    language than its fixed values are written in (the teacher may translate them, as instructed)."""
    line = text.strip().split("\n", 1)[0].replace(EXAMPLES_CLOSE, "").strip()
    if not line:
        raise Rejection("empty_output", "the completion is empty")
    if finish_reason == "length":
        raise Rejection("truncated", "the teacher hit max_tokens before finishing the utterance")
    try:
        utterance = utterance_from_brackets(line, request.label_map, intent=request.intent, language=request.language)
    except BracketError as exc:
        raise Rejection(exc.reason, str(exc)) from exc
    except SpanError as exc:  # defensive: the codec only builds valid spans
        raise Rejection("unbalanced_bracket", str(exc)) from exc

    produced = Counter(span.label for span in utterance.spans)
    requested = request.include_counts
    extra = produced - requested
    if extra:
        raise Rejection("slot_not_requested", f"slots not in the include block: {sorted(extra.elements())}")
    missing = requested - produced
    if missing:
        raise Rejection("missing_slot", f"include slots missing from the output: {sorted(missing.elements())}")

    values: dict[str, list[str]] = {}
    for label, value in utterance.slots:
        values.setdefault(label, []).append(_norm(value))
    for label, found in values.items():
        if WILDCARD in found:
            raise Rejection("wildcard_not_filled", f"slot {label} kept the wildcard '*' as its value")
    if check_fixed_values:
        for slot in request.include:
            if slot.is_wildcard:
                continue
            found = values.get(slot.label, [])
            if _norm(slot.value) not in found:
                raise Rejection(
                    "fixed_value_changed", f"slot {slot.label} should be {slot.value!r}, got {found or 'nothing'}"
                )
            found.remove(_norm(slot.value))
    return utterance.replace(meta={"request_id": request.request_id, "source": "linguist", "bracketed": line})
