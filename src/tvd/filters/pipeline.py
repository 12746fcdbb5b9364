"""Running filters in a chain over generated utterances, by name as configs give them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.filters.base import Filter, FilterResult
from tvd.filters.exact import ExactDuplicateFilter
from tvd.filters.seed import SeedDuplicateFilter
from tvd.filters.template import TemplateDuplicateFilter

FILTER_NAMES: tuple[str, ...] = ("exact", "seed", "template")
"""The filters known by name, in their default order."""

DEFAULT_FILTERS: tuple[str, ...] = FILTER_NAMES


def build_filters(names: Iterable[str], seeds: Iterable[Utterance] = ()) -> list[Filter]:
    """Fresh filters for ``names`` in the given order; ``seeds`` feed the ``"seed"`` filter.

    A single string is taken as one name.  Raises :class:`TvdError` (E560) for an unknown or repeated name.
    """
    seeds = list(seeds)
    filters: list[Filter] = []
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in FILTER_NAMES:
            raise TvdError(
                "E560",
                f"unknown filter {name!r}",
                fix=f"use some of: {', '.join(FILTER_NAMES)} (or an empty list for no filtering)",
            )
        if names.count(name) > 1:
            raise TvdError("E560", f"filter {name!r} is listed twice", fix="list each filter once")
        if name == "exact":
            filters.append(ExactDuplicateFilter())
        elif name == "seed":
            filters.append(SeedDuplicateFilter(seeds))
        else:
            filters.append(TemplateDuplicateFilter())
    return filters


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
