"""Running filters in a chain over generated utterances, by name as configs give them.

Filters are found by name in :data:`FILTERS`: each entry is a factory that takes a
:class:`~tvd.filters.base.FilterContext` (the run's seeds, base data, reference model and the filter's options)
and returns a fresh :class:`~tvd.filters.base.Filter`.  An installed package adds a filter through the
entry-point group ``tvd.filters`` (``myfilter = "my_package.filters:MyFilter.from_context"``).

:func:`check_filters` validates names and options without building anything (a config check before the teacher
is paid), :func:`needs_reference` says whether a reference model must be trained for them, :func:`build_filters`
builds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tvd.data.utterance import Utterance
from tvd.engine.accounting import Budget
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.errors import E_BAD_FILTER, E_BAD_FILTER_OPTION, TvdError
from tvd.filters.base import Filter, FilterContext, FilterResult, Reference
from tvd.registry import Registry
from tvd.teachers.base import Teacher

FilterFactory = Callable[[FilterContext], Filter]
FilterOptions = Mapping[str, Mapping[str, Any]]
"""Options per filter name: ``{"near_duplicate": {"threshold": 0.8}}``."""

FILTERS: Registry[FilterFactory] = Registry(
    "filters", "filter", E_BAD_FILTER, fix="use some of: {names} (or an empty list for no filtering)"
)
"""Filters by name: a factory from a :class:`FilterContext` to a fresh filter."""

_BUILT_IN = (
    (
        "exact",
        "tvd.filters.exact:ExactDuplicateFilter.from_context",
        "exact duplicates of a kept utterance (same words, intent, language and slots)",
    ),
    (
        "seed",
        "tvd.filters.seed:SeedDuplicateFilter.from_context",
        "copies of a seed example's words (same normalised text and language)",
    ),
    (
        "template",
        "tvd.filters.template:TemplateDuplicateFilter.from_context",
        "the template (wording with slot values as {label}) of a kept utterance of the same intent",
    ),
    (
        "language",
        "tvd.filters.language:LanguageFilter.from_context",
        "not in its own language (py3langid: best of MASSIVE's 50 languages; options min_confidence, open_set)",
    ),
    (
        "intent",
        "tvd.filters.intent:IntentFilter.from_context",
        "the reference model gives the text another intent (or too little confidence: option margin)",
    ),
    (
        "plausible",
        "tvd.filters.plausible:PlausibleValueFilter.from_context",
        "a new slot value that looks more like another slot's values or carrier words than its own slot's",
    ),
    (
        "unlabelled",
        "tvd.filters.unlabelled:UnlabelledValueFilter.from_context",
        "untagged text holding a value of one of the intent's slots (catalogue value, number or time)",
    ),
    (
        "near_duplicate",
        "tvd.filters.near_duplicate:NearDuplicateFilter.from_context",
        "nearly the words (MinHash Jaccard >= threshold) of a kept utterance or seed of the same intent",
    ),
    (
        "base_conflict",
        "tvd.filters.base_conflict:BaseConflictFilter.from_context",
        "(nearly) the words or template of a base utterance of another intent",
    ),
    (
        "judge",
        "tvd.filters.judge:JudgeFilter.from_context",
        "a teacher answers no: not a request of its intent with values of the right types (needs a teacher)",
    ),
)
for _name, _factory, _description in _BUILT_IN:
    FILTERS.register(_name, _factory, description=_description)

FILTER_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _BUILT_IN)
"""The filters built into tvd (the default ones first, in the default order)."""

DEFAULT_FILTERS: tuple[str, ...] = ("exact", "seed", "template")
"""The duplicate filters, :func:`apply_filters`' default."""

RUN_PIPELINE: tuple[str, ...] = ("exact", "seed", "plausible", "unlabelled", "near_duplicate", "base_conflict")
"""The filters ``tvd run`` applies when its config names none: the best pipeline of ``bench/fewshot_snips.py``
(chosen on the SNIPS valid split; ``intent`` is left out because it removed more real utterances of the new
intent than generated ones in ``bench/filter_calibration.py``, on training data)."""


def filter_class(name: str) -> type[Filter] | None:
    """The :class:`Filter` subclass behind the filter ``name`` (E560 when unknown): the class whose
    ``from_context`` is registered, or ``None`` for a factory of another kind (a plug-in function), whose
    options and reference needs only its own factory knows."""
    factory: Any = FILTERS.get(name)
    owner = getattr(factory, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, Filter):
        return owner
    return None


def _names(names: Iterable[str] | str) -> list[str]:
    """``names`` as a list (a single string is one name), each known and listed once, else E560."""
    listed = [names] if isinstance(names, str) else list(names)
    for name in listed:
        FILTERS.get(name)
        if listed.count(name) > 1:
            raise TvdError(E_BAD_FILTER, f"filter {name!r} is listed twice", fix="list each filter once")
    return listed


def _options(listed: Sequence[str], options: FilterOptions | None) -> dict[str, Mapping[str, Any]]:
    """``options`` checked: a mapping of listed filter names to mappings, each valid for its filter (E562)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TvdError(
            E_BAD_FILTER_OPTION,
            f"filter options must map filter names to their options, got {options!r}",
            fix="write them as {near_duplicate: {threshold: 0.8}}",
        )
    for name, given in options.items():
        if name not in listed:
            raise TvdError(
                E_BAD_FILTER_OPTION,
                f"options are given for filter {name!r}, which is not among the filters run ({', '.join(listed)})",
                fix=f"add {name!r} to the filters, or drop its options",
            )
        cls = filter_class(name)
        if cls is not None:
            cls.resolve_options(given)
        elif given is not None and not isinstance(given, Mapping):
            raise TvdError(
                E_BAD_FILTER_OPTION,
                f"the options of filter {name!r} must be a mapping of option names to values, got {given!r}",
                fix=f"write them as {{{name}: {{option: value}}}}",
            )
    return {name: dict(given or {}) for name, given in options.items()}


def check_filters(names: Iterable[str] | str, options: FilterOptions | None = None) -> None:
    """Check filter names (E560: unknown or repeated) and options (E562: options of a filter not listed, an
    option a filter does not take, a value out of range) without building any filter or needing a reference.

    Options of a plug-in filter whose factory is not a :class:`Filter` subclass's ``from_context`` can only be
    checked when it is built.
    """
    _options(_names(names), options)


def needs_reference(names: Iterable[str] | str) -> bool:
    """Whether any of the named filters needs a reference model (E560 for an unknown or repeated name)."""
    return any((cls := filter_class(name)) is not None and cls.needs_reference for name in _names(names))


def needs_teacher(names: Iterable[str] | str) -> bool:
    """Whether any of the named filters asks a teacher (the judge; E560 for an unknown or repeated name)."""
    return any((cls := filter_class(name)) is not None and cls.needs_teacher for name in _names(names))


def build_filters(
    names: Iterable[str] | str,
    seeds: Iterable[Utterance] = (),
    *,
    base: Iterable[Utterance] = (),
    reference: Reference | None = None,
    options: FilterOptions | None = None,
    teacher: Teacher | None = None,
    cache: CompletionCache | None = None,
    engine: EngineSettings | None = None,
    budget: Budget | None = None,
) -> list[Filter]:
    """Fresh filters for ``names`` in the given order, built from one context: ``seeds`` (the new intent's
    examples), ``base`` (the other intents' real data), ``reference`` (a model with ``predict``, e.g. the run's
    baseline student) and each filter's own ``options[name]``; a filter that asks a teacher (the judge) gets
    ``teacher``, ``cache`` (where its answers are stored; in a run, the run's completion cache) and ``engine``
    (how requests are sent) and ``budget`` (the run's spending limit, shared with generation).

    A single string is taken as one name.  Raises :class:`TvdError`: E560 for an unknown or repeated name,
    E562 for bad options (see :func:`check_filters`), E561 when a listed filter needs a reference and none is
    given, E565 when the judge is listed and no teacher is given.  Building is cheap: filters that learn from
    the data do so on first use.
    """
    listed = _names(names)
    per_filter = _options(listed, options)
    if reference is None:
        for name in listed:
            cls = filter_class(name)
            if cls is not None and cls.needs_reference:
                cls.require_reference(FilterContext())
    if teacher is None:
        for name in listed:
            cls = filter_class(name)
            if cls is not None and cls.needs_teacher:
                cls.require_teacher(FilterContext())
    seeds, base = tuple(seeds), tuple(base)
    factories = [(name, FILTERS.get(name)) for name in listed]
    return [
        factory(
            FilterContext(
                seeds=seeds,
                base=base,
                reference=reference,
                options=per_filter.get(name, {}),
                teacher=teacher,
                budget=budget,
                cache=cache,
                engine=engine,
            )
        )
        for name, factory in factories
    ]


class FilterChain:
    """Filters applied in order: an utterance is removed with the reason of the first filter that rejects
    it, and kept (and remembered by every filter) when none does.  State persists across :meth:`apply`
    calls, so batches filtered one after another behave like one list.

    Before the one-by-one pass, every filter's :meth:`~tvd.filters.base.Filter.prepare` sees the whole batch
    (a reference-based filter predicts all its texts in one call); the verdicts are those of the one-by-one
    path.
    """

    def __init__(self, filters: Sequence[Filter]) -> None:
        self.filters = list(filters)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.filters]

    def apply(self, generated: Iterable[Utterance]) -> FilterResult:
        batch = list(generated)
        result = FilterResult(counts=dict.fromkeys(self.reasons, 0))
        if batch:
            for f in self.filters:
                f.prepare(batch)
        for utterance in batch:
            reason = next((r for f in self.filters if (r := f.check(utterance)) is not None), None)
            if reason is None:
                for f in self.filters:
                    f.keep(utterance)
                result.kept.append(utterance)
            else:
                result.removed.append((utterance, reason))
                result.counts[reason] = result.counts.get(reason, 0) + 1
        return result


def apply_filters(
    generated: Iterable[Utterance],
    seeds: Iterable[Utterance] = (),
    filters: Sequence[str] = DEFAULT_FILTERS,
    *,
    base: Iterable[Utterance] = (),
    reference: Reference | None = None,
    options: FilterOptions | None = None,
    teacher: Teacher | None = None,
    cache: CompletionCache | None = None,
) -> FilterResult:
    """Filter ``generated`` with the named filters (in order) against ``seeds``, ``base`` and ``reference``
    (see :func:`build_filters`; ``teacher`` and ``cache`` for the judge).

    ``filters=("exact", "seed")`` turns the aggressive template filter off; ``()`` keeps everything.
    """
    built = build_filters(filters, seeds, base=base, reference=reference, options=options, teacher=teacher, cache=cache)
    return FilterChain(built).apply(generated)
