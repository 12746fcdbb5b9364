"""Exact duplicates among generated utterances: same words, intent, language and slots."""

from __future__ import annotations

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, segments


def exact_key(utterance: Utterance) -> tuple[object, ...]:
    """What makes two utterances the same: intent, language and the normalised segments (text case-folded,
    whitespace collapsed, slot labels and values in place; see :func:`tvd.filters.base.segments`)."""
    return (utterance.intent, utterance.language, segments(utterance))


class ExactDuplicateFilter(Filter):
    """Removes an utterance whose :func:`exact_key` equals that of one kept earlier; the first stays."""

    name = "exact"
    reason = "exact_duplicate"

    def __init__(self) -> None:
        self._seen: set[tuple[object, ...]] = set()

    def check(self, utterance: Utterance) -> str | None:
        return self.reason if exact_key(utterance) in self._seen else None

    def keep(self, utterance: Utterance) -> None:
        self._seen.add(exact_key(utterance))
