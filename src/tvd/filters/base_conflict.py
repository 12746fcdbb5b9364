"""Conflicts with the base data: generated utterances that (nearly) repeat a real utterance of another intent.

The base data (the other, existing intents) is real and annotated with its own intent.  A generated
utterance of the new intent whose normalised text, or whose template (:func:`tvd.filters.template.template_of`:
slot values as ``{label}``), equals a base utterance's of another intent, or nearly does (word-shingle
Jaccard >= ``threshold``, default 0.9, :mod:`tvd.filters.minhash`), teaches the student to contradict real
data: "play some jazz" written for a new intent is still PlayMusic.  Text is compared with text, template
with template.

The base index is built once, on first use (so building the filter is cheap and a chain that never sees an
utterance pays nothing): distinct texts and templates, about a second for SNIPS's 13,000 utterances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self

from tvd.data.utterance import Utterance
from tvd.filters.base import Filter, FilterContext, OptionRange, normalise
from tvd.filters.minhash import ShingleIndex, shingles
from tvd.filters.template import template_of


class _Side:
    """One way of comparing (text or template): exact forms and their intents, and a shingle index of them."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.intents: dict[str, set[str | None]] = {}
        self.index = ShingleIndex(threshold, num_perm)

    def build(self, forms: Iterable[tuple[str, str | None]]) -> None:
        for form, intent in forms:
            self.intents.setdefault(form, set()).add(intent)
        self.index.add_many((form, shingles(form)) for form in self.intents)

    def conflicts(self, form: str, intent: str | None) -> bool:
        if self.intents.get(form, set()) - {intent}:
            return True
        return any(self.intents[key] - {intent} for key, _ in self.index.matches(shingles(form)))


class BaseConflictFilter(Filter):
    """Removes an utterance whose normalised text or template equals, or by word-shingle Jaccard >=
    ``threshold`` nearly equals, a base utterance's (text with text, template with template) of another
    intent."""

    name = "base_conflict"
    reason = "conflicts_with_base"
    options: ClassVar[Mapping[str, Any]] = MappingProxyType({"threshold": 0.9, "num_perm": 128})
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType(
        {"threshold": OptionRange(float, 0.0, 1.0, low_open=True), "num_perm": OptionRange(int, 16, 1024)}
    )

    def __init__(self, base: Iterable[Utterance] = (), *, threshold: float = 0.9, num_perm: int = 128) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._base = tuple(base)
        self._sides: tuple[_Side, _Side] | None = None

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        return cls(context.base, **cls.resolve_options(context.options))

    def _built(self) -> tuple[_Side, _Side]:
        if self._sides is None:
            texts, templates = _Side(self.threshold, self.num_perm), _Side(self.threshold, self.num_perm)
            texts.build((normalise(u.text), u.intent) for u in self._base)
            templates.build((template_of(u), u.intent) for u in self._base)
            self._sides = (texts, templates)
        return self._sides

    def prepare(self, utterances: Iterable[Utterance]) -> None:
        self._built()

    def check(self, utterance: Utterance) -> str | None:
        if not self._base:
            return None
        texts, templates = self._built()
        if texts.conflicts(normalise(utterance.text), utterance.intent):
            return self.reason
        if templates.conflicts(template_of(utterance), utterance.intent):
            return self.reason
        return None
