"""Filters over generated utterances: exact duplicates, copies of seed examples, template duplicates, wrong language.

Each removal carries a reason, so nothing is dropped silently (:class:`FilterResult`).  Filters are found by
name in :data:`FILTERS` (packages add their own through the entry-point group ``tvd.filters``).
"""

from tvd.filters.base import Filter, FilterContext, FilterResult, normalise, segments
from tvd.filters.exact import ExactDuplicateFilter, exact_key
from tvd.filters.language import LanguageFilter, in_language
from tvd.filters.pipeline import (
    DEFAULT_FILTERS,
    FILTER_NAMES,
    FILTERS,
    FilterChain,
    apply_filters,
    build_filters,
)
from tvd.filters.seed import SeedDuplicateFilter
from tvd.filters.template import TemplateDuplicateFilter, template_of

__all__ = [
    "DEFAULT_FILTERS",
    "FILTERS",
    "FILTER_NAMES",
    "ExactDuplicateFilter",
    "Filter",
    "FilterChain",
    "FilterContext",
    "FilterResult",
    "LanguageFilter",
    "SeedDuplicateFilter",
    "TemplateDuplicateFilter",
    "apply_filters",
    "build_filters",
    "exact_key",
    "in_language",
    "normalise",
    "segments",
    "template_of",
]
