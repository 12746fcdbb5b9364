"""Token features for the CRF slot tagger: word identity, affixes, shape and a +-2 token context window.

Features are python-crfsuite's dict form (``{name: value}``; string values become indicator features,
floats are weights).  They are script-neutral: for Japanese character-ish tokens the affix and shape
features degrade gracefully to the token itself and its character class.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

FeatureDict = dict[str, str | float]


def word_shape(token: str) -> str:
    """Compressed character-class shape: ``"Paris"`` -> ``"Xx"``, ``"10:30pm"`` -> ``"d:dx"``."""
    classes: list[str] = []
    for ch in token:
        if ch.isdigit():
            cls = "d"
        elif ch.isalpha():
            if ch.isupper():
                cls = "X"
            elif ch.islower():
                cls = "x"
            else:  # scripts without case (kana, kanji, ...): the Unicode script initial
                cls = _script(ch)
        else:
            cls = ch
        if not classes or classes[-1] != cls:
            classes.append(cls)
    return "".join(classes)


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if name.startswith("CJK"):
        return "H"  # Han
    if name.startswith("HIRAGANA"):
        return "h"
    if name.startswith("KATAKANA"):
        return "k"
    return "a"


def _length_bucket(token: str) -> str:
    n = len(token)
    return str(n) if n < 4 else ("4-6" if n <= 6 else "7+")


def token_features(tokens: Sequence[str], i: int) -> FeatureDict:
    """Features of token ``i`` in its sentence."""
    word = tokens[i]
    lower = word.lower()
    features: FeatureDict = {
        "bias": 1.0,
        "w": lower,
        "shape": word_shape(word),
        "len": _length_bucket(word),
        "p2": lower[:2],
        "p3": lower[:3],
        "s2": lower[-2:],
        "s3": lower[-3:],
        "s4": lower[-4:],
    }
    if word.istitle():
        features["title"] = 1.0
    if word.isupper():
        features["upper"] = 1.0
    if any(ch.isdigit() for ch in word):
        features["has_digit"] = 1.0
    if word.isdigit():
        features["digit"] = 1.0
    if i == 0:
        features["BOS"] = 1.0
    if i == len(tokens) - 1:
        features["EOS"] = 1.0
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(tokens):
            other = tokens[j].lower()
            features[f"w[{offset}]"] = other
            features[f"shape[{offset}]"] = word_shape(tokens[j])
            if abs(offset) == 1:
                features[f"s3[{offset}]"] = other[-3:]
        else:
            features[f"w[{offset}]"] = "<pad>"
    if i > 0:
        features["w[-1:0]"] = f"{tokens[i - 1].lower()} {lower}"
    if i < len(tokens) - 1:
        features["w[0:1]"] = f"{lower} {tokens[i + 1].lower()}"
    return features


def sentence_features(tokens: Sequence[str]) -> list[FeatureDict]:
    """Features of every token of a sentence, in order."""
    return [token_features(tokens, i) for i in range(len(tokens))]
