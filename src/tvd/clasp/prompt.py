"""CLASP prompts, in the in-context style of LINGUIST (XML-like blocks, one shot a line).

The prompt ends where the answer starts, so a base model's most likely continuation is the answer:

* RS / TS (write an utterance for a parse)::

      <language> English </language>
      <parse> (ORDER (PIZZAORDER (NUMBER two ) (TOPPING ham ) ) ) </parse> <utterance> (ORDER i want ... ) </utterance>
      ...
      <parse> NEW PARSE </parse> <utterance>

  The utterance is written as its TOP tree (the words with the parse around them), which is what lets the
  grammar pin the values and lets the parser read the pair back without alignment.
* GB (write both): ``<examples>`` then one TOP tree a line; the answer is one more line.
* TB (translate both): ``<english> TOP </english> <german> TOP </german>`` shots, ending in an open
  ``<german>`` block after the new English tree.
* Value translation (TS, first step): ``<english> ham </english> <german> Schinken </german>`` shots.

Newlines separate shots; the SageMaker backend rewrites them to ``<br>`` and adds ``[CLM]`` for AlexaTM 20B.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvd.data.parse_tree import Tree

LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "ja": "Japanese"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def utterance_prompt(shots: Sequence[Tree], target: Tree, language: str = "en") -> str:
    """RS / TS: shots are TOP trees (their semantics-only trees are shown as the parse)."""
    lines = [f"<language> {language_name(language)} </language>"]
    for shot in shots:
        lines.append(f"<parse> {shot.semantics_only()} </parse> <utterance> {shot} </utterance>")
    lines.append(f"<parse> {target} </parse> <utterance> ")
    return "\n".join(lines)


def both_prompt(shots: Sequence[Tree], language: str = "en") -> str:
    """GB: a block of TOP trees; the answer is the next line."""
    lines = [f"<language> {language_name(language)} </language>", "<examples>"]
    lines += [str(shot) for shot in shots]
    return "\n".join(lines) + "\n"


def translate_both_prompt(shots: Sequence[tuple[Tree, Tree]], source: Tree, language: str) -> str:
    """TB: (English TOP, target TOP) shots, then the English tree to translate."""
    name = language_name(language).lower()
    lines = [f"<english> {en} </english> <{name}> {tgt} </{name}>" for en, tgt in shots]
    lines.append(f"<english> {source} </english> <{name}> ")
    return "\n".join(lines)


def translate_value_prompt(glossary: Sequence[tuple[str, str]], value: str, language: str) -> str:
    """TS, first step: translate one slot value."""
    name = language_name(language).lower()
    lines = [f"<english> {en} </english> <{name}> {tgt} </{name}>" for en, tgt in glossary]
    lines.append(f"<english> {value} </english> <{name}> ")
    return "\n".join(lines)
