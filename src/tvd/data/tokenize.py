"""Script-aware tokenisation: cut text where the writing system changes (for languages written without spaces).

:func:`script_of` names a character's script class; :func:`script_tokens` re-tokenises a Japanese utterance at
script changes (kanji / hiragana / katakana / latin and digits / each punctuation mark, so a run of one mark
stays one token), closer to xSID's Japanese segmentation than whole whitespace-free runs.  Slot boundaries
always stay token boundaries.

:func:`model_tokens` is what a student reads (the CRF, in training and in prediction): an utterance's own
tokenisation when its source gave one (xSID), else, for a Japanese utterance and for any text holding kana or
kanji (raw text at predict or serve time arrives without a language), every kana and kanji character a token
of its own (other runs cut as :func:`script_tokens` cuts them).  Characters rather than script runs because a
slot often ends inside a run (``東京都`` with the city ``東京``; particles glued to the next word in unspaced
text): on xSID ja typed without spaces, script runs put 64 % of the gold slots on token boundaries and
character tokens all of them (``bench/japanese_crf.py``).  Text in another language without kana or kanji is
never touched, so English tokenisation, and with it the English CRF, is what it was.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from tvd.data.utterance import Utterance

SCRIPT_TOKENISED = frozenset({"ja"})
"""The languages :func:`script_tokens` re-tokenises; utterances of other languages are returned unchanged."""

UNSPACED_SCRIPTS = frozenset({"han", "hira", "kata"})
"""The script classes of :func:`script_of` written without spaces between words (kanji, hiragana, katakana)."""

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


def has_unspaced_script(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`UNSPACED_SCRIPTS` (a kanji, hiragana or katakana)."""
    return any(ord(ch) >= 0x2E80 and script_of(ch) in UNSPACED_SCRIPTS for ch in text)  # CJK radicals and up


def script_offsets(text: str, cuts: Iterable[int] = (), *, split_unspaced: bool = False) -> tuple[tuple[int, int], ...]:
    """Token offsets of ``text`` cut at whitespace, at every script change (:func:`script_of`) and at ``cuts``;
    with ``split_unspaced``, every kana and kanji character is a token of its own."""
    boundaries = {0, len(text), *cuts}
    tokens: list[tuple[int, int]] = []
    start: int | None = None
    previous = ""
    for i, ch in enumerate(text):
        kind = script_of(ch)
        if kind == "space":
            if start is not None:
                tokens.append((start, i))
                start = None
            previous = kind
            continue
        alone = split_unspaced and kind in UNSPACED_SCRIPTS
        if start is not None and (i in boundaries or kind != previous or alone):
            tokens.append((start, i))
            start = None
        if start is None:
            start = i
        previous = kind
    if start is not None:
        tokens.append((start, len(text)))
    return tuple(tokens)


def script_tokens(utterance: Utterance) -> Utterance:
    """A Japanese utterance with ``tokens`` cut at whitespace, script changes and slot boundaries; an utterance
    of another language is returned as it is."""
    if utterance.language not in SCRIPT_TOKENISED:
        return utterance
    cuts = (b for s in utterance.spans for b in (s.start, s.end))
    return utterance.replace(tokens=script_offsets(utterance.text, cuts))


def model_tokens(utterance: Utterance) -> Utterance:
    """The utterance as a student reads it: unchanged when it has its own ``tokens``, or holds no kana or kanji
    and is not Japanese; else with every kana and kanji a token of its own, other runs cut at whitespace and
    script changes, and slot boundaries kept (:func:`script_offsets` with ``split_unspaced``)."""
    if utterance.tokens is not None or not (
        utterance.language in SCRIPT_TOKENISED or has_unspaced_script(utterance.text)
    ):
        return utterance
    cuts = (b for s in utterance.spans for b in (s.start, s.end))
    return utterance.replace(tokens=script_offsets(utterance.text, cuts, split_unspaced=True))
