"""Script-aware tokenisation: cut text where the writing system changes (for languages written without spaces).

:func:`script_of` names a character's script class; :func:`script_tokens` re-tokenises a Japanese utterance at
script changes (kanji / hiragana / katakana / latin and digits / each punctuation mark, so a run of one mark
stays one token), closer to xSID's Japanese segmentation than whole whitespace-free runs.  Slot boundaries
always stay token boundaries.
"""

from __future__ import annotations

import unicodedata

from tvd.data.utterance import Utterance

SCRIPT_TOKENISED = frozenset({"ja"})
"""The languages :func:`script_tokens` re-tokenises; utterances of other languages are returned unchanged."""

_NAME_PREFIXES = (("CJK", "han"), ("HIRAGANA", "hira"), ("KATAKANA", "kata"))


def script_of(ch: str) -> str:
    """The script class of one character: ``han``, ``hira``, ``kata``, ``space``, ``latin`` (any other letter
    or digit) or ``punct:<ch>`` (every other character is its own class)."""
    name = unicodedata.name(ch, "")
    for prefix, script in _NAME_PREFIXES:
        if name.startswith(prefix):
            return script
    if ch.isspace():
        return "space"
    if ch.isalnum():
        return "latin"
    return f"punct:{ch}"


def script_tokens(utterance: Utterance) -> Utterance:
    """A Japanese utterance with ``tokens`` cut at whitespace, script changes and slot boundaries; an utterance
    of another language is returned as it is."""
    if utterance.language not in SCRIPT_TOKENISED:
        return utterance
    text = utterance.text
    cuts = {0, len(text)} | {b for s in utterance.spans for b in (s.start, s.end)}
    tokens: list[tuple[int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        kind = script_of(ch)
        if kind == "space":
            if start is not None:
                tokens.append((start, i))
                start = None
            continue
        if start is not None and (i in cuts or kind != script_of(text[i - 1])):
            tokens.append((start, i))
            start = None
        if start is None:
            start = i
    if start is not None:
        tokens.append((start, len(text)))
    return utterance.replace(tokens=tuple(tokens))
