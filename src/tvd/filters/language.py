"""Utterances not in their stated language: a cheap heuristic, not a language-identification model.

German and Italian: an utterance is in the language when it has more of that language's frequent function
words than of English's (ties, and utterances with none, count as not in it).  Japanese: when it has at least
one kanji, hiragana or katakana character.  Other languages (English included) always pass.
"""

from __future__ import annotations

import re

from tvd.data.tokenize import script_of
from tvd.data.utterance import Utterance
from tvd.filters.base import Filter


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the a an to of in on for at is are be me my i you it this that what with and from please can will "
        "add play find show book rate give get what's how weather movie song"
    ),
    "de": _words(
        "der die das den dem des ein eine einen einem einer und ist im in zu zum zur für mit von auf bitte "
        "ich mir mich mein meine wie wird es gibt spiele spiel finde zeige buche füge hinzu welche wetter "
        "morgen heute nicht ein noch um nach"
    ),
    "it": _words(
        "il lo la le gli i un una uno di del della dei delle al alla nel nella per con da che è e mi "
        "voglio vorrei riproduci aggiungi trova mostra prenota dammi quale qual tempo domani oggi sono "
        "questo questa come cosa"
    ),
}
"""Frequent function words per language; English's are what German and Italian are compared against."""

JAPANESE_SCRIPTS = ("hira", "kata", "han")
_WORD = re.compile(r"[\w']+", re.UNICODE)


def in_language(text: str, language: str) -> bool:
    """Whether ``text`` looks written in ``language`` (see the module docstring for the heuristic)."""
    if language == "ja":
        return any(script_of(ch) in JAPANESE_SCRIPTS for ch in text)
    if language not in FUNCTION_WORDS or language == "en":
        return True
    words = [w.lower() for w in _WORD.findall(text)]
    own = sum(w in FUNCTION_WORDS[language] for w in words)
    english = sum(w in FUNCTION_WORDS["en"] for w in words)
    return own > english


class LanguageFilter(Filter):
    """Removes an utterance that :func:`in_language` says is not in its own ``language``."""

    name = "language"
    reason = "wrong_language"

    def check(self, utterance: Utterance) -> str | None:
        return None if in_language(utterance.text, utterance.language) else self.reason
