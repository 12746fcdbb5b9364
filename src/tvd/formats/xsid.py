"""xSID CoNLL: blocks of comment lines and token lines, separated by blank lines.

A block::

    # id = 3
    # text-en = Add a reminder for today at 4pm
    # text = 今日 の 午後 4 時 に リマインダー を 追加 する
    # intent = reminder/set_reminder
    # slots: 0:7:datetime
    1	今	reminder/set_reminder	B-datetime
    2	日	reminder/set_reminder	I-datetime
    ...

Token lines are ``index<TAB>token<TAB>intent<TAB>BIO-tag`` (a three-column ``index<TAB>token<TAB>tag``
is accepted too).  The tag column is authoritative for slots: the ``# slots:`` comment sometimes disagrees
with it and xSID's own evaluation uses the tags, so the reader ignores ``# slots:`` and the writer
regenerates it from the spans.  Tokens are located in order in ``# text`` and the tokenisation is kept
where whitespace splitting would not reproduce it (Japanese ``表示`` tagged as ``表`` / ``示``); a block
whose tokens cannot be found in its text is malformed (no fallback: guessing would move slots).  Without a
``# text`` comment the text is the tokens joined by single spaces.  Other ``# key = value`` comments
(``id``, ``text-en``) go to ``meta`` and are written back before ``# text``.

Each line is decoded on its own: a block holding a line that is not valid UTF-8 is a malformed record
(E112) naming that line, and the blocks around it are read.

The language is not in the file: it is the ``language`` argument, else the file name's first part when
that is a language code (``ja.test.conll`` -> ``ja``), else ``en``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tvd.data.utterance import SpanError, Utterance
from tvd.errors import E_BAD_RECORD, E_BAD_TAGS, E_BAD_TEXT
from tvd.formats.base import (
    FormatSpec,
    Line,
    Record,
    atomic_write_text,
    cannot_write,
    read_lines,
    record_error,
    require_encodable,
    require_locatable_tokens,
)

NAME = "xsid"
_COMMENT = re.compile(r"^#\s*(?P<key>[\w.-]+)\s*(?P<sep>[=:])\s?(?P<value>.*)$")
_META_KEY = re.compile(r"^[\w.-]+$")
_RESERVED = {"text", "intent", "slots"}


def language_from_name(path: str | Path) -> str | None:
    """``ja`` for ``ja.test.conll``: the file name's first dot-separated part when it looks like a language code."""
    first = Path(path).name.split(".")[0]
    return first if re.fullmatch(r"[a-z]{2,3}", first) else None


def _blocks(lines: list[Line]) -> Iterator[list[Line]]:
    block: list[Line] = []
    for line in lines:
        if line.text.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _bad_tag(tag: str) -> bool:
    return not (tag == "O" or (len(tag) > 2 and tag[0] in "BI" and tag[1] == "-"))


def _parse_block(path: str | Path, lines: list[Line], language: str) -> Record:
    first = lines[0].number
    raw = "\n".join(line.text for line in lines)
    bad = next((line.error for line in lines if line.error is not None), None)
    if bad is not None:
        return Record(str(path), bad.line or first, raw, error=bad)
    block = [(line.number, line.text) for line in lines]
    text: str | None = None
    text_line = first
    intent: str | None = None
    meta: dict[str, Any] = {}
    tokens: list[str] = []
    tags: list[str] = []
    column_intents: list[tuple[int, str]] = []
    for number, line in block:
        if line.startswith("#"):
            match = _COMMENT.match(line)
            if match is None:
                continue  # free comment
            key, value = match["key"], match["value"]
            if key == "text":
                text, text_line = value, number
            elif key == "intent":
                intent = value.strip() or None
            elif key != "slots":
                meta[key] = value
            continue
        columns = [column.strip() for column in line.split("\t")]
        if len(columns) < 3:
            return record_error(E_BAD_RECORD, f"token line has {len(columns)} tab-separated columns, expected 4",
                                file=path, line=number, raw=raw, fix="write index<TAB>token<TAB>intent<TAB>tag")
        if len(columns) == 3:
            index, token, column_intent, tag = columns[0], columns[1], "", columns[2]
        else:
            index, token, column_intent, tag = columns[:4]
        if index != str(len(tokens) + 1):
            return record_error(E_BAD_RECORD, f"token index {index!r}, expected {len(tokens) + 1}", file=path,
                                line=number, raw=raw, fix="number the tokens of each block 1, 2, 3, ...")
        if not token:
            return record_error(E_BAD_RECORD, "empty token", file=path,
                                line=number, raw=raw, fix="fix the token column")
        if _bad_tag(tag):
            return record_error(E_BAD_TAGS, f"tag {tag!r} is not O, B-<label> or I-<label>", file=path, line=number,
                                raw=raw, fix="fix the tag column")
        if column_intent:
            column_intents.append((number, column_intent))
        tokens.append(token)
        tags.append(tag)
    if not tokens:
        return record_error(E_BAD_RECORD, "block has no token lines", file=path, line=first, raw=raw,
                            fix="give each block its token lines, or remove it")
    for number, column_intent in column_intents:
        if intent is None:
            intent = column_intent
        elif column_intent != intent:
            return record_error(E_BAD_RECORD, f"intent column {column_intent!r} differs from the block's intent "
                                f"{intent!r}", file=path, line=number, raw=raw,
                                fix="make '# intent' and the intent column agree")
    try:
        utterance = Utterance.from_bio(tokens, tags, intent=intent, language=language, text=text, meta=meta)
    except SpanError as exc:
        return record_error(E_BAD_TEXT, str(exc), file=path, line=text_line, raw=raw,
                            fix="make '# text' hold the tokens in order (only whitespace between them)")
    return Record(str(path), first, raw, utterance)


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """One record per block of an xSID CoNLL file."""
    lang = language or language_from_name(path) or "en"
    for block in _blocks(read_lines(path)):
        yield _parse_block(path, block, lang)



def _one_line(value: str) -> bool:
    return "\n" not in value and "\r" not in value


def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The xSID CoNLL text for ``utterances``; raises E110 for an utterance the format cannot express."""
    blocks = []
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        require_locatable_tokens(NAME, index, utterance, path)
        intent = utterance.intent
        if not intent or intent != intent.strip() or "\t" in intent or not _one_line(intent):
            raise cannot_write(NAME, index, utterance, f"xSID needs a one-line intent without tabs, got {intent!r}",
                               "give every utterance an intent", path)
        if not utterance.text.strip() or not _one_line(utterance.text):
            raise cannot_write(NAME, index, utterance, "the text is empty or spans several lines",
                               "drop empty utterances; replace line breaks in the text by spaces", path)
        try:
            tokens, tags = utterance.to_bio()
        except SpanError as exc:
            raise cannot_write(NAME, index, utterance, str(exc), "write jsonl instead", path) from exc
        bad_label = next((s.label for s in utterance.spans if s.label != s.label.strip() or "\t" in s.label), None)
        if bad_label is not None:
            raise cannot_write(NAME, index, utterance, f"slot label {bad_label!r} holds a tab or surrounding "
                               "whitespace, which the tag column loses", "rename the slot label", path)
        lines = []
        for key, value in utterance.meta.items():
            if key not in _RESERVED and _META_KEY.match(key) and isinstance(value, str | int | float):
                value = str(value)
                if _one_line(value):
                    lines.append(f"# {key} = {value}")
        lines.append(f"# text = {utterance.text}")
        lines.append(f"# intent = {intent}")
        if utterance.spans:
            if any(ch in span.label for span in utterance.spans for ch in ",\n\t"):
                raise cannot_write(NAME, index, utterance, "a slot label holds a comma, tab or line break",
                                   "rename the slot label", path)
            lines.append("# slots: " + ",".join(f"{s.start}:{s.end}:{s.label}" for s in utterance.spans))
        for number, (token, tag) in enumerate(zip(tokens, tags, strict=True), start=1):
            if any(ch.isspace() for ch in token):
                raise cannot_write(NAME, index, utterance, f"token {token!r} holds whitespace",
                                   "write jsonl instead", path)
            lines.append(f"{number}\t{token}\t{intent}\t{tag}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write an xSID CoNLL file, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("xsid", "xSID CoNLL (.conll)", False, iter_records, write)
