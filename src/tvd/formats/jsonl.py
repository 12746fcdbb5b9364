"""Native JSON Lines: one :meth:`Utterance.to_dict` object per line.

Each line holds ``text``, ``intent``, ``language``, ``slots`` (``start``, ``end``, ``label``, ``value``),
and, when set, ``tokens`` and ``meta``.  It is the one format that keeps everything an utterance holds.
Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from tvd.data.utterance import SpanError, Utterance
from tvd.errors import E_BAD_RECORD, E_BAD_TEXT
from tvd.formats.base import FormatSpec, Record, atomic_write_text, cannot_write, read_lines, record_error

NAME = "jsonl"


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """Records of a native JSONL file; ``language`` fills records that have no ``language`` key."""
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield record_error(E_BAD_RECORD, f"not valid JSON: {exc.msg} at column {exc.colno}",
                               file=path, line=number, raw=line, fix="write one JSON object per line")
            continue
        if not isinstance(record, dict):
            yield record_error(E_BAD_RECORD, f"expected a JSON object, got {type(record).__name__}",
                               file=path, line=number, raw=line, fix="write one JSON object per line")
            continue
        if language and not record.get("language"):
            record["language"] = language
        try:
            utterance = Utterance.from_dict(record)
        except SpanError as exc:
            yield record_error(E_BAD_TEXT, str(exc), file=path, line=number, raw=line,
                               fix="make every slot lie inside 'text' and match its 'value'")
            continue
        except (TypeError, ValueError) as exc:
            yield record_error(E_BAD_RECORD, f"bad record: {exc}", file=path, line=number, raw=line,
                               fix="see Utterance.to_dict for the expected keys")
            continue
        yield Record(str(path), number, line, utterance)



def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The JSONL text for ``utterances``; raises E110 if a ``meta`` value is not JSON-serialisable."""
    lines = []
    for index, utterance in enumerate(utterances):
        try:
            lines.append(json.dumps(utterance.to_dict(), ensure_ascii=False) + "\n")
        except (TypeError, ValueError) as exc:
            raise cannot_write(NAME, index, utterance, f"meta is not JSON-serialisable ({exc})",
                               "keep only JSON values (str, number, bool, list, dict) in meta", path) from exc
    return "".join(lines)


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write ``utterances`` as native JSONL, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("jsonl", "native JSON Lines (Utterance.to_dict per line)", False, iter_records, write)
