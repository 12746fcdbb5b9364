"""LINGUIST numbered brackets: ``what is the weather in [1 dallas ] on [2 saturday ]``.

A slot is ``[`` + its number in a label map + a space + the value + `` ]``.  This module is the one codec
for that notation: the file format (:mod:`tvd.formats.linguist`), the prompt builder and the teacher
output parser all use it.  Text is rebuilt by deleting the markers and collapsing whitespace, so
``in [1 dallas ]?`` gives ``in dallas?`` and ``[1 東京 ]の天気`` gives ``東京の天気``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tvd.data.utterance import Span, Utterance

_SLOT = re.compile(r"\[(\d+)(?:\s+([^\[\]]*?))?\s*\]")
_SPACE = re.compile(r"\s+")


class BracketError(ValueError):
    """Malformed numbered-bracket text.  ``reason`` is a short stable code used in reject counts."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class BracketedSlot:
    number: int
    value: str
    start: int
    end: int


def parse_brackets(source: str) -> tuple[str, list[BracketedSlot]]:
    """Plain text and the numbered slots of ``source``; raises :class:`BracketError` when malformed.

    Reasons: ``unbalanced_bracket`` (a ``[`` or ``]`` not part of a well-formed slot),
    ``empty_value`` (``[3 ]``), ``nested_bracket``.
    """
    out: list[str] = []
    pending_space = False
    slots: list[BracketedSlot] = []

    def emit(piece: str) -> None:
        nonlocal pending_space
        for ch in piece:
            if ch.isspace():
                pending_space = bool(out)
            else:
                if pending_space:
                    out.append(" ")
                    pending_space = False
                out.append(ch)

    cursor = 0
    for match in _SLOT.finditer(source):
        plain = source[cursor : match.start()]
        _check_plain(plain, source)
        emit(plain)
        value = _SPACE.sub(" ", match.group(2) or "").strip()
        if not value:
            raise BracketError("empty_value", f"slot [{match.group(1)} ] has an empty value in {source!r}")
        if pending_space:
            out.append(" ")
            pending_space = False
        start = len(out)
        out.extend(value)
        slots.append(BracketedSlot(int(match.group(1)), value, start, len(out)))
        cursor = match.end()
    tail = source[cursor:]
    _check_plain(tail, source)
    emit(tail)
    return "".join(out), slots


def _check_plain(plain: str, source: str) -> None:
    if "[" in plain or "]" in plain:
        if re.search(r"\[\d+\s[^\]]*\[", source):
            raise BracketError("nested_bracket", f"nested brackets in {source!r}")
        raise BracketError("unbalanced_bracket", f"unbalanced or malformed bracket in {source!r}")


def render_brackets(utterance: Utterance, numbers: Mapping[str, int]) -> str:
    """The utterance in numbered-bracket form, each slot label replaced by its number in ``numbers``."""
    pieces: list[str] = []
    cursor = 0
    for span in utterance.spans:
        if span.label not in numbers:
            raise KeyError(f"slot label {span.label!r} has no number in the label map")
        pieces.append(utterance.text[cursor : span.start])
        pieces.append(f"[{numbers[span.label]} {utterance.value(span)} ]")
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return "".join(pieces)


def utterance_from_brackets(
    source: str,
    labels: Mapping[int, str],
    *,
    intent: str | None = None,
    language: str = "en",
) -> Utterance:
    """Parse bracketed text with a ``number -> label`` map; unknown numbers raise ``unknown_label``."""
    text, slots = parse_brackets(source)
    spans = []
    for slot in slots:
        if slot.number not in labels:
            raise BracketError("unknown_label", f"slot number {slot.number} is not in the label map {dict(labels)}")
        spans.append(Span(slot.start, slot.end, labels[slot.number]))
    return Utterance(text=text, intent=intent, spans=tuple(spans), language=language)
