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


class RecordError(TypeError):
    """A serialised utterance (:meth:`Utterance.from_dict`) with a field of the wrong type or shape."""


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
    whitespace splitting would not reproduce (e.g. xSID Japanese); otherwise it is ``None``.  Tokens are
    non-empty, inside the text and in order.
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
            tokens = tuple((int(s), int(e)) for s, e in self.tokens)
            previous_end = 0
            for start, end in tokens:
                if not previous_end <= start < end <= len(self.text):
                    raise SpanError(
                        f"token {start}:{end} is empty, lies outside the text of length {len(self.text)}"
                        " or overlaps the previous token"
                    )
                previous_end = end
            object.__setattr__(self, "tokens", tokens)

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
        """Inverse of :meth:`to_dict`, taking each field's JSON type as it is, never coercing it.

        Raises :class:`RecordError` for a field of the wrong type (``"start": "3"``, ``"end": 21.5``,
        ``"start": true``, a number as label or intent, ``slots`` or ``meta`` of the wrong shape) and
        :class:`SpanError` for a slot or token outside the text, reversed, overlapping, or whose ``value``
        differs from the text at its offsets.  Keys other than those :meth:`to_dict` writes are ignored.
        """
        if not isinstance(record, Mapping):
            raise RecordError(f"expected an object, got {type(record).__name__}")
        text = record.get("text")
        if not isinstance(text, str):
            raise RecordError("record has no string field 'text'")
        intent = _optional_str(record, "intent")
        language = _optional_str(record, "language")
        slots = record.get("slots")
        if slots is None:
            slots = []
        if not isinstance(slots, list):
            raise RecordError(f"'slots' must be a list of objects, got {type(slots).__name__}")
        spans = []
        for slot in slots:
            if not isinstance(slot, Mapping):
                raise RecordError(f"slot {slot!r} is not an object with 'start', 'end' and 'label'")
            start, end, label = slot.get("start"), slot.get("end"), slot.get("label")
            if not (_is_int(start) and _is_int(end)) or not isinstance(label, str) or not label:
                raise RecordError(f"slot {slot!r} needs integer 'start' and 'end' and a non-empty string 'label'")
            if "value" in slot and not isinstance(slot["value"], str):
                raise RecordError(f"slot {slot!r}: 'value' must be a string")
            span = Span(start, end, label)
            if not 0 <= start < end <= len(text):
                raise SpanError(
                    f"slot {start}:{end} ({label}) is reversed or lies outside the text of length {len(text)}"
                )
            if "value" in slot and text[start:end] != slot["value"]:
                raise SpanError(
                    f"slot value {slot['value']!r} does not match text[{start}:{end}] = {text[start:end]!r}"
                )
            spans.append(span)
        tokens = record.get("tokens")
        if tokens is not None and not (
            isinstance(tokens, list)
            and all(isinstance(t, list) and len(t) == 2 and _is_int(t[0]) and _is_int(t[1]) for t in tokens)
        ):
            raise RecordError("'tokens' must be a list of [start, end] integer pairs")
        meta = record.get("meta")
        if meta is not None and not isinstance(meta, Mapping):
            raise RecordError(f"'meta' must be an object, got {type(meta).__name__}")
        return cls(
            text=text,
            intent=intent,
            spans=tuple(spans),
            language=language or "en",
            tokens=tuple((t[0], t[1]) for t in tokens) if tokens is not None else None,
            meta=dict(meta or {}),
        )


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer and not a bool (JSON ``true`` reads as ``True``, an ``int``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise RecordError(f"{key!r} must be a string or null, got {type(value).__name__} {value!r}")
    return value


def encoding_problem(utterance: Utterance) -> str | None:
    """What in ``utterance`` UTF-8 cannot encode (a lone surrogate, e.g. from a JSON ``"\\ud800"`` escape or
    ``surrogateescape``-decoded bytes), or ``None`` when every string in it, ``meta`` included, is encodable."""
    fields: list[tuple[str, object]] = [("text", utterance.text), ("intent", utterance.intent),
                                        ("language", utterance.language)]
    fields += [(f"slot label {i + 1}", span.label) for i, span in enumerate(utterance.spans)]
    fields.append(("meta", dict(utterance.meta)))
    for name, value in fields:
        problem = unencodable(value)
        if problem is not None:
            return f"{name}: {problem}"
    return None


def unencodable(value: object) -> str | None:
    """Where a string inside ``value`` (a string, or lists, tuples and dicts of them, keys included, at any
    depth) holds a character UTF-8 cannot encode, as ``"U+D800 (a lone surrogate) at character 4"``; ``None``
    when there is none."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"U+{ord(item[exc.start]):04X} (a lone surrogate) at character {exc.start + 1}"
        elif isinstance(item, Mapping | list | tuple) and id(item) not in seen:
            seen.add(id(item))
            children = [x for pair in item.items() for x in pair] if isinstance(item, Mapping) else list(item)
            stack.extend(reversed(children))
    return None


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
