"""Near duplicates: generated utterances with nearly the words of one kept earlier, or of a seed example.

Two utterances of one intent are near duplicates when the Jaccard similarity of their word shingles
(unigrams and bigrams of the normalised text, :mod:`tvd.filters.minhash`) is at least ``threshold`` (default
0.8: one added or dropped word in an utterance of eight or more words, not one changed content word).  A
small teacher often writes the same line again with a word added; such copies add little wording.  Exact
duplicates (Jaccard 1) are removed too, so the filter also works without ``exact``.  Slot annotation is not
compared: that is ``exact``'s and ``template``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, FilterContext, OptionRange
from tvd.filters.minhash import ShingleIndex, shingles


class NearDuplicateFilter(Filter):
    """Removes an utterance whose shingles have Jaccard >= ``threshold`` with those of a kept utterance or a
    seed example of the same intent (MinHash LSH with ``num_perm`` permutations finds the candidates)."""

    name = "near_duplicate"
    reason = "near_duplicate"
    options: ClassVar[Mapping[str, Any]] = MappingProxyType({"threshold": 0.8, "num_perm": 128})
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {"threshold": OptionRange(float, 0.0, 1.0, low_open=True), "num_perm": OptionRange(int, 16, 1024)}
    )

    def __init__(self, seeds: Iterable[Utterance] = (), *, threshold: float = 0.8, num_perm: int = 128) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._indexes: dict[str | None, ShingleIndex] = {}
        self._count = 0
        for seed in seeds:
            self._add(seed)

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        return cls(context.seeds, **cls.resolve_options(context.options))

    def _index(self, intent: str | None) -> ShingleIndex:
        if intent not in self._indexes:
            self._indexes[intent] = ShingleIndex(self.threshold, self.num_perm)
        return self._indexes[intent]

    def _add(self, utterance: Utterance) -> None:
        self._index(utterance.intent).add(self._count, shingles(utterance.text))
        self._count += 1

    def check(self, utterance: Utterance) -> str | None:
        index = self._indexes.get(utterance.intent)
        if index is None:
            return None
        return self.reason if index.matches(shingles(utterance.text)) else None

    def keep(self, utterance: Utterance) -> None:
        self._add(utterance)
