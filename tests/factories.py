"""Small builders for test data (SNIPS-style utterances written in code; SNIPS is CC0)."""

from __future__ import annotations

from tvd.data.utterance import Utterance


def bio(tokens: str, tags: str, intent: str, language: str = "en") -> Utterance:
    """An utterance from space-separated tokens and BIO tags."""
    return Utterance.from_bio(tokens.split(), tags.split(), intent=intent, language=language)
