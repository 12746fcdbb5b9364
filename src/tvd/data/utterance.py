"""The one utterance type every part of ``tvd`` passes around.

An :class:`Utterance` is text, an intent, a language and slot spans as *character offsets* with labels.
Offsets, not token indices, keep it language-agnostic: Japanese text without spaces carries its slots
just as English does.  Tokens are derived on demand (:meth:`Utterance.token_offsets`) for BIO-tagging
students and formats; where a source fixed its own tokenisation (xSID CoNLL), it is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_WHITESPACE_TOKEN = re.compile(r"\S+")


class SpanError(ValueError):
    """A span or tag sequence that cannot belong to the utterance (outside the text, overlapping...)."""


@dataclass(frozen=True, order=True)
class Span:
    """A labelled slot: ``text[start:end]`` is its value."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Utterance:
    """An annotated utterance.

    ``tokens`` holds token character offsets only when the source imposed a tokenisation that
    whitespace splitting would not reproduce (e.g. xSID Japanese); otherwise it is ``None``.
    ``meta`` carries free-form provenance (id, source file, teacher request) and is ignored by ``==``.
    """

    text: str
    intent: str | None = None
    spans: tuple[Span, ...] = ()
    language: str = "en"
    tokens: tuple[tuple[int, int], ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        spans = tuple(sorted(self.spans))
        object.__setattr__(self, "spans", spans)
        previous_end = -1
        for span in spans:
            if not span.label:
                raise SpanError(f"span {span.start}:{span.end} has an empty label")
            if not 0 <= span.start < span.end <= len(self.text):
                raise SpanError(
                    f"span {span.start}:{span.end} ({span.label}) lies outside the text of length {len(self.text)}"
                )
            if self.text[span.start : span.end] != self.text[span.start : span.end].strip():
                raise SpanError(f"span {span.start}:{span.end} ({span.label}) starts or ends with whitespace")
            if span.start < previous_end:
                raise SpanError(f"span {span.start}:{span.end} ({span.label}) overlaps the previous span")
            previous_end = span.end
        if self.tokens is not None:
            object.__setattr__(self, "tokens", tuple((int(s), int(e)) for s, e in self.tokens))

    # -- slot access -------------------------------------------------------------------------------

    def value(self, span: Span) -> str:
        return self.text[span.start : span.end]

    @property
    def slots(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs in text order."""
        return [(span.label, self.value(span)) for span in self.spans]

    def replace(self, **changes: Any) -> Utterance:
        values = {
            "text": self.text,
            "intent": self.intent,
            "spans": self.spans,
            "language": self.language,
            "tokens": self.tokens,
            "meta": self.meta,
        }
        values.update(changes)
        return Utterance(**values)

    # -- tokens and BIO ----------------------------------------------------------------------------

    def token_offsets(self) -> list[tuple[int, int]]:
        """Token offsets: the source's own, or whitespace tokens split further at every span boundary.

        Splitting at span boundaries means a slot never straddles a token, whatever the script: a
        Japanese sentence without spaces still yields one token per slot value and per gap.
        """
        if self.tokens is not None:
            return list(self.tokens)
        cuts = {b for span in self.spans for b in (span.start, span.end)}
        offsets: list[tuple[int, int]] = []
        for match in _WHITESPACE_TOKEN.finditer(self.text):
            start = match.start()
            for cut in sorted(c for c in cuts if match.start() < c < match.end()):
                offsets.append((start, cut))
                start = cut
            offsets.append((start, match.end()))
        return offsets

    def to_bio(self) -> tuple[list[str], list[str]]:
        """Tokens and BIO tags.  Raises :class:`SpanError` if a span does not fall on token boundaries."""
        offsets = self.token_offsets()
        tags = ["O"] * len(offsets)
        for span in self.spans:
            inside = [i for i, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]
            covered = [i for i, (s, e) in enumerate(offsets) if s < span.end and e > span.start]
            if (
                not inside
                or inside != covered
                or offsets[inside[0]][0] != span.start
                or offsets[inside[-1]][1] != span.end
            ):
                raise SpanError(
                    f"slot {span.label}={self.value(span)!r} does not fall on token boundaries of {self.text!r}"
                )
            tags[inside[0]] = f"B-{span.label}"
            for i in inside[1:]:
                tags[i] = f"I-{span.label}"
        return [self.text[s:e] for s, e in offsets], tags

    @classmethod
    def from_bio(
        cls,
        tokens: Sequence[str],
        tags: Sequence[str],
        *,
        intent: str | None = None,
        language: str = "en",
        text: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Utterance:
        """Build an utterance from tokens and BIO tags.

        Without ``text`` the tokens are joined by single spaces.  With ``text`` each token is located in
        it in order; the tokenisation is kept when whitespace splitting would not reproduce it.  Tags
        follow conlleval's reading: an ``I-X`` that does not continue an ``X`` chunk starts a new one.
        """
        if len(tokens) != len(tags):
            raise SpanError(f"{len(tokens)} tokens but {len(tags)} tags")
        offsets = _locate_tokens(tokens, text) if text is not None else _join_offsets(tokens)
        full_text = text if text is not None else " ".join(tokens)
        spans = spans_from_tags(offsets, tags, strict=True)
        own_tokens = tuple(offsets)
        default = Utterance(full_text, intent, tuple(spans), language).token_offsets()
        keep = None if list(own_tokens) == default else own_tokens
        return cls(full_text, intent, tuple(spans), language, keep, dict(meta or {}))

    # -- native serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "text": self.text,
            "intent": self.intent,
            "language": self.language,
            "slots": [{"start": s.start, "end": s.end, "label": s.label, "value": self.value(s)} for s in self.spans],
        }
        if self.tokens is not None:
            record["tokens"] = [list(t) for t in self.tokens]
        if self.meta:
            record["meta"] = dict(self.meta)
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Utterance:
        """Inverse of :meth:`to_dict`.  A slot's ``value``, when given, must match the text at its offsets."""
        if not isinstance(record.get("text"), str):
            raise SpanError("record has no string field 'text'")
        text = record["text"]
        spans = []
        for slot in record.get("slots") or []:
            try:
                span = Span(int(slot["start"]), int(slot["end"]), str(slot["label"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise SpanError(f"slot {slot!r} needs integer 'start', 'end' and a 'label'") from exc
            if "value" in slot and text[span.start : span.end] != slot["value"]:
                raise SpanError(
                    f"slot value {slot['value']!r} does not match text[{span.start}:{span.end}]"
                    f" = {text[span.start : span.end]!r}"
                )
            spans.append(span)
        tokens = record.get("tokens")
        return cls(
            text=text,
            intent=record.get("intent"),
            spans=tuple(spans),
            language=record.get("language") or "en",
            tokens=tuple(tuple(t) for t in tokens) if tokens is not None else None,
            meta=dict(record.get("meta") or {}),
        )


def spans_from_tags(
    offsets: Sequence[tuple[int, int]], tags: Sequence[str], *, strict: bool = True
) -> list[Span]:
    """Character spans from BIO tags over token offsets, read as conlleval does.

    An ``I-X`` continues the open chunk only if that chunk is an ``X``; otherwise it starts a new ``X``
    chunk.  A tag that is not ``O``, ``B-X`` or ``I-X`` raises :class:`SpanError` when ``strict``, and is
    read as ``O`` otherwise (for a model's predictions).
    """
    spans: list[Span] = []
    open_label: str | None = None
    open_start = open_end = 0
    for (start, end), tag in zip(offsets, tags, strict=True):
        if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
            prefix, label = tag[0], tag[2:]
        elif tag == "O" or not strict:
            prefix, label = "O", None
        else:
            raise SpanError(f"tag {tag!r} is not O, B-<label> or I-<label>")
        if prefix == "I" and open_label == label:
            open_end = end
            continue
        if open_label is not None:
            spans.append(Span(open_start, open_end, open_label))
        open_label, open_start, open_end = label, start, end
    if open_label is not None:
        spans.append(Span(open_start, open_end, open_label))
    return spans


def _join_offsets(tokens: Sequence[str]) -> list[tuple[int, int]]:
    offsets, cursor = [], 0
    for token in tokens:
        if not token or any(ch.isspace() for ch in token):
            raise SpanError(f"token {token!r} is empty or contains whitespace")
        offsets.append((cursor, cursor + len(token)))
        cursor += len(token) + 1
    return offsets


def _locate_tokens(tokens: Sequence[str], text: str) -> list[tuple[int, int]]:
    offsets, cursor = [], 0
    for token in tokens:
        index = text.find(token, cursor)
        if index < 0 or text[cursor:index].strip():
            raise SpanError(f"token {token!r} not found in order in text {text!r}")
        offsets.append((index, index + len(token)))
        cursor = index + len(token)
    return offsets


def intents(utterances: Iterable[Utterance]) -> list[str]:
    """Distinct intents, sorted."""
    return sorted({u.intent for u in utterances if u.intent is not None})


def slot_labels(utterances: Iterable[Utterance]) -> list[str]:
    """Distinct slot labels, sorted."""
    return sorted({s.label for u in utterances for s in u.spans})
