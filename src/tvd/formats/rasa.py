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
``role``, ``group`` and a synonym ``value`` are kept in ``meta["rasa_entities"]`` (a list of
``{"start", "end", ...}``) and written back in the JSON form.  Anything else is written as
``[value](label)``.  Items other than ``intent`` (``synonym``, ``regex``, ``lookup``) and keys other than
``nlu`` are ignored.  Rasa files do not state a language: utterances get the ``language`` argument
(default ``en``), and the writer drops the language and any source tokenisation.
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
from tvd.formats.base import FormatSpec, Record, atomic_write_text, cannot_write, read_lines, record_error

NAME = "rasa"
VERSION = "3.1"
ENTITY_EXTRAS = "rasa_entities"
_ENTITY = re.compile(r"\[(?P<value>[^\[\]]+)\](?:\((?P<paren>[^()]*)\)|(?P<brace>\{[^{}]*\}))")
_EXTRA_KEYS = ("role", "group", "value")
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
                entity = json.loads(match["brace"])
            except json.JSONDecodeError as exc:
                raise MarkupError(f"entity {match['brace']} is not valid JSON: {exc.msg}") from exc
            if not isinstance(entity, dict) or not isinstance(entity.get("entity"), str) or not entity["entity"]:
                raise MarkupError(f"entity {match['brace']} needs a string \"entity\" key")
            label = entity["entity"]
            extra = {key: entity[key] for key in _EXTRA_KEYS if key in entity}
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
    kept = {(e.get("start"), e.get("end")): e for e in utterance.meta.get(ENTITY_EXTRAS) or [] if isinstance(e, dict)}
    pieces, cursor = [], 0
    for span in utterance.spans:
        pieces.append(utterance.text[cursor : span.start])
        extra = {k: v for k, v in kept.get((span.start, span.end), {}).items() if k in _EXTRA_KEYS}
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
    source = "\n".join(read_lines(path))
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TvdError(E_UNREADABLE, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=path,
                       line=mark.line + 1 if mark is not None else None, fix="fix the YAML syntax") from exc
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


def dumps(utterances: Iterable[Utterance], path: str | Path = "<memory>") -> str:
    """The Rasa NLU YAML text, examples grouped by intent in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for index, utterance in enumerate(utterances):
        if not utterance.intent:
            raise cannot_write(NAME, index, utterance, "it has no intent", "give every utterance an intent", path)
        text = utterance.text
        if not text or text != text.strip() or "\n" in text or "\r" in text or _NOT_YAML_PRINTABLE.search(text):
            raise cannot_write(NAME, index, utterance, "the text is empty, has surrounding whitespace, line breaks "
                               "or characters YAML cannot hold", "write jsonl instead", path)
        example = render_example(utterance)
        try:
            parsed = parse_example(example)[:2]
        except MarkupError:
            parsed = None
        if parsed != (text, list(utterance.spans)):
            raise cannot_write(NAME, index, utterance, "its text or a slot value holds '[' or ']', or a label holds "
                               "'{' or '}'", "write jsonl instead, or remove the brackets", path)
        groups.setdefault(utterance.intent, []).append(example)
    lines = [f'version: "{VERSION}"', "", "nlu:"]
    for intent, examples in groups.items():
        lines.append(f"- intent: {_yaml_scalar(intent)}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in examples)
    return "\n".join(lines) + "\n"


def write(utterances: Iterable[Utterance], path: str | Path) -> None:
    """Write a Rasa NLU YAML file, atomically."""
    atomic_write_text(path, dumps(utterances, path))


FORMAT = FormatSpec("rasa", "Rasa 3 YAML NLU", False, iter_records, write)
