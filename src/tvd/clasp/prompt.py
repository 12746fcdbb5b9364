"""CLASP prompts, in the in-context style of LINGUIST (XML-like blocks, one shot a line) for RS and GB.

The prompt ends where the answer starts, so a base model's most likely continuation is the answer:

* RS (write an utterance for a parse)::

      <language> English </language>
      <parse> (ORDER (PIZZAORDER (NUMBER two ) (TOPPING ham ) ) ) </parse> <utterance> (ORDER i want ... ) </utterance>
      ...
      <parse> NEW PARSE </parse> <utterance>

  The utterance is written as its TOP tree (the words with the parse around them), which is what lets the
  grammar pin the values and lets the parser read the pair back without alignment.
* GB (write both): ``<examples>`` then one TOP tree a line; the answer is one more line.

Newlines separate shots; the SageMaker backend rewrites them to ``<br>`` and adds ``[CLM]`` for AlexaTM 20B.

The cross-lingual strategies use parallel-text prompts instead (the shape that made the embedded Gemma 3 270M
translate in :mod:`tvd.linguist.translate`; its XML-like ``<english> ... </english> <german>`` shots, used
here before, got ``4-4`` for ``ham``): demonstration pairs, a blank line between them, ending in the target
language's name and a colon, where the answer starts (its grammar lets it start with a space)::

    English: (ORDER i want (PIZZAORDER (NUMBER two ) ... ) )
    German: (ORDER ich möchte (PIZZAORDER (NUMBER zwei ) ... ) )

    English: (ORDER NEW ENGLISH TREE )
    German:

* TB: :func:`parallel_tree_prompt`, the config's (English, target) pairs as demonstrations;
* TS, second step: the same prompt, with the grammar pinning the parse with translated values (the
  English tree shows what to say, the grammar which values to say it with);
* TS, first step: :func:`parallel_value_prompt`, the glossary's pairs as demonstrations (``English: large`` /
  ``German: groß``).
"""

from __future__ import annotations

from collections.abc import Sequence

from tvd.data.parse_tree import Tree

LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "ja": "Japanese"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def utterance_prompt(shots: Sequence[Tree], target: Tree, language: str = "en") -> str:
    """RS: shots are TOP trees (their semantics-only trees are shown as the parse)."""
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


def _parallel(demonstrations: Sequence[tuple[object, object]], source: object, language: str) -> str:
    name = language_name(language)
    lines: list[str] = []
    for en, tgt in demonstrations:
        lines += [f"English: {en}", f"{name}: {tgt}", ""]
    lines.append(f"English: {source}")
    return "\n".join(lines) + f"\n{name}:"


def parallel_tree_prompt(pairs: Sequence[tuple[Tree, Tree]], source: Tree, language: str) -> str:
    """TB and TS's second step: (English TOP, target TOP) demonstrations, then the English tree; the answer is
    the target tree."""
    return _parallel(pairs, source, language)


def parallel_value_prompt(glossary: Sequence[tuple[str, str]], value: str, language: str) -> str:
    """TS, first step: the glossary's (English, target) value pairs as demonstrations, then the value."""
    return _parallel(glossary, value, language)
