"""Unlabelled values: a value of one of the intent's slots left untagged in the carrier text.

``book a table for [party_size_number four ] at 7 pm`` teaches the student that "7 pm" is no slot, while the
seeds tag such times as ``timeRange``.  The labels considered are the utterance's *label map*: every label
its intent's seed examples use (what its LINGUIST request offered the teacher), plus the labels of its own
spans, since an untagged "7 pm" in a BookRestaurant utterance teaches ``O`` for a ``timeRange`` value even
if that utterance tagged no timeRange.  The text outside the utterance's spans is searched for:

(a) a catalogue value (seeds' and base's values, :func:`tvd.data.resample.build_catalogue`) of one of those
    labels, as whole words, case-insensitively (values of up to 8 tokens);
(b) a number or time ("7", "7 pm", "8:30", "twenty", "six o'clock") when one of those labels is numeric:
    at least ``numeric_share`` (default 0.5) of its catalogue values hold a number (party sizes, ratings,
    years);
(c) where a reference model is given (optional; ``use_reference``, default true, turns it off when false): a
    span the reference tags with one of those labels, lying wholly outside the utterance's spans.

A word that real annotators leave untagged is not a missed value: an (a) or (b) match that occurs untagged
in more than ``max_carrier_share`` (default 0.01) of the real utterances (seeds + base) is skipped, so "me",
"now" or "one" in everyday carrier text stay; with 0, any match ever seen untagged is skipped, with 1 none is.
Everything is computed on first use (about a second for SNIPS's 13,000 base utterances).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.resample import build_catalogue
from tvd.data.utterance import Utterance, slot_labels
from tvd.filters.base import Filter, FilterContext, OptionRange, Reference, ReferencePredictions
from tvd.filters.values import (
    NUMBER_WORDS,
    TEXT,
    label_maps,
    labels_for,
    ngrams,
    tokens,
    untagged_pieces,
    value_kind,
)

MAX_VALUE_TOKENS = 8
"""Catalogue values longer than this (in tokens) are not looked for in carrier text."""

NUMBER_OR_TIME = re.compile(
    r"(?<!\w)(?:\d+(?:[:.]\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?:\s*(?:a\.m\.|p\.m\.|am|pm|o'\s?clock|o clock|oclock))?(?!\w)"
)
"""A number (digits, ``8:30``, an English number word) with an optional time suffix (``pm``, ``o'clock``)."""


class UnlabelledValueFilter(Filter):
    """Removes an utterance whose untagged text holds a value of a label of its label map: a catalogue value,
    a number or time for a numeric label, or a span the reference tags (see the module docstring)."""

    name = "unlabelled"
    reason = "unlabelled_value"
    options: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"max_carrier_share": 0.01, "numeric_share": 0.5, "use_reference": True}
    )
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {
            "max_carrier_share": OptionRange(float, 0.0, 1.0),
            "numeric_share": OptionRange(float, 0.0, 1.0, low_open=True),
            "use_reference": OptionRange(bool),
        }
    )

    def __init__(
        self,
        seeds: Iterable[Utterance] = (),
        base: Iterable[Utterance] = (),
        reference: Reference | None = None,
        *,
        max_carrier_share: float = 0.01,
        numeric_share: float = 0.5,
        use_reference: bool = True,
    ) -> None:
        self.max_carrier_share = max_carrier_share
        self.numeric_share = numeric_share
        self._seeds = tuple(seeds)
        self._base = tuple(base)
        self._predictions = ReferencePredictions(reference) if reference is not None and use_reference else None
        self._fitted = False
        self._maps: dict[str | None, frozenset[str]] = {}
        self._values: dict[tuple[str, ...], set[str]] = {}
        self._longest = 1
        self._numeric: set[str] = set()
        self._carrier: set[tuple[str, ...]] = set()

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        return cls(context.seeds, context.base, context.reference, **cls.resolve_options(context.options))

    def _fit(self) -> None:
        if self._fitted:
            return
        real = (*self._seeds, *self._base)
        catalogue = build_catalogue(self._seeds, self._base, labels=slot_labels(real))
        for label, values in catalogue.items():
            for value in values:
                key = tokens(value)
                if 0 < len(key) <= MAX_VALUE_TOKENS:
                    self._values.setdefault(key, set()).add(label)
            numbers = sum(value_kind(value) != TEXT for value in values)
            if values and numbers / len(values) >= self.numeric_share:
                self._numeric.add(label)
        self._longest = max((len(key) for key in self._values), default=1)
        seen_untagged: Counter[tuple[str, ...]] = Counter()
        for utterance in real:
            found: set[tuple[str, ...]] = set()
            for piece in untagged_pieces(utterance):
                found.update(g for g in ngrams(tokens(piece), self._longest) if g in self._values)
                found.update(tokens(m.group()) for m in NUMBER_OR_TIME.finditer(piece.casefold()))
            seen_untagged.update(found)
        limit = self.max_carrier_share * len(real)
        self._carrier = {key for key, count in seen_untagged.items() if count > limit}
        self._maps = label_maps(self._seeds)
        self._fitted = True

    def prepare(self, utterances: Sequence[Utterance]) -> None:
        self._fit()
        if self._predictions is not None:
            self._predictions.prepare(utterances)

    def unlabelled(self, utterance: Utterance) -> list[tuple[str, str]]:
        """What ``utterance`` leaves untagged: ``(why, text)`` pairs, ``why`` being ``"catalogue:<label>"``,
        ``"number"`` or ``"reference:<label>"`` (empty: it passes)."""
        self._fit()
        labels = labels_for(utterance, self._maps)
        numeric = bool(labels & self._numeric)
        found: list[tuple[str, str]] = []
        for piece in untagged_pieces(utterance):
            for gram in ngrams(tokens(piece), self._longest):
                hit = self._values.get(gram, set()) & labels
                if hit and gram not in self._carrier:
                    found.append((f"catalogue:{min(hit)}", " ".join(gram)))
            if numeric:
                for match in NUMBER_OR_TIME.finditer(piece.casefold()):
                    if tokens(match.group()) not in self._carrier:
                        found.append(("number", match.group()))
        if self._predictions is not None and labels:
            predicted = self._predictions.get(utterance)
            for span in predicted.spans:
                inside = any(s.start < span.end and span.start < s.end for s in utterance.spans)
                if span.label in labels and not inside:
                    found.append((f"reference:{span.label}", predicted.value(span)))
        return found

    def check(self, utterance: Utterance) -> str | None:
        return self.reason if self.unlabelled(utterance) else None
