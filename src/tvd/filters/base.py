"""What every filter over generated utterances shares: the interface, the text normalisation, the result.

A filter never drops silently: it names a *reason* for each utterance it removes, and the removed
utterances are kept with their reason (:class:`FilterResult`) so a run can write them to a file and
count them in its report.  Filters are stateful: each remembers the utterances kept so far (only those
that passed the whole chain, see :meth:`Filter.keep`), so generated data can be filtered batch by batch.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import Any, Self

from tvd.data.utterance import Utterance

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The comparison form of text: case-folded (``str.casefold``), whitespace runs made one space,
    stripped.  ``"Weather  in\\tDallas "`` and ``"weather in dallas"`` compare equal."""
    return _SPACE.sub(" ", text.casefold()).strip()


def segments(utterance: Utterance) -> tuple[str, ...]:
    """The utterance as alternating normalised pieces: text before the first slot, ``label``, value,
    text between, ..., text after the last slot.

    Normalising piece by piece keeps the slots' positions comparable after whitespace and case changes
    (character offsets would shift).  A piece's inner whitespace collapses to one space but its presence at
    a slot boundary is kept, so ``in dallas`` and ``indallas`` stay different.
    """
    pieces: list[str] = []
    cursor = 0
    for span in utterance.spans:
        pieces += [_SPACE.sub(" ", utterance.text[cursor : span.start].casefold()), span.label]
        pieces.append(normalise(utterance.value(span)))
        cursor = span.end
    pieces.append(_SPACE.sub(" ", utterance.text[cursor:].casefold()))
    pieces[0] = pieces[0].lstrip()
    pieces[-1] = pieces[-1].rstrip()
    return tuple(pieces)


@dataclass(frozen=True)
class FilterContext:
    """What a filter may be built from when a run starts: the seed examples of the run (room for base data)."""

    seeds: tuple[Utterance, ...] = ()


class Filter(abc.ABC):
    """Removes some generated utterances, each for a stated reason.

    ``name`` is the filter's name in configs (``"exact"``); ``reason`` is the label its removals carry
    in reports and reject files (``"exact_duplicate"``).
    """

    name: str = "abstract"
    reason: str = "abstract"

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        """A fresh filter for a run (the factory :data:`tvd.filters.pipeline.FILTERS` holds); the default
        takes nothing from ``context``."""
        return cls()

    @abc.abstractmethod
    def check(self, utterance: Utterance) -> str | None:
        """The reason to remove ``utterance``, or ``None`` to let it pass.  Changes no state."""

    def keep(self, utterance: Utterance) -> None:  # noqa: B027 - stateless filters need nothing
        """Record that ``utterance`` was kept by the whole chain (stateful filters remember it)."""


@dataclass
class FilterResult:
    """The outcome of filtering: ``kept`` in input order, ``removed`` as ``(utterance, reason)`` in input
    order, and ``counts`` of removals per reason (every reason of the filters that ran appears, with 0
    when it removed nothing)."""

    kept: list[Utterance] = field(default_factory=list)
    removed: list[tuple[Utterance, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Utterances that went in."""
        return len(self.kept) + len(self.removed)

    def removed_records(self) -> list[dict[str, Any]]:
        """The removed utterances as native records with a ``"reason"`` field, ready for a JSONL file."""
        return [{**utterance.to_dict(), "reason": reason} for utterance, reason in self.removed]
