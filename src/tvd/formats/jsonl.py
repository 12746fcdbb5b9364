"""Native JSON Lines: one :meth:`Utterance.to_dict` object per line.

Each line holds ``text``, ``intent``, ``language``, ``slots`` (``start``, ``end``, ``label``, ``value``),
and, when set, ``tokens`` and ``meta``.  It is the one format that keeps everything an utterance holds.
Blank lines are skipped.

Fields keep their JSON types: an offset must be an integer (``21.5``, ``"3"`` and ``true`` are errors, E109),
a label, intent or language a string; a slot outside the text or reversed is E106.  Fields tvd does not know
are kept, not dropped: unknown top-level keys go to ``meta["jsonl_extra"]`` (a dict), unknown keys of a slot to
``meta["jsonl_slot_extra"]`` (a list of ``{"start", "end", <key>: <value>}``), and the writer puts both back
where they were, so ``read -> write`` gives the same lines.  A line that is not valid UTF-8, or a string
with a lone surrogate (``"\\ud800"``), is E112.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tvd.data.utterance import RecordError, SpanError, Utterance
from tvd.errors import E_BAD_RECORD, E_BAD_TEXT
from tvd.formats.base import (
    FormatSpec,
    Record,
    atomic_write_text,
    cannot_write,
    json_object_lines,
    record_error,
    require_encodable,
)

NAME = "jsonl"
FIELDS = frozenset({"text", "intent", "language", "slots", "tokens", "meta"})
"""The top-level keys :meth:`Utterance.to_dict` writes."""
SLOT_FIELDS = frozenset({"start", "end", "label", "value"})
"""The keys of a slot :meth:`Utterance.to_dict` writes."""
EXTRA = "jsonl_extra"
SLOT_EXTRA = "jsonl_slot_extra"


def _extras(record: dict[str, Any]) -> dict[str, Any]:
    """``meta`` additions for the unknown keys of ``record`` and of its slots; raises :class:`RecordError`."""
    meta = record.get("meta")
    extra = {key: value for key, value in record.items() if key not in FIELDS}
    slot_extra = []
    slots = record.get("slots")
    if isinstance(slots, list):
        for slot in slots:
            if isinstance(slot, dict) and set(slot) - SLOT_FIELDS:
                unknown = {key: value for key, value in slot.items() if key not in SLOT_FIELDS}
                slot_extra.append({"start": slot.get("start"), "end": slot.get("end"), **unknown})
    added: dict[str, Any] = {}
    for key, value in ((EXTRA, extra), (SLOT_EXTRA, slot_extra)):
        if value:
            if isinstance(meta, dict) and key in meta:
                raise RecordError(f"meta[{key!r}] is given and the record also has fields it would hold")
            added[key] = value
    if SLOT_EXTRA in added:
        added[SLOT_EXTRA].sort(key=lambda e: (repr(e["start"]), repr(e["end"])))
    return added


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """Records of a native JSONL file; ``language`` fills records whose ``language`` is missing, null or empty."""
    for item in json_object_lines(path, not_object="expected a JSON object, got {type}",
                                  fix="write one JSON object per line"):
        if isinstance(item, Record):
            yield item
            continue
        number, text, record = item
        if language and record.get("language") in (None, ""):
            record["language"] = language
        try:
            added = _extras(record)
            if added and isinstance(record.get("meta"), dict | None):
                record = {**record, "meta": {**(record.get("meta") or {}), **added}}
            utterance = Utterance.from_dict(record)
        except SpanError as exc:
            yield record_error(E_BAD_TEXT, str(exc), file=path, line=number, raw=text,
                               fix="make every slot lie inside 'text' (0 <= start < end <= its length) and match "
                               "its 'value'")
            continue
        except (TypeError, ValueError) as exc:
            yield record_error(E_BAD_RECORD, f"bad record: {exc}", file=path, line=number, raw=text,
                               fix="see Utterance.to_dict for the expected keys and types (offsets are integers, "
                               "labels and intents strings)")
            continue
        yield Record(str(path), number, text, utterance)


def to_record(utterance: Utterance) -> dict[str, Any]:
    """The JSON object for ``utterance``: :meth:`Utterance.to_dict` with kept unknown fields put back in place."""
    record = utterance.to_dict()
    meta = dict(record.get("meta") or {})
    extra = meta.get(EXTRA)
    if isinstance(extra, Mapping) and extra and all(isinstance(k, str) and k not in FIELDS for k in extra):
        del meta[EXTRA]
        record.update(extra)
    slot_extra = meta.get(SLOT_EXTRA)
    merged = _merge_slot_extras(record["slots"], slot_extra)
    if merged is not None:
        del meta[SLOT_EXTRA]
        record["slots"] = merged
    if meta:
        record["meta"] = meta
    else:
        record.pop("meta", None)
    return record


def _merge_slot_extras(slots: list[dict[str, Any]], extras: object) -> list[dict[str, Any]] | None:
    """``slots`` with each ``jsonl_slot_extra`` entry's keys added to its slot, or ``None`` when they do not fit
    (then they stay in ``meta``)."""
    if not isinstance(extras, list) or not extras:
        return None
    by_offsets = {(slot["start"], slot["end"]): dict(slot) for slot in slots}
    used = set()
    for entry in extras:
        if not isinstance(entry, Mapping):
            return None
        key = (entry.get("start"), entry.get("end"))
        unknown = {k: v for k, v in entry.items() if k not in ("start", "end")}
        if key not in by_offsets or key in used or not unknown:
            return None
        if not all(isinstance(k, str) and k not in SLOT_FIELDS for k in unknown):
            return None
        used.add(key)
        by_offsets[key].update(unknown)
    return [by_offsets[(slot["start"], slot["end"])] for slot in slots]


def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The JSONL text for ``utterances``; raises E110 if a ``meta`` value is not JSON-serialisable."""
    lines = []
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        if not utterance.language:
            raise cannot_write(NAME, index, utterance, "its language is empty (it would read back as the default)",
                               "give every utterance a language", path)
        try:
            lines.append(json.dumps(to_record(utterance), ensure_ascii=False, allow_nan=False) + "\n")
        except (TypeError, ValueError, RecursionError) as exc:
            raise cannot_write(NAME, index, utterance, f"meta is not JSON-serialisable ({exc})",
                               "keep only JSON values (str, finite number, bool, list, dict) in meta", path) from exc
    return "".join(lines)


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write ``utterances`` as native JSONL, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("jsonl", "native JSON Lines (Utterance.to_dict per line)", False, iter_records, write)
