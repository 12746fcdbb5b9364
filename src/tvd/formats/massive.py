"""MASSIVE JSON Lines: ``annot_utt`` marks slots as ``[label : value]``.

A record::

    {"id": "1", "locale": "en-US", "partition": "train", "scenario": "alarm", "intent": "alarm_set",
     "utt": "wake me up at nine am on friday",
     "annot_utt": "wake me up at [time : nine am] on [date : friday]", "worker_id": "1", ...}

The text is ``annot_utt`` with each ``[label : value]`` replaced by its value (label and value are
stripped; the label ends at the first colon, so values may hold colons), and must equal ``utt`` when
that is given.  The language is the locale's language part (``en-US`` -> ``en``).  ``id``, ``locale``,
``partition`` and ``scenario`` go to ``meta`` under those names, any other key under
``meta["massive_extra"]``; the writer puts them all back.  Written without a known scenario, an intent
``scenario_action`` (MASSIVE's convention) gives ``scenario``; ``id`` defaults to the position.  Fields keep
their JSON types: an ``intent``, ``utt`` or ``locale`` that is not a string is E109, not converted; a line that
is not valid UTF-8, or a string with a lone surrogate (``"\\ud800"``), is E112.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tvd.data.utterance import Span, SpanError, Utterance
from tvd.errors import E_BAD_MARKUP, E_BAD_RECORD, E_BAD_TEXT
from tvd.formats.base import (
    FormatSpec,
    Record,
    atomic_write_text,
    cannot_write,
    json_object_lines,
    record_error,
    require_encodable,
)

NAME = "massive"
META_KEYS = ("id", "locale", "partition", "scenario")
_OWN_KEYS = {*META_KEYS, "intent", "utt", "annot_utt"}
EXTRA = "massive_extra"


class MarkupError(ValueError):
    """Malformed ``[label : value]`` markup."""


def parse_annotation(annot: str) -> tuple[str, list[Span]]:
    """Plain text and spans of a MASSIVE ``annot_utt``; raises :class:`MarkupError` when malformed."""
    out: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    while cursor < len(annot):
        open_at = annot.find("[", cursor)
        close_at = annot.find("]", cursor)
        if close_at >= 0 and (open_at < 0 or close_at < open_at):
            raise MarkupError(f"unbalanced ']' at character {close_at + 1}")
        if open_at < 0:
            out.append(annot[cursor:])
            break
        out.append(annot[cursor:open_at])
        length += open_at - cursor
        close_at = annot.find("]", open_at)
        nested = annot.find("[", open_at + 1)
        if close_at < 0 or (0 <= nested < close_at):
            raise MarkupError(f"unbalanced '[' at character {open_at + 1}")
        inner = annot[open_at + 1 : close_at]
        if ":" not in inner:
            raise MarkupError(f"missing ':' between label and value in [{inner}]")
        label, value = (part.strip() for part in inner.split(":", 1))
        if not label or not value:
            raise MarkupError(f"empty label or value in [{inner}]")
        spans.append(Span(length, length + len(value), label))
        out.append(value)
        length += len(value)
        cursor = close_at + 1
    return "".join(out), spans


def render_annotation(utterance: Utterance) -> str:
    """``annot_utt`` for ``utterance`` (no check that it parses back; see :func:`dumps`)."""
    pieces, cursor = [], 0
    for span in utterance.spans:
        pieces.append(utterance.text[cursor : span.start])
        pieces.append(f"[{span.label} : {utterance.value(span)}]")
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return "".join(pieces)


def from_record(record: Mapping[str, Any], *, language: str | None = None) -> Utterance:
    """An utterance from one MASSIVE record; raises :class:`MarkupError`, :class:`SpanError` or ``KeyError``."""
    annot = record["annot_utt"]
    if not isinstance(annot, str):
        raise KeyError("annot_utt")
    text, spans = parse_annotation(annot)
    utt = record.get("utt")
    if utt is not None and utt != text:
        raise SpanError(f"annot_utt without markup is {text!r} but utt is {utt!r}")
    locale = record.get("locale")
    lang = (str(locale).replace("_", "-").split("-")[0].strip() if locale else "") or language or "en"
    meta: dict[str, Any] = {key: record[key] for key in META_KEYS if key in record}
    extra = {key: value for key, value in record.items() if key not in _OWN_KEYS}
    if extra:
        meta[EXTRA] = extra
    intent = record.get("intent")
    return Utterance(text, str(intent) if intent is not None else None, tuple(spans), lang, None, meta)


def _field_error(record: dict[str, Any]) -> str | None:
    """Why ``record``'s MASSIVE fields have the wrong JSON type, or ``None`` (no field is coerced to a string)."""
    if not isinstance(record.get("annot_utt"), str):
        return "expected a JSON object with a string 'annot_utt'"
    intent = record.get("intent")
    if not isinstance(intent, str) or not intent:
        return f"'intent' must be a non-empty string, got {intent!r}"
    for key in ("utt", "locale"):
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key!r} must be a string, got {record[key]!r}"
    return None


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """Records of a MASSIVE JSONL file; ``language`` is used for records without ``locale``."""
    fix = "give every record a string 'utt', 'annot_utt' and 'intent'"
    for item in json_object_lines(path, not_object="expected a JSON object with a string 'annot_utt'", fix=fix):
        if isinstance(item, Record):
            yield item
            continue
        number, text, record = item
        wrong = _field_error(record)
        if wrong is not None:
            yield record_error(E_BAD_RECORD, wrong, file=path, line=number, raw=text, fix=fix)
            continue
        try:
            utterance = from_record(record, language=language)
        except MarkupError as exc:
            yield record_error(E_BAD_MARKUP, f"annot_utt: {exc}", file=path, line=number, raw=text,
                               fix="mark slots as [label : value]")
            continue
        except SpanError as exc:
            yield record_error(E_BAD_TEXT, str(exc), file=path, line=number, raw=text,
                               fix="make annot_utt, without its markup, equal utt")
            continue
        yield Record(str(path), number, text, utterance)


def to_record(utterance: Utterance, index: int) -> dict[str, Any]:
    """The MASSIVE record for ``utterance`` (``index`` gives the default ``id``)."""
    meta = utterance.meta
    locale = meta.get("locale")
    if not isinstance(locale, str) or locale.replace("_", "-").split("-")[0] != utterance.language:
        locale = utterance.language
    scenario = meta.get("scenario")
    if scenario is None and utterance.intent and "_" in utterance.intent:
        scenario = utterance.intent.split("_", 1)[0]
    record: dict[str, Any] = {"id": meta["id"] if "id" in meta else str(index + 1), "locale": locale}
    if "partition" in meta:
        record["partition"] = meta["partition"]
    if scenario is not None:
        record["scenario"] = scenario
    record["intent"] = utterance.intent
    record["utt"] = utterance.text
    record["annot_utt"] = render_annotation(utterance)
    extra = meta.get(EXTRA)
    if isinstance(extra, Mapping):
        record.update({key: value for key, value in extra.items() if key not in _OWN_KEYS})
    return record


def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The MASSIVE JSONL text; raises E110 for an utterance without intent or that the markup cannot express."""
    lines = []
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        if not utterance.intent:
            raise cannot_write(NAME, index, utterance, "it has no intent", "give every utterance an intent", path)
        language = utterance.language
        if not language or any(ch in language for ch in "-_") or language != language.strip():
            raise cannot_write(NAME, index, utterance, f"language {language!r} is not a bare language code: the "
                               "reader keeps only the part of a locale before '-' or '_'",
                               "give the utterance a language code such as 'en' (its meta 'locale' may hold "
                               "'en-US')", path)
        record = to_record(utterance, index)
        try:
            expressible = parse_annotation(record["annot_utt"]) == (utterance.text, list(utterance.spans))
        except MarkupError:
            expressible = False
        if not expressible:
            raise cannot_write(NAME, index, utterance,
                               "its text or a slot holds '[', ']' or a slot label holds ':' or surrounding spaces",
                               "write jsonl instead, or remove brackets from the text", path)
        try:
            lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        except (TypeError, ValueError, RecursionError) as exc:
            raise cannot_write(NAME, index, utterance, f"meta is not JSON-serialisable ({exc})",
                               "keep only JSON values in meta", path) from exc
    return "".join(lines)


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write MASSIVE JSONL, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("massive", "MASSIVE JSON Lines with annot_utt", False, iter_records, write)
