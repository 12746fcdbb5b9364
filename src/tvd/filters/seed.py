"""Copies of the seed examples: generated utterances that repeat a seed example's words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, FilterContext, normalise


class SeedDuplicateFilter(Filter):
    """Removes an utterance whose normalised text (:func:`tvd.filters.base.normalise`) and language equal
    a seed example's, whatever its intent and slots.

    Text alone decides: a copy of a seed adds no new wording, and a copy annotated differently would
    contradict the seed's gold annotation.
    """

    name = "seed"
    reason = "seed_duplicate"

    def __init__(self, seeds: Iterable[Utterance]) -> None:
        self._seeds = {(u.language, normalise(u.text)) for u in seeds}

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        cls.resolve_options(context.options)  # it takes none: any is E562
        return cls(context.seeds)

    def check(self, utterance: Utterance) -> str | None:
        return self.reason if (utterance.language, normalise(utterance.text)) in self._seeds else None
