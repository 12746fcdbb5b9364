"""Token features for the CRF slot tagger: word identity, affixes, shape and a +-2 token context window, plus
character n-grams for scripts written without spaces.

Features are python-crfsuite's dict form (``{name: value}``; string values become indicator features,
floats are weights).  The word features are script-neutral: for Japanese tokens the affix and shape features
degrade to the token itself and its character class.

Character n-grams (:func:`char_features`, on by default): a token holding kana or kanji
(:func:`tvd.data.tokenize.has_unspaced_script`), and a token next to one, also gets the character 1-3-grams of
its text and of its edges with two characters of context on either side (``c2L=の天``), and its neighbours'
boundary characters.  A multi-character token (``東京都``) thereby shares evidence with the tokens that share
its characters, and a one-character token (the student's kana / kanji tokens, xSID's ``今`` / ``日``) sees the
character trigrams around it, which the word window's unigrams and bigrams do not.  Text without kana or
kanji gets none of them: English features are exactly what they were.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from tvd.data.tokenize import has_unspaced_script

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


def char_features(tokens: Sequence[str], i: int) -> FeatureDict:
    """Character n-gram features of token ``i`` (see the module docstring); empty unless it or a neighbour holds
    kana or kanji.

    The window is the token with up to two characters of context on each side (the text of the tokens before
    and after it, without the spaces between tokens).  Its 1-3-grams inside the token (``c2=天気``, only when
    the token holds kana or kanji) and those crossing the token's left or right edge (``c2L=の天``,
    ``c3R=気は?``, ``c3LR=の天気`` for a one-character token) are indicator features, plus the neighbours'
    boundary characters (``c[-1]``, ``c[+1]``; ``<s>`` / ``</s>`` at the sentence's ends).
    """
    word = tokens[i]
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    own = has_unspaced_script(word)
    if not (own or has_unspaced_script(before) or has_unspaced_script(after)):
        return {}
    left, right = "".join(tokens[max(0, i - 2) : i])[-2:], "".join(tokens[i + 1 : i + 3])[:2]
    window, first, last = left + word + right, len(left), len(left) + len(word)
    features: FeatureDict = {"c[-1]": before[-1:] or "<s>", "c[+1]": after[:1] or "</s>"}
    for n in (1, 2, 3):
        for start in range(len(window) - n + 1):
            end = start + n
            if end <= first or start >= last:
                continue  # context only: not the token's
            edge = ("L" if start < first else "") + ("R" if end > last else "")
            if edge or own:
                features[f"c{n}{edge}={window[start:end]}"] = 1.0
    return features


def token_features(tokens: Sequence[str], i: int, *, char_ngrams: bool = True) -> FeatureDict:
    """Features of token ``i`` in its sentence (``char_ngrams``: with :func:`char_features`)."""
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
    if char_ngrams:
        features.update(char_features(tokens, i))
    return features


def sentence_features(tokens: Sequence[str], *, char_ngrams: bool = True) -> list[FeatureDict]:
    """Features of every token of a sentence, in order (``char_ngrams``: see :func:`token_features`)."""
    return [token_features(tokens, i, char_ngrams=char_ngrams) for i in range(len(tokens))]
