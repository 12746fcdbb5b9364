"""Filters over generated utterances: duplicates (exact, seed, template, near), wrong language, and meaning
(intent drift, implausible or unlabelled slot values, conflicts with the base data, a teacher as judge).

Each removal carries a reason, so nothing is dropped silently (:class:`FilterResult`).  Filters are found by
name in :data:`FILTERS` (packages add their own through the entry-point group ``tvd.filters``) and built from
a :class:`FilterContext` (seeds, base data, an optional :class:`Reference` model, options).
"""

from tvd.filters.base import (
    Filter,
    FilterContext,
    FilterResult,
    OptionRange,
    Reference,
    ReferencePredictions,
    normalise,
    segments,
)
from tvd.filters.base_conflict import BaseConflictFilter
from tvd.filters.exact import ExactDuplicateFilter, exact_key
from tvd.filters.intent import IntentFilter
from tvd.filters.judge import JudgeFilter
from tvd.filters.language import LanguageFilter, in_language
from tvd.filters.near_duplicate import NearDuplicateFilter
from tvd.filters.pipeline import (
    DEFAULT_FILTERS,
    FILTER_NAMES,
    FILTERS,
    RUN_PIPELINE,
    FilterChain,
    FilterOptions,
    apply_filters,
    build_filters,
    check_filters,
    filter_class,
    needs_reference,
    needs_teacher,
)
from tvd.filters.plausible import PlausibleValueFilter
from tvd.filters.seed import SeedDuplicateFilter
from tvd.filters.template import TemplateDuplicateFilter, template_of
from tvd.filters.unlabelled import UnlabelledValueFilter

__all__ = [
    "DEFAULT_FILTERS",
    "FILTERS",
    "FILTER_NAMES",
    "RUN_PIPELINE",
    "BaseConflictFilter",
    "ExactDuplicateFilter",
    "Filter",
    "FilterChain",
    "FilterContext",
    "FilterOptions",
    "FilterResult",
    "IntentFilter",
    "JudgeFilter",
    "LanguageFilter",
    "NearDuplicateFilter",
    "OptionRange",
    "PlausibleValueFilter",
    "Reference",
    "ReferencePredictions",
    "SeedDuplicateFilter",
    "TemplateDuplicateFilter",
    "UnlabelledValueFilter",
    "apply_filters",
    "build_filters",
    "check_filters",
    "exact_key",
    "filter_class",
    "in_language",
    "needs_reference",
    "needs_teacher",
    "normalise",
    "segments",
    "template_of",
]
