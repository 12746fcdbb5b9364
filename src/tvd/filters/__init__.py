"""Filters over generated utterances: exact duplicates, copies of seed examples, template duplicates.

Each removal carries a reason, so nothing is dropped silently (:class:`FilterResult`).
"""

from tvd.filters.base import Filter, FilterResult, normalise, segments
from tvd.filters.exact import ExactDuplicateFilter, exact_key
from tvd.filters.pipeline import DEFAULT_FILTERS, FILTER_NAMES, FilterChain, apply_filters, build_filters
from tvd.filters.seed import SeedDuplicateFilter
from tvd.filters.template import TemplateDuplicateFilter, template_of

__all__ = [
    "DEFAULT_FILTERS",
    "FILTER_NAMES",
    "ExactDuplicateFilter",
    "Filter",
    "FilterChain",
    "FilterResult",
    "SeedDuplicateFilter",
    "TemplateDuplicateFilter",
    "apply_filters",
    "build_filters",
    "exact_key",
    "normalise",
    "segments",
    "template_of",
]
