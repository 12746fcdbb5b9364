"""Running filters in a chain over generated utterances, by name as configs give them.

Filters are found by name in :data:`FILTERS`: each entry is a factory that takes a
:class:`~tvd.filters.base.FilterContext` (the run's seeds) and returns a fresh :class:`~tvd.filters.base.Filter`.
An installed package adds a filter through the entry-point group ``tvd.filters``
(``myfilter = "my_package.filters:MyFilter.from_context"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_FILTER, TvdError
from tvd.filters.base import Filter, FilterContext, FilterResult
from tvd.registry import Registry

FilterFactory = Callable[[FilterContext], Filter]

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
        "not in its own language (function words for de/it, script for ja; others pass)",
    ),
)
for _name, _factory, _description in _BUILT_IN:
    FILTERS.register(_name, _factory, description=_description)

FILTER_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _BUILT_IN)
"""The filters built into tvd (the default ones first, in the default order)."""

DEFAULT_FILTERS: tuple[str, ...] = ("exact", "seed", "template")
"""The filters a run applies unless its config names others."""


def build_filters(names: Iterable[str], seeds: Iterable[Utterance] = ()) -> list[Filter]:
    """Fresh filters for ``names`` in the given order; ``seeds`` go into the filters' context (``"seed"``).

    A single string is taken as one name.  Raises :class:`TvdError` (E560) for an unknown or repeated name.
    """
    context = FilterContext(seeds=tuple(seeds))
    names = [names] if isinstance(names, str) else list(names)
    factories = []
    for name in names:
        factory = FILTERS.get(name)
        if names.count(name) > 1:
            raise TvdError(E_BAD_FILTER, f"filter {name!r} is listed twice", fix="list each filter once")
        factories.append(factory)
    return [factory(context) for factory in factories]


class FilterChain:
    """Filters applied in order: an utterance is removed with the reason of the first filter that rejects
    it, and kept (and remembered by every filter) when none does.  State persists across :meth:`apply`
    calls, so batches filtered one after another behave like one list."""

    def __init__(self, filters: Sequence[Filter]) -> None:
        self.filters = list(filters)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.filters]

    def apply(self, generated: Iterable[Utterance]) -> FilterResult:
        result = FilterResult(counts=dict.fromkeys(self.reasons, 0))
        for utterance in generated:
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
) -> FilterResult:
    """Filter ``generated`` with the named filters (in order) against ``seeds``.

    ``filters=("exact", "seed")`` turns the aggressive template filter off; ``()`` keeps everything.
    """
    return FilterChain(build_filters(filters, seeds)).apply(generated)
