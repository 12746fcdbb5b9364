"""Slot values and the text around them, as the meaning filters (``plausible``, ``unlabelled``) compare them.

A value's *key* is its comparison form (:func:`tvd.filters.base.normalise`); its *kind* says whether it is a
number ("4", "four", "8:30", "twenty one"), text with a number in it ("7 pm", "in ten") or text
("tonight"); *carrier text* is the text outside an utterance's slots.  Number words are English (zero to
twenty, the tens, hundred, thousand): in other languages only digits count as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tvd.data.utterance import Utterance
from tvd.filters.base import normalise

_ENGLISH_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand"
)
NUMBER_WORDS: frozenset[str] = frozenset(_ENGLISH_NUMBERS.split(" "))
"""English number words: with digits, what makes a token a number."""

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGITS = re.compile(r"\d")
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b")

NUMERIC, MIXED, TEXT = "numeric", "mixed", "text"


def value_key(value: str) -> str:
    """The comparison form of a value (case-folded, whitespace collapsed)."""
    return normalise(value)


def tokens(text: str) -> tuple[str, ...]:
    """Case-folded word and punctuation tokens: ``"8:30 PM"`` -> ``("8", ":", "30", "pm")``.  Matching token
    sequences is matching whole words."""
    return tuple(_TOKEN.findall(text.casefold()))


def is_number(token: str) -> bool:
    """Whether a case-folded word token is a number: digits, or an English number word."""
    return token.isdigit() or token in NUMBER_WORDS


def value_kind(value: str) -> str:
    """:data:`NUMERIC` when every word of ``value`` is a number, :data:`MIXED` when some are (``"7 pm"``,
    ``"in ten"``), :data:`TEXT` when none is (or it has no word characters)."""
    words = _WORD.findall(value.casefold())
    numbers = sum(is_number(word) for word in words)
    if words and numbers == len(words):
        return NUMERIC
    return MIXED if numbers else TEXT


def fold_numbers(text: str) -> str:
    """``text`` case-folded with every digit made ``0`` and every English number word made ``0``:
    ``"Table for Four at 7:30"`` -> ``"table for 0 at 0:00"``.  Character n-grams of folded text see two
    numbers as alike whatever their digits or spelling."""
    return _NUMBER_WORD.sub("0", _DIGITS.sub("0", text.casefold()))


def untagged_pieces(utterance: Utterance) -> list[str]:
    """The utterance's carrier text: the pieces of text before, between and after its slots (empty ones
    dropped), so nothing spans a slot boundary."""
    pieces, cursor = [], 0
    for span in utterance.spans:
        pieces.append(utterance.text[cursor : span.start])
        cursor = span.end
    pieces.append(utterance.text[cursor:])
    return [piece for piece in pieces if piece.strip()]


def ngrams(sequence: tuple[str, ...], longest: int) -> Iterator[tuple[str, ...]]:
    """Every contiguous run of 1 to ``longest`` items of ``sequence``."""
    for start in range(len(sequence)):
        for end in range(start + 1, min(len(sequence), start + longest) + 1):
            yield sequence[start:end]


def label_maps(seeds: Iterable[Utterance]) -> dict[str | None, frozenset[str]]:
    """Intent -> the slot labels its seed examples use: the label map a LINGUIST request of that intent offers
    the teacher."""
    labels: dict[str | None, set[str]] = {}
    for utterance in seeds:
        labels.setdefault(utterance.intent, set()).update(span.label for span in utterance.spans)
    return {intent: frozenset(found) for intent, found in labels.items()}


def labels_for(utterance: Utterance, maps: dict[str | None, frozenset[str]]) -> frozenset[str]:
    """The labels an utterance's values are judged against: its intent's label map (see :func:`label_maps`)
    and the labels of its own spans."""
    return maps.get(utterance.intent, frozenset()) | {span.label for span in utterance.spans}
