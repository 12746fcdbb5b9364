"""Rasa 3 YAML NLU training data.

::

    version: "3.1"
    nlu:
    - intent: book_flight
      examples: |
        - fly to [dallas](city) on [friday]{"entity": "date", "role": "departure"}

The outer structure is read with PyYAML (its node tree, so each example keeps its line in the file);
``examples`` may be a block string of ``- `` lines or a list of ``{text: ...}`` mappings.  Entities are
read in the forms ``[value](label)``, ``[value](label:synonym)`` and ``[value]{"entity": "label", ...}``;
``role``, ``group``, a synonym ``value`` and any other key of the JSON form are kept in
``meta["rasa_entities"]`` (a list of ``{"start", "end", ...}``) and written back in the JSON form.  Anything
else is written as ``[value](label)``.  Items other than ``intent`` (``synonym``, ``regex``, ``lookup``) and
keys other than ``nlu`` are ignored.  Rasa files do not state a language: utterances get the ``language``
argument (default ``en``), and the writer drops the language and any source tokenisation.  The file is YAML,
read as a whole: a byte that is not valid UTF-8 anywhere makes it unreadable (E103, naming the line); a
``"\\ud800"`` escape in a quoted scalar or entity JSON is E112 for its example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tvd.data.utterance import Span, SpanError, Utterance
from tvd.errors import E_BAD_MARKUP, E_BAD_RECORD, E_BAD_TEXT, E_UNREADABLE, TvdError
from tvd.formats.base import (
    FormatSpec,
    JsonLineError,
    Record,
    atomic_write_text,
    cannot_write,
    load_json,
    read_text,
    record_error,
    require_encodable,
)

NAME = "rasa"
VERSION = "3.1"
ENTITY_EXTRAS = "rasa_entities"
_ENTITY = re.compile(r"\[(?P<value>[^\[\]]+)\](?:\((?P<paren>[^()]*)\)|(?P<brace>\{[^{}]*\}))")
_OFFSET_KEYS = ("start", "end")
_YAML_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
_NOT_YAML_PRINTABLE = re.compile("[^\x09\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MarkupError(ValueError):
    """A malformed Rasa example line."""


def parse_example(source: str) -> tuple[str, list[Span], list[dict[str, Any]]]:
    """Text, spans and per-span extras (role, group, synonym value) of one annotated example."""
    out: list[str] = []
    spans: list[Span] = []
    extras: list[dict[str, Any]] = []
    length = cursor = 0

    def plain(piece: str) -> None:
        nonlocal length
        if "[" in piece or "]" in piece:
            raise MarkupError("unbalanced bracket, or a [value] without (label) or {\"entity\": ...}")
        out.append(piece)
        length += len(piece)

    for match in _ENTITY.finditer(source):
        plain(source[cursor : match.start()])
        raw_value = match["value"]
        if match["brace"] is not None:
            try:
                entity = load_json(match["brace"])
            except JsonLineError as exc:
                raise MarkupError(f"entity {match['brace']}: {exc}") from exc
            if not isinstance(entity, dict) or not isinstance(entity.get("entity"), str) or not entity["entity"]:
                raise MarkupError(f"entity {match['brace']} needs a string \"entity\" key")
            label = entity["entity"]
            extra = {key: value for key, value in entity.items() if key not in ("entity", *_OFFSET_KEYS)}
        else:
            label, _, synonym = match["paren"].partition(":")
            if not label.strip():
                raise MarkupError(f"entity [{raw_value}]({match['paren']}) has no label")
            label = label.strip()
            extra = {"value": synonym} if synonym else {}
        stripped = raw_value.strip()
        if not stripped:
            raise MarkupError("entity with an empty value")
        start = length + (len(raw_value) - len(raw_value.lstrip()))
        spans.append(Span(start, start + len(stripped), label))
        if extra:
            extras.append({"start": start, "end": start + len(stripped), **extra})
        out.append(raw_value)
        length += len(raw_value)
        cursor = match.end()
    plain(source[cursor:])
    return "".join(out), spans, extras


def render_example(utterance: Utterance) -> str:
    """The annotated example for ``utterance``: ``[value](label)``, or the JSON form where extras are kept."""
    entries = utterance.meta.get(ENTITY_EXTRAS)
    kept = {
        (e["start"], e["end"]): e
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and all(isinstance(e.get(key), int) for key in _OFFSET_KEYS)
    }
    pieces, cursor = [], 0
    for span in utterance.spans:
        pieces.append(utterance.text[cursor : span.start])
        extra = {k: v for k, v in kept.get((span.start, span.end), {}).items() if k not in ("entity", *_OFFSET_KEYS)}
        if extra or not re.fullmatch(r"[^\s():\[\]{}][^():\[\]{}]*", span.label) or span.label != span.label.strip():
            pieces.append(f"[{utterance.value(span)}]{json.dumps({'entity': span.label, **extra}, ensure_ascii=False)}")
        else:
            pieces.append(f"[{utterance.value(span)}]({span.label})")
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return "".join(pieces)


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def _duplicate_key(root: yaml.Node) -> tuple[str, int] | None:
    """The first key (and its 1-based line) that a mapping of the tree holds twice, else ``None``.

    YAML forbids duplicate keys (Rasa's own loader refuses them); reading one of two ``nlu:`` lists would
    silently drop the other.  Walks the node graph once, aliases included.
    """
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in keys:
                        return key_node.value, key_node.start_mark.line + 1
                    keys.add(key_node.value)
                stack.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _example_lines(examples: yaml.Node) -> Iterator[tuple[int, str, bool]]:
    """``(line, text, has_dash)`` for each example of an ``examples`` node (1-based YAML line numbers)."""
    if isinstance(examples, yaml.ScalarNode):
        block = examples.style in ("|", ">")
        base = examples.start_mark.line + (2 if block else 1)
        for offset, line in enumerate(examples.value.split("\n")):
            if line.strip():
                yield (base + offset if examples.style == "|" else base), line, True
    elif isinstance(examples, yaml.SequenceNode):
        for item in examples.value:
            text_node = _get(item, "text") if isinstance(item, yaml.MappingNode) else item
            if isinstance(text_node, yaml.ScalarNode):
                line = text_node.start_mark.line + (2 if text_node.style in ("|", ">") else 1)
                yield line, text_node.value.strip(), False
            else:
                yield item.start_mark.line + 1, "", False


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """One record per example of a Rasa NLU YAML file."""
    source = read_text(path, "a Rasa YAML file")
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TvdError(E_UNREADABLE, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=path,
                       line=mark.line + 1 if mark is not None else None, fix="fix the YAML syntax") from exc
    except RecursionError as exc:
        raise TvdError(E_UNREADABLE, "YAML nested too deeply to read", file=path,
                       fix="a Rasa NLU file needs a few levels of nesting; flatten it") from exc
    duplicate = _duplicate_key(root) if root is not None else None
    if duplicate is not None:
        raise TvdError(E_UNREADABLE, f"key {duplicate[0]!r} appears twice in one mapping", file=path,
                       line=duplicate[1], fix="YAML mappings hold each key once; merge or remove the repeated one")
    nlu = _get(root, "nlu") if root is not None else None
    if not isinstance(nlu, yaml.SequenceNode):
        raise TvdError(E_UNREADABLE, "no 'nlu:' list: not a Rasa NLU training file", file=path,
                       fix='start the file with version: "3.1" and nlu: followed by - intent: items')
    lang = language or "en"
    for item in nlu.value:
        intent_node = _get(item, "intent")
        if intent_node is None:
            continue
        item_line = item.start_mark.line + 1
        if not isinstance(intent_node, yaml.ScalarNode) or not intent_node.value.strip():
            yield record_error(E_BAD_RECORD, "intent name is empty or not a string", file=path, line=item_line,
                               raw="", fix="write - intent: <name>")
            continue
        intent = intent_node.value.strip()
        examples = _get(item, "examples")
        if examples is None:
            yield record_error(E_BAD_RECORD, f"intent {intent!r} has no examples", file=path, line=item_line,
                               raw="", fix="add examples: | followed by - example lines")
            continue
        for line, raw, has_dash in _example_lines(examples):
            text = raw.strip()
            if has_dash:
                if not (text.startswith("- ") or text == "-"):
                    yield record_error(E_BAD_MARKUP, "example line does not start with '- '", file=path, line=line,
                                       raw=raw, fix="write each example as '- text'")
                    continue
                text = text[1:].strip()
            if not text:
                yield record_error(E_BAD_RECORD, "empty example", file=path, line=line, raw=raw,
                                   fix="remove the empty example")
                continue
            try:
                plain, spans, extras = parse_example(text)
            except MarkupError as exc:
                yield record_error(E_BAD_MARKUP, str(exc), file=path, line=line, raw=raw,
                                   fix="annotate entities as [value](label)")
                continue
            meta: dict[str, Any] = {ENTITY_EXTRAS: extras} if extras else {}
            try:
                utterance = Utterance(plain, intent, tuple(spans), lang, None, meta)
            except SpanError as exc:
                yield record_error(E_BAD_TEXT, str(exc), file=path, line=line, raw=raw, fix="fix the annotation")
                continue
            yield Record(str(path), line, raw, utterance)



def _yaml_scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back unchanged, else double-quoted."""
    try:
        plain = yaml.safe_load(value) == value and "\n" not in value and "#" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value, ensure_ascii=False)


def _yaml_line_ok(value: str) -> bool:
    """Whether ``value`` can be one line of a YAML file: no line break (YAML counts NEL, U+2028 and U+2029)
    and only characters YAML may hold."""
    return not _YAML_BREAKS.search(value) and not _NOT_YAML_PRINTABLE.search(value)


def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The Rasa NLU YAML text, examples grouped by intent in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        intent = utterance.intent
        if not intent:
            raise cannot_write(NAME, index, utterance, "it has no intent", "give every utterance an intent", path)
        if intent != intent.strip() or not _yaml_line_ok(_yaml_scalar(intent)):
            raise cannot_write(NAME, index, utterance, f"needs a one-line intent without surrounding whitespace, got "
                               f"{intent!r}", "give every utterance an intent", path)
        text = utterance.text
        if not text or text != text.strip() or not _yaml_line_ok(text):
            raise cannot_write(NAME, index, utterance, "the text is empty, has surrounding whitespace, line breaks "
                               "or characters YAML cannot hold", "write jsonl instead", path)
        try:
            example = render_example(utterance)
        except (TypeError, ValueError, RecursionError) as exc:
            raise cannot_write(NAME, index, utterance, f"meta {ENTITY_EXTRAS!r} is not JSON-serialisable ({exc})",
                               "keep only JSON values in the entity extras", path) from exc
        if not _yaml_line_ok(example):
            raise cannot_write(NAME, index, utterance, "a slot label or entity extra holds a line break or a "
                               "character YAML cannot hold", "rename the slot label", path)
        try:
            parsed = parse_example(example)[:2]
        except MarkupError:
            parsed = None
        if parsed != (text, list(utterance.spans)):
            raise cannot_write(NAME, index, utterance, "its text or a slot value holds '[' or ']', or a label holds "
                               "'{' or '}'", "write jsonl instead, or remove the brackets", path)
        groups.setdefault(intent, []).append(example)
    lines = [f'version: "{VERSION}"', "", "nlu:" if groups else "nlu: []"]
    for intent, examples in groups.items():
        lines.append(f"- intent: {_yaml_scalar(intent)}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in examples)
    return "\n".join(lines) + "\n"


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write a Rasa NLU YAML file, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("rasa", "Rasa 3 YAML NLU", False, iter_records, write)
