"""What every filter over generated utterances shares: the interface, its options, the text normalisation, the result.

A filter never drops silently: it names a *reason* for each utterance it removes, and the removed
utterances are kept with their reason (:class:`FilterResult`) so a run can write them to a file and
count them in its report.  Filters are stateful: each remembers the utterances kept so far (only those
that passed the whole chain, see :meth:`Filter.keep`), so generated data can be filtered batch by batch.

A filter is built from a :class:`FilterContext`: the run's seeds, its base data (the other, existing intents),
an optional *reference* (anything with a ``predict`` method, :class:`Reference`: in a run, the baseline
student trained on base + seeds), an optional *teacher* to ask (the judge; with the run's completion cache and
engine settings) and its own options, checked against the ranges the filter declares
(:attr:`Filter.option_ranges`; a bad one is E562).
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_FILTER_OPTION, E_FILTER_NEEDS_REFERENCE, E_JUDGE_NEEDS_TEACHER, TvdError

if TYPE_CHECKING:
    from tvd.engine.accounting import Budget
    from tvd.engine.cache import CompletionCache
    from tvd.engine.dispatch import EngineSettings
    from tvd.teachers.base import Teacher

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


@runtime_checkable
class Reference(Protocol):
    """What a filter may ask a reference model: intent and slots of texts, in one call for many.

    A fitted student (:class:`tvd.students.base.Student`) is one: its predictions carry ``.intent``, ``.spans``
    and ``meta["intent_confidence"]`` (the top intent's probability, where the student has one).  The filters
    layer only knows this protocol, never the students package.
    """

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]: ...


def reference_input(utterance: Utterance) -> Utterance:
    """What a reference reads for ``utterance``: its text, language and tokens, without intent, spans or meta
    (the gold annotation must not reach the model that judges it)."""
    return Utterance(utterance.text, None, (), utterance.language, utterance.tokens)


class ReferencePredictions:
    """A reference's predictions for the utterances of one batch, made in one ``predict`` call.

    :meth:`prepare` predicts every text of a batch at once and keeps the predictions (replacing those of the
    previous batch, so memory stays bounded); :meth:`get` answers from them and predicts an utterance it has
    not seen on its own.  The reference is assumed deterministic, so both paths give the same prediction.
    """

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self._predicted: dict[tuple[object, ...], Utterance] = {}

    @staticmethod
    def _key(utterance: Utterance) -> tuple[object, ...]:
        return (utterance.text, utterance.language, utterance.tokens)

    def prepare(self, utterances: Sequence[Utterance]) -> None:
        inputs: dict[tuple[object, ...], Utterance] = {}
        for utterance in utterances:
            inputs.setdefault(self._key(utterance), reference_input(utterance))
        predictions = self.reference.predict(list(inputs.values())) if inputs else []
        if len(predictions) != len(inputs):
            raise ValueError(f"the reference returned {len(predictions)} predictions for {len(inputs)} inputs")
        self._predicted = dict(zip(inputs, predictions, strict=True))

    def get(self, utterance: Utterance) -> Utterance:
        key = self._key(utterance)
        if key not in self._predicted:
            [self._predicted[key]] = self.reference.predict([reference_input(utterance)])
        return self._predicted[key]


@dataclass(frozen=True)
class OptionRange:
    """The values one filter option takes: a type (``bool``, ``int`` or ``float``; an ``int`` is a valid
    ``float``) and, for numbers, bounds (``None``: unbounded; ``*_open``: the bound itself is excluded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: object) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        """The range in words: ``"a number in (0, 1]"``, ``"an integer >= 1"``, ``"true or false"``."""
        if self.kind is bool:
            return "true or false"
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{noun} in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {_number(self.high)}"
        return noun


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Filter(abc.ABC):
    """Removes some generated utterances, each for a stated reason.

    ``name`` is the filter's name in configs (``"exact"``); ``reason`` is the label its removals carry
    in reports and reject files (``"exact_duplicate"``).  ``needs_reference``: the filter cannot be built
    without a reference model (E561); ``needs_teacher``: nor without a teacher to ask (the judge, E565).
    ``options`` maps each option the filter takes to its default and ``option_ranges`` gives each option's
    allowed values; :meth:`resolve_options` checks given options against them.
    """

    name: str = "abstract"
    reason: str = "abstract"
    needs_reference: ClassVar[bool] = False
    needs_teacher: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    option_ranges: ClassVar[Mapping[str, OptionRange]] = MappingProxyType({})

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The filter's options: the defaults of :attr:`options` with ``given`` laid over them.

        Raises :class:`TvdError` (E562) naming the filter and option for an option the filter does not take
        or a value outside its :attr:`option_ranges`.
        """
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            raise TvdError(
                E_BAD_FILTER_OPTION,
                f"the options of filter {cls.name!r} must be a mapping of option names to values, got {given!r}",
                fix=f"write them as {{{cls.name}: {{option: value}}}}",
            )
        resolved = dict(cls.options)
        for key, value in given.items():
            if key not in cls.options:
                known = ", ".join(sorted(cls.options)) or "none"
                raise TvdError(
                    E_BAD_FILTER_OPTION,
                    f"filter {cls.name!r} has no option {key!r}",
                    fix=f"use the options it takes ({known}), or drop {key!r}",
                )
            allowed = cls.option_ranges.get(key)
            if allowed is not None and not allowed.allows(value):
                raise TvdError(
                    E_BAD_FILTER_OPTION,
                    f"option {key!r} of filter {cls.name!r} is {value!r}, outside its range: {allowed.describe()}",
                    fix=f"give {key!r} {allowed.describe()} (default {cls.options[key]!r})",
                )
            resolved[key] = value
        return resolved

    @classmethod
    def require_reference(cls, context: FilterContext) -> Reference:
        """``context.reference``, or E561 naming the filter when there is none."""
        if context.reference is None:
            raise TvdError(
                E_FILTER_NEEDS_REFERENCE,
                f"filter {cls.name!r} needs a reference model and none was given",
                fix="give the run's baseline student as reference, or drop the filter",
            )
        return context.reference

    @classmethod
    def require_teacher(cls, context: FilterContext) -> Teacher:
        """``context.teacher``, or E565 naming the filter when there is none."""
        if context.teacher is None:
            raise TvdError(
                E_JUDGE_NEEDS_TEACHER,
                f"filter {cls.name!r} needs a teacher to ask and none was given",
                fix="give it a teacher (`tvd run` passes the run's own; in code: build_filters(..., teacher=...)), "
                "or drop the filter",
            )
        return context.teacher

    @classmethod
    def from_context(cls, context: FilterContext) -> Self:
        """A fresh filter for a run (the factory :data:`tvd.filters.pipeline.FILTERS` holds); the default
        checks ``context.options`` (this filter takes none unless it declares some) and takes nothing else."""
        cls.resolve_options(context.options)
        return cls()

    def prepare(self, utterances: Sequence[Utterance]) -> None:  # noqa: B027 - most filters need nothing
        """Get ready to check ``utterances`` (the whole batch, before the first :meth:`check`), e.g. predict all
        their texts in one call.  Must not change any verdict: :meth:`check` answers the same with or without it."""

    def check_many(self, utterances: Sequence[Utterance]) -> list[str | None]:
        """:meth:`check` of each utterance against the current state, after one :meth:`prepare`; records
        nothing (no :meth:`keep`), so for a stateful filter this is not what a chain would remove."""
        self.prepare(utterances)
        return [self.check(utterance) for utterance in utterances]

    @abc.abstractmethod
    def check(self, utterance: Utterance) -> str | None:
        """The reason to remove ``utterance``, or ``None`` to let it pass.  Changes no verdict-relevant state."""

    def keep(self, utterance: Utterance) -> None:  # noqa: B027 - stateless filters need nothing
        """Record that ``utterance`` was kept by the whole chain (stateful filters remember it)."""


@dataclass(frozen=True)
class FilterContext:
    """What a filter may be built from when a run starts: the run's seed examples, its base data (the other,
    existing intents: real data), a reference model (:class:`Reference`, or ``None``) and this filter's
    options (name -> value; checked by the filter's :meth:`Filter.from_context`).  A filter that asks a teacher
    (``needs_teacher``) gets ``teacher``, and may store its answers in ``cache`` (in a run, the run's completion
    cache) and send them with ``engine`` (the run's concurrency, rate limits and retries) within ``budget`` (the
    run's :class:`~tvd.engine.accounting.Budget`, what generation left of it; ``None``: no limit)."""

    seeds: tuple[Utterance, ...] = ()
    base: tuple[Utterance, ...] = ()
    reference: Reference | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    teacher: Teacher | None = None
    cache: CompletionCache | None = None
    engine: EngineSettings | None = None
    budget: Budget | None = None


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
