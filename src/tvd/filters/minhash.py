"""MinHash LSH over word shingles: the near-equality index of ``near_duplicate`` and ``base_conflict``.

A text's shingles are its word unigrams and bigrams (of :func:`tvd.filters.base.normalise`'d text, bigrams
joined with a space, so they can never equal a unigram).  Unigrams alone would make a reordering a
duplicate; bigrams alone would make short utterances (3-8 words, most of what a teacher writes) jump from
1.0 to below 0.5 with one changed word; both together let one added "please" in an 8-word utterance keep a
Jaccard of 0.88 while one changed content word brings it to about 0.6.

:class:`ShingleIndex` finds candidates with ``datasketch.MinHashLSH`` (fixed seed, so results do not change
between runs) and then decides with the exact Jaccard similarity of the stored shingle sets, so a verdict never
depends on MinHash's estimation error; LSH may (rarely: about 1 % at the threshold, less above it) miss a
pair.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import pairwise

from datasketch import MinHash, MinHashLSH

from tvd.filters.base import normalise

MINHASH_SEED = 20261201
"""The seed of the MinHash permutations: fixed, so the index is the same in every run."""

#: LSH banding is tuned for a lower threshold than the decision's, weighted against misses, so a pair at the
#: threshold becomes a candidate with probability ~0.99 (0.8: 18 bands of 7); candidates are checked exactly
_LSH_WEIGHTS = (0.2, 0.8)
_LSH_THRESHOLD_FACTOR = 0.85


def shingles(text: str) -> frozenset[str]:
    """Word unigrams and bigrams of the normalised text (empty for a text without words)."""
    words = normalise(text).split()
    return frozenset(words) | frozenset(f"{a} {b}" for a, b in pairwise(words))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


class ShingleIndex:
    """Shingle sets under keys, queried for those with Jaccard >= ``threshold`` (``num_perm`` MinHash
    permutations).  Empty sets are stored but never match."""

    def __init__(self, threshold: float, num_perm: int = 128) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        banding = max(0.05, _LSH_THRESHOLD_FACTOR * min(threshold, 1.0))
        self._lsh = MinHashLSH(threshold=banding, num_perm=num_perm, weights=_LSH_WEIGHTS)
        self._template = MinHash(num_perm=num_perm, seed=MINHASH_SEED)
        self._sets: dict[Hashable, frozenset[str]] = {}
        self._order: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def _minhash(self, items: frozenset[str]) -> MinHash:
        minhash = MinHash(num_perm=self.num_perm, permutations=self._template.permutations, scheme="affine32")
        minhash.update_batch([item.encode("utf-8") for item in sorted(items)])
        return minhash

    def _store(self, key: Hashable, items: frozenset[str]) -> None:
        self._order[key] = len(self._order)
        self._sets[key] = items

    def add(self, key: Hashable, items: frozenset[str]) -> None:
        """Store ``items`` under ``key`` (a new key; adding a key twice keeps the first set)."""
        if key in self._sets:
            return
        self._store(key, items)
        if items:
            self._lsh.insert(key, self._minhash(items), check_duplication=False)

    def add_many(self, entries: Iterable[tuple[Hashable, frozenset[str]]]) -> None:
        """:meth:`add` for many entries, inserted in one LSH session."""
        with self._lsh.insertion_session() as session:
            for key, items in entries:
                if key in self._sets:
                    continue
                self._store(key, items)
                if items:
                    session.insert(key, self._minhash(items), check_duplication=False)

    def matches(self, items: frozenset[str]) -> list[tuple[Hashable, float]]:
        """``(key, Jaccard)`` of every stored set whose exact Jaccard with ``items`` is >= the threshold, best
        first (ties by key order of insertion)."""
        if not items or not self._sets:
            return []
        found = []
        for key in self._lsh.query(self._minhash(items)):
            similarity = jaccard(items, self._sets[key])
            if similarity >= self.threshold:
                found.append((key, similarity))
        return sorted(found, key=lambda pair: (-pair[1], self._order[pair[0]]))
