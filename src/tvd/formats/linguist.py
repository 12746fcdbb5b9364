"""LINGUIST numbered-bracket files: a label map header, then one bracketed utterance a line.

::

    # labels: [1=city], [2=day_of_week]
    # language: en
    GetWeather	what is the weather in [1 dallas ] on [2 saturday ]
    # intent: BookRestaurant
    book a table in [1 paris ]

Header lines (``#``) set state for the lines below them and may be repeated to change it:
``# labels:`` the ``number=label`` map (required before the first utterance), ``# language:`` (default:
the ``language`` argument, else ``en``), ``# intent:`` the intent of lines without one (empty clears it).
Other ``#`` lines are comments.  An utterance line is ``<intent><TAB><bracketed text>``, or just
``<bracketed text>`` while an ``# intent:`` is set.  Slots use :mod:`tvd.formats.brackets`; a slot number
missing from the map is an error naming file and line.

The writer numbers the labels of all utterances in sorted order, writes one ``# labels:`` line, a
``# language:`` line wherever the language changes, and ``<intent><TAB><bracketed text>`` lines; source
tokenisations are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tvd.data.utterance import SpanError, Utterance, slot_labels
from tvd.errors import E_BAD_ENCODING, E_BAD_MARKUP, E_BAD_RECORD, E_BAD_TEXT, E_UNKNOWN_LABEL
from tvd.formats.base import (
    FormatSpec,
    Record,
    atomic_write_text,
    cannot_write,
    line_record,
    read_lines,
    record_error,
    require_encodable,
)
from tvd.formats.brackets import BracketError, render_brackets, utterance_from_brackets

NAME = "linguist"
_HEADER = re.compile(r"^#\s*(?P<key>labels|language|intent)\s*:\s*(?P<value>.*?)\s*$")
_LABEL_ITEM = re.compile(r"\[\s*(\d+)\s*=\s*([^\[\]=,]*?)\s*\]")
_LINE_BREAK = re.compile("[\r\n]")
_LABEL_OK = re.compile(r"[^\[\]=,\s](?:[^\[\]=,]*[^\[\]=,\s])?")


class LabelMapError(ValueError):
    """A malformed ``# labels:`` header."""


def parse_label_map(value: str) -> dict[int, str]:
    """``{1: "city", 2: "day_of_week"}`` from ``[1=city], [2=day_of_week]``."""
    labels: dict[int, str] = {}
    cursor = 0
    for match in _LABEL_ITEM.finditer(value):
        if value[cursor : match.start()].strip(" ,"):
            break
        number, label = int(match[1]), match[2]
        if not label:
            raise LabelMapError(f"slot number {number} has an empty label")
        if number in labels:
            raise LabelMapError(f"slot number {number} appears twice")
        labels[number] = label
        cursor = match.end()
    if value[cursor:].strip(" ,"):
        raise LabelMapError(f"cannot read {value[cursor:].strip()!r}; write [1=label], [2=label], ...")
    if len(set(labels.values())) != len(labels):
        raise LabelMapError("a label has two numbers")
    return labels


def render_label_map(numbers: dict[str, int]) -> str:
    """``[1=city], [2=day_of_week]`` for ``{"city": 1, "day_of_week": 2}``."""
    return ", ".join(f"[{n}={label}]" for label, n in sorted(numbers.items(), key=lambda item: item[1]))


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """One record per utterance line of a LINGUIST file (header errors are records too).

    A line that is not valid UTF-8 is a malformed record (E112).  When it is a header, the state it would set
    is unknown: the lines that depend on it (every utterance for ``# labels:`` and ``# language:``, those
    without a tab for ``# intent:``) are malformed too (E112, naming the header's line), until a readable
    header of the same key.
    """
    labels: dict[int, str] | None = None
    lang = language or "en"
    default_intent: str | None = None
    unreadable: dict[str, int] = {}  # header key -> the line of the header that was not valid UTF-8
    for entry in read_lines(path):
        number, line = entry.number, entry.text
        if not line.strip():
            continue
        bad = line_record(entry, path)
        if bad is not None:
            header = _HEADER.match(line)
            if header is not None:
                unreadable[header["key"]] = number
            yield bad
            continue
        if line.startswith("#"):
            header = _HEADER.match(line)
            if header is None:
                continue
            key, value = header["key"], header["value"]
            unreadable.pop(key, None)
            if key == "labels":
                try:
                    labels = parse_label_map(value)
                except LabelMapError as exc:
                    labels = None
                    yield record_error(E_BAD_MARKUP, f"bad label map: {exc}", file=path, line=number, raw=line,
                                       fix="write # labels: [1=label], [2=label], ...")
            elif key == "language":
                lang = value or language or "en"
            else:
                default_intent = value or None
            continue
        needed = [key for key in ("labels", "language") if key in unreadable]
        if "\t" not in line and "intent" in unreadable:
            needed.append("intent")
        if needed:
            headers = ", ".join(f"'# {key}:' on line {unreadable[key]}" for key in needed)
            yield record_error(E_BAD_ENCODING, f"depends on the header {headers}, which is not valid UTF-8",
                               file=path, line=number, raw=line, fix="re-encode the header line as UTF-8")
            continue
        if "\t" in line:
            intent, source = line.split("\t", 1)
            intent = intent.strip()
            if not intent:
                yield record_error(E_BAD_RECORD, "empty intent before the tab", file=path, line=number, raw=line,
                                   fix="write <intent><TAB><bracketed text>")
                continue
        elif default_intent is not None:
            intent, source = default_intent, line
        else:
            yield record_error(E_BAD_RECORD, "no intent: the line has no tab and no '# intent:' header is set",
                               file=path, line=number, raw=line,
                               fix="write <intent><TAB><bracketed text>, or set '# intent: <name>' above")
            continue
        if labels is None:
            yield record_error(E_BAD_RECORD, "no valid '# labels:' header above this utterance", file=path, line=number,
                               raw=line, fix="put '# labels: [1=label], ...' before the first utterance")
            continue
        try:
            utterance = utterance_from_brackets(source, labels, intent=intent, language=lang)
        except BracketError as exc:
            code = E_UNKNOWN_LABEL if exc.reason == "unknown_label" else E_BAD_MARKUP
            yield record_error(code, f"{exc.reason}: {exc}", file=path, line=number, raw=line,
                               fix="add the number to '# labels:'" if code == E_UNKNOWN_LABEL
                               else "write slots as [<number> <value> ]")
            continue
        except SpanError as exc:
            yield record_error(E_BAD_TEXT, str(exc), file=path, line=number, raw=line, fix="fix the slot")
            continue
        if not utterance.text:
            yield record_error(E_BAD_RECORD, "empty utterance", file=path, line=number, raw=line,
                               fix="remove the line")
            continue
        yield Record(str(path), number, line, utterance)



def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The LINGUIST text; raises E110 for an utterance the notation cannot express."""
    utterances = list(utterances)
    all_labels = slot_labels(utterances)
    for label in all_labels:
        if not _LABEL_OK.fullmatch(label) or _LINE_BREAK.search(label):
            index, utterance = next((i, u) for i, u in enumerate(utterances) if label in {s.label for s in u.spans})
            raise cannot_write(NAME, index, utterance, f"slot label {label!r} holds '[', ']', '=', ',' or "
                               "surrounding whitespace or a line break", "rename the slot label", path)
    numbers = {label: n for n, label in enumerate(all_labels, start=1)}
    by_number = {n: label for label, n in numbers.items()}
    lines = [f"# labels: {render_label_map(numbers)}"]
    current_language: str | None = None
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        language = utterance.language
        if not language or language != language.strip() or _LINE_BREAK.search(language):
            raise cannot_write(NAME, index, utterance, f"needs a one-line language without surrounding whitespace for "
                               f"its '# language:' header, got {language!r}", "give the utterance a language", path)
        intent = utterance.intent
        if not intent or intent != intent.strip() or intent.startswith("#") or any(c in intent for c in "\t\n\r"):
            raise cannot_write(NAME, index, utterance, f"needs a one-line intent not starting with '#', got {intent!r}",
                               "give every utterance an intent", path)
        source = render_brackets(utterance, numbers)
        try:
            back = utterance_from_brackets(source, by_number, intent=intent, language=utterance.language)
            expressible = (back.text, back.spans) == (utterance.text, utterance.spans) and "\n" not in source
        except (BracketError, SpanError):
            expressible = False
        if not expressible or not utterance.text:
            raise cannot_write(NAME, index, utterance, "the text is empty, holds '[' / ']', line breaks, tabs, "
                               "repeated or surrounding whitespace, or a slot value the brackets would change",
                               "write jsonl instead", path)
        if utterance.language != current_language:
            lines.append(f"# language: {utterance.language}")
            current_language = utterance.language
        lines.append(f"{intent}\t{source}")
    return "\n".join(lines) + "\n"


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write a LINGUIST file, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("linguist", "LINGUIST numbered brackets (.txt)", False, iter_records, write)
