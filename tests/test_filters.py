"""Filters over generated utterances: exact, seed and template duplicates, and the chain that runs them."""

from __future__ import annotations

import json

import pytest

from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.filters import (
    ExactDuplicateFilter,
    FilterChain,
    SeedDuplicateFilter,
    TemplateDuplicateFilter,
    apply_filters,
    build_filters,
    exact_key,
    normalise,
    segments,
    template_of,
)


def u(text: str, *slots: tuple[str, str], intent: str = "GetWeather", language: str = "en") -> Utterance:
    """An utterance whose slots are the first occurrence of each value, in order."""
    spans, cursor = [], 0
    for label, value in slots:
        start = text.index(value, cursor)
        spans.append(Span(start, start + len(value), label))
        cursor = start + len(value)
    return Utterance(text, intent, tuple(spans), language)


def test_normalise_casefolds_and_collapses_whitespace() -> None:
    assert normalise("  Weather  in\tDALLAS ") == "weather in dallas"


def test_segments_place_slots_regardless_of_spacing() -> None:
    a = u("weather in dallas on friday", ("city", "dallas"), ("day", "friday"))
    b = u(" Weather  in Dallas on  Friday", ("city", "Dallas"), ("day", "Friday"))
    assert segments(a) == ("weather in ", "city", "dallas", " on ", "day", "friday", "")
    assert segments(a) == segments(b)
    assert segments(u("weather in dallas", ("city", "dallas"))) != segments(u("weather indallas", ("city", "dallas")))


def test_exact_key_depends_on_intent_and_spans() -> None:
    base = u("weather in dallas", ("city", "dallas"))
    assert exact_key(base) == exact_key(u("Weather in  DALLAS", ("city", "DALLAS")))
    assert exact_key(base) != exact_key(u("weather in dallas", ("city", "dallas"), intent="BookRestaurant"))
    assert exact_key(base) != exact_key(u("weather in dallas", ("state", "dallas")))
    assert exact_key(base) != exact_key(u("weather in dallas"))
    assert exact_key(base) != exact_key(u("weather in dallas", ("city", "dallas"), language="de"))


def test_template_masks_values_by_label() -> None:
    assert template_of(u("Weather in Dallas on  Saturday", ("city", "Dallas"), ("day", "Saturday"))) == (
        "weather in {city} on {day}"
    )
    assert template_of(u("no slots here")) == "no slots here"


# -- each filter alone ----------------------------------------------------------------------------


def test_exact_filter_keeps_first_and_counts() -> None:
    generated = [
        u("weather in dallas", ("city", "dallas")),
        u("Weather in  Dallas ", ("city", "Dallas")),  # case and whitespace variant: duplicate
        u("weather in dallas", ("state", "dallas")),  # other label: kept
        u("weather in dallas", ("city", "dallas"), intent="Other"),  # other intent: kept
        u("weather in dallas", ("city", "dallas")),  # duplicate
    ]
    result = apply_filters(generated, filters=("exact",))
    assert result.kept == [generated[0], generated[2], generated[3]]
    assert result.removed == [(generated[1], "exact_duplicate"), (generated[4], "exact_duplicate")]
    assert result.counts == {"exact_duplicate": 2}
    assert result.kept[0].text == "weather in dallas"  # the first occurrence, as written


def test_seed_filter_matches_text_whatever_the_annotation() -> None:
    seeds = [u("weather in dallas", ("city", "dallas"))]
    generated = [
        u("WEATHER in dallas"),  # copy of the seed's words, annotated differently: removed
        u("weather in paris", ("city", "paris")),
        u("weather in dallas", ("city", "dallas"), language="de"),  # other language: kept
    ]
    result = apply_filters(generated, seeds, filters=("seed",))
    assert result.kept == generated[1:]
    assert result.removed == [(generated[0], "seed_duplicate")]
    assert result.counts == {"seed_duplicate": 1}


def test_template_filter_keeps_first_per_template_and_intent() -> None:
    generated = [
        u("weather in dallas on friday", ("city", "dallas"), ("day", "friday")),
        u("weather in paris on monday", ("city", "paris"), ("day", "monday")),  # same template
        u("weather in paris on monday", ("state", "paris"), ("day", "monday")),  # other label: new template
        u("forecast in paris on monday", ("city", "paris"), ("day", "monday")),  # other words
        u("weather in rome on sunday", ("city", "rome"), ("day", "sunday"), intent="Other"),  # other intent
        u("Weather in Oslo  on Sunday", ("city", "Oslo"), ("day", "Sunday")),  # same template
    ]
    result = apply_filters(generated, filters=("template",))
    assert result.kept == [generated[0], generated[2], generated[3], generated[4]]
    assert [reason for _, reason in result.removed] == ["template_duplicate", "template_duplicate"]
    assert [x for x, _ in result.removed] == [generated[1], generated[5]]
    assert result.counts == {"template_duplicate": 2}


def test_filter_check_does_not_change_state() -> None:
    f = ExactDuplicateFilter()
    a = u("weather in dallas", ("city", "dallas"))
    assert f.check(a) is None
    assert f.check(a) is None  # not remembered until kept
    f.keep(a)
    assert f.check(a) == "exact_duplicate"


# -- the chain ----------------------------------------------------------------------------------


def _mixed() -> tuple[list[Utterance], list[Utterance]]:
    seeds = [u("weather in dallas", ("city", "dallas"))]
    generated = [
        u("weather in paris", ("city", "paris")),  # kept
        u("weather in dallas", ("city", "dallas")),  # seed copy
        u("Weather in Paris", ("city", "Paris")),  # exact duplicate of the first
        u("weather in rome", ("city", "rome")),  # template duplicate of the first
        u("will it snow in rome", ("city", "rome")),  # kept
        u("weather in dallas", ("city", "dallas")),  # seed copy again (never kept, so not an exact duplicate)
    ]
    return seeds, generated


def test_apply_filters_default_chain() -> None:
    seeds, generated = _mixed()
    result = apply_filters(generated, seeds)
    assert result.kept == [generated[0], generated[4]]
    assert result.removed == [
        (generated[1], "seed_duplicate"),
        (generated[2], "exact_duplicate"),
        (generated[3], "template_duplicate"),
        (generated[5], "seed_duplicate"),
    ]
    assert result.counts == {"exact_duplicate": 1, "seed_duplicate": 2, "template_duplicate": 1}
    assert result.total == len(generated)


def test_template_filter_is_optional() -> None:
    seeds, generated = _mixed()
    result = apply_filters(generated, seeds, filters=("exact", "seed"))
    assert result.kept == [generated[0], generated[3], generated[4]]
    assert result.counts == {"exact_duplicate": 1, "seed_duplicate": 2}


def test_no_filters_keeps_everything() -> None:
    _, generated = _mixed()
    result = apply_filters(generated, filters=())
    assert result.kept == generated
    assert result.removed == [] and result.counts == {}


def test_counts_list_zero_for_filters_that_removed_nothing() -> None:
    result = apply_filters([u("weather in paris", ("city", "paris"))], [])
    assert result.counts == {"exact_duplicate": 0, "seed_duplicate": 0, "template_duplicate": 0}
    assert len(result.kept) == 1


def test_chain_remembers_across_batches() -> None:
    seeds, generated = _mixed()
    chain = FilterChain(build_filters(("exact", "seed", "template"), seeds))
    first, second = chain.apply(generated[:3]), chain.apply(generated[3:])
    assert first.kept + second.kept == apply_filters(generated, seeds).kept
    assert second.counts == {"exact_duplicate": 0, "seed_duplicate": 1, "template_duplicate": 1}


def test_removed_records_carry_the_reason() -> None:
    seeds, generated = _mixed()
    records = apply_filters(generated, seeds).removed_records()
    assert [r["reason"] for r in records] == [
        "seed_duplicate",
        "exact_duplicate",
        "template_duplicate",
        "seed_duplicate",
    ]
    assert records[1]["text"] == "Weather in Paris"
    back = json.loads(json.dumps(records[1]))
    assert Utterance.from_dict(back) == generated[2]


def test_build_filters_types_and_order() -> None:
    filters = build_filters(["template", "seed", "exact"], seeds=[])
    assert [type(f) for f in filters] == [TemplateDuplicateFilter, SeedDuplicateFilter, ExactDuplicateFilter]


@pytest.mark.parametrize(
    ("names", "words"), [(("exact", "fuzzy"), "unknown filter 'fuzzy'"), (("seed", "seed"), "listed twice")]
)
def test_bad_filter_names(names: tuple[str, ...], words: str) -> None:
    with pytest.raises(TvdError) as info:
        apply_filters([], [], filters=names)
    assert info.value.code == "E560"
    assert words in info.value.message
    assert info.value.fix


# -- names, options and references (build_filters, check_filters, needs_reference) ------------------------


class _Echo:
    """A reference that gives every text the intent GetWeather."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, items):
        self.calls += 1
        return [Utterance(item.text if isinstance(item, Utterance) else item, "GetWeather") for item in items]


def test_every_built_in_filter_is_registered_and_described() -> None:
    from tvd.filters import DEFAULT_FILTERS, FILTER_NAMES, FILTERS

    assert FILTER_NAMES == (
        "exact", "seed", "template", "language", "intent", "plausible", "unlabelled", "near_duplicate",
        "base_conflict", "judge",
    )  # fmt: skip
    assert DEFAULT_FILTERS == ("exact", "seed", "template")
    described = dict(FILTERS.describe())
    for name in FILTER_NAMES:
        assert name in FILTERS and described[name]


def test_build_filters_gives_each_filter_the_context_and_its_own_options() -> None:
    from tvd.filters import BaseConflictFilter, IntentFilter, NearDuplicateFilter

    base = [u("play some jazz", intent="PlayMusic")]
    reference = _Echo()
    near, conflict, intent = build_filters(
        ["near_duplicate", "base_conflict", "intent"],
        [u("weather in dallas", ("city", "dallas"))],
        base=base,
        reference=reference,
        options={"near_duplicate": {"threshold": 0.5}, "intent": {"margin": 0.25}},
    )
    assert isinstance(near, NearDuplicateFilter) and (near.threshold, near.num_perm) == (0.5, 128)
    assert isinstance(conflict, BaseConflictFilter) and conflict.threshold == 0.9  # the default
    assert isinstance(intent, IntentFilter) and intent.margin == 0.25
    assert conflict.check(u("Play some  JAZZ")) == "conflicts_with_base"  # it got the base
    assert near.check(u("weather in dallas")) == "near_duplicate"  # it got the seeds


def test_needs_reference() -> None:
    from tvd.filters import needs_reference

    assert needs_reference(["exact", "intent"]) is True
    assert needs_reference("intent") is True
    assert needs_reference(["exact", "seed", "template", "plausible", "unlabelled"]) is False
    assert needs_reference([]) is False
    with pytest.raises(TvdError) as info:
        needs_reference(["fuzzy"])
    assert info.value.code == "E560"


def test_a_filter_that_needs_a_reference_is_refused_without_one() -> None:
    with pytest.raises(TvdError) as info:
        build_filters(["exact", "intent"], [])
    assert info.value.code == "E561"
    assert "'intent'" in info.value.message
    assert info.value.fix == "give the run's baseline student as reference, or drop the filter"
    with pytest.raises(TvdError) as info:
        apply_filters([u("weather in paris")], filters=("intent",))
    assert info.value.code == "E561"
    assert len(build_filters(["intent"], reference=_Echo())) == 1


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"near_duplicate": {"threshold": 0.8}}, "not among the filters run"),  # a filter not listed
        ({"exact": {"threshold": 0.8}}, "filter 'exact' has no option 'threshold'"),
        ({"plausible": {"tolerance": -0.1}}, "'tolerance' of filter 'plausible' is -0.1, outside its range"),
        ({"plausible": {"min_values": 0}}, "an integer >= 1"),
        ({"plausible": {"min_values": 2.5}}, "an integer >= 1"),
        ({"intent": {"margin": 1.5}}, "a number in [0, 1]"),
        ({"intent": {"margin": "high"}}, "a number in [0, 1]"),
        ({"unlabelled": {"use_reference": 1}}, "true or false"),
        ({"unlabelled": {"max_carrier_share": float("nan")}}, "a number in [0, 1]"),
        ({"plausible": ["tolerance", 0.1]}, "must be a mapping"),
        (["plausible"], "must map filter names"),
    ],
)
def test_bad_filter_options(options: object, words: str) -> None:
    from tvd.filters import check_filters

    names = ["exact", "plausible", "intent", "unlabelled"]
    for attempt in (
        lambda: check_filters(names, options),  # type: ignore[arg-type]
        lambda: build_filters(names, reference=_Echo(), options=options),  # type: ignore[arg-type]
    ):
        with pytest.raises(TvdError) as info:
            attempt()
        assert info.value.code == "E562"
        assert words in info.value.message
        assert info.value.fix


def test_near_duplicate_threshold_range_is_named() -> None:
    from tvd.filters import check_filters

    for bad in (0, 0.0, 1.01, True):
        with pytest.raises(TvdError) as info:
            check_filters(["near_duplicate"], {"near_duplicate": {"threshold": bad}})
        assert info.value.code == "E562"
        assert "a number in (0, 1]" in info.value.message
        assert "near_duplicate" in info.value.message
    check_filters(["near_duplicate"], {"near_duplicate": {"threshold": 1, "num_perm": 64}})  # an int is a float


def test_check_filters_needs_no_reference_and_accepts_good_options() -> None:
    from tvd.filters import check_filters

    check_filters(["exact", "intent", "plausible"], {"intent": {"margin": 0.5}, "plausible": {"tolerance": 0.0}})
    check_filters("intent")
    check_filters([], None)
    check_filters(["exact"], {})
    with pytest.raises(TvdError) as info:
        check_filters(["exact", "exact"])
    assert info.value.code == "E560"
    with pytest.raises(TvdError) as info:
        check_filters(["nearly"], {"nearly": {}})
    assert info.value.code == "E560"


def test_the_chain_prepares_every_filter_with_the_whole_batch_first() -> None:
    from tvd.filters.base import Filter

    seen: list[tuple[str, int]] = []

    class Recording(Filter):
        name, reason = "recording", "recorded"

        def prepare(self, utterances):
            seen.append(("prepare", len(utterances)))

        def check(self, utterance):
            seen.append(("check", 1))

    chain = FilterChain([ExactDuplicateFilter(), Recording()])
    result = chain.apply(iter([u("a b"), u("a b"), u("c d")]))  # a one-shot iterator is fine
    assert seen[0] == ("prepare", 3)
    assert seen[1:] == [("check", 1), ("check", 1)]  # the exact duplicate never reached it
    assert [x.text for x in result.kept] == ["a b", "c d"]
    seen.clear()
    chain.apply([])
    assert seen == []  # nothing to prepare for


@pytest.mark.parametrize("name", ["exact", "seed", "template", "language"])
def test_every_filters_own_factory_checks_its_options(name: str) -> None:
    from tvd.filters import FILTERS
    from tvd.filters.base import FilterContext

    factory = FILTERS.get(name)
    assert factory(FilterContext(options={})).name == name
    with pytest.raises(TvdError) as info:
        factory(FilterContext(options={"threshold": 0.5}))
    assert info.value.code == "E562" and f"filter {name!r} has no option 'threshold'" in info.value.message
