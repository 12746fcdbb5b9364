"""The near-duplicate filter: MinHash LSH over word shingles, against kept utterances and seeds of one intent."""

from __future__ import annotations

import pytest

from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.filters import FilterChain, NearDuplicateFilter, apply_filters, build_filters
from tvd.filters.minhash import ShingleIndex, jaccard, shingles


def g(text: str, intent: str = "BookRestaurant") -> Utterance:
    return Utterance(text, intent)


def test_shingles_are_unigrams_and_bigrams_of_the_normalised_text() -> None:
    assert shingles("Book a  TABLE") == {"book", "a", "table", "book a", "a table"}
    assert shingles("   ") == frozenset()
    a = shingles("book a table for two in boston please")
    assert jaccard(a, shingles("book a table for two in boston")) == pytest.approx(13 / 15)
    assert jaccard(a, a) == 1.0 and jaccard(frozenset(), frozenset()) == 0.0


def test_removes_near_copies_of_kept_utterances_and_keeps_new_wording() -> None:
    generated = [
        g("could you book a table for two people in boston tonight"),
        g("could you please book a table for two people in boston tonight"),  # one word added: 0.86
        g("Could you book a table for two people in Boston tonight"),  # an exact copy (case aside)
        g("could you book a table for four people in boston tonight"),  # one content word changed: 0.67
        g("i would like to reserve seats at a bistro"),
        g("could you please book a table for two people in boston tonight", "Other"),  # another intent
    ]
    result = apply_filters(generated, filters=("near_duplicate",))
    assert result.kept == [generated[0], generated[3], generated[4], generated[5]]
    assert result.removed == [(generated[1], "near_duplicate"), (generated[2], "near_duplicate")]
    assert result.counts == {"near_duplicate": 2}


def test_seeds_count_as_kept() -> None:
    seeds = [g("book a table for two in boston tonight at the bistro")]
    generated = [g("book a table for two in boston tonight at the bistro please"), g("find me a table for two")]
    result = apply_filters(generated, seeds, ("near_duplicate",))
    assert result.kept == [generated[1]]


def test_threshold_option() -> None:
    generated = [
        g("could you book a table for two people in boston tonight"),
        g("could you book a table for four people in boston tonight"),
    ]
    assert len(apply_filters(generated, filters=("near_duplicate",)).kept) == 2
    loose = apply_filters(generated, filters=("near_duplicate",), options={"near_duplicate": {"threshold": 0.6}})
    assert loose.kept == generated[:1]
    strict = apply_filters(
        [generated[0], g("could you please book a table for two people in boston tonight"), generated[0]],
        filters=("near_duplicate",),
        options={"near_duplicate": {"threshold": 1.0, "num_perm": 64}},
    )
    assert [reason for _, reason in strict.removed] == ["near_duplicate"]  # only the exact copy at 1.0


def test_remembers_across_batches_and_is_deterministic() -> None:
    texts = [f"book a table for {n} people in boston tonight at the {place}" for n in ("two", "four")
             for place in ("bistro", "diner", "bistro")]  # fmt: skip
    generated = [g(t) for t in texts]
    chain = FilterChain(build_filters(["near_duplicate"], options={"near_duplicate": {"threshold": 0.7}}))
    batched = chain.apply(generated[:3]).kept + chain.apply(generated[3:]).kept
    assert batched == apply_filters(generated, filters=("near_duplicate",),
                                    options={"near_duplicate": {"threshold": 0.7}}).kept  # fmt: skip
    # two/diner (0.84), two/bistro (1.0), four/bistro (0.77) are near the first; four/diner (0.64) is not, and is
    # near nothing kept (two/diner was removed, so it does not count)
    assert batched == [generated[0], generated[4]]


def test_checks_change_no_state() -> None:
    f = NearDuplicateFilter()
    a = g("book a table for two in boston tonight")
    assert f.check(a) is None and f.check(a) is None
    f.keep(a)
    assert f.check(a) == "near_duplicate"
    assert f.check(g("")) is None  # no words: never a near duplicate


def test_the_index_verifies_candidates_exactly() -> None:
    index = ShingleIndex(0.8, num_perm=128)
    index.add_many([(0, shingles("a b c d e f g h")), (1, shingles("a b c d e f g x")), (2, frozenset())])
    assert [key for key, _ in index.matches(shingles("a b c d e f g h"))] == [0]  # 1 is at 13/17 = 0.76
    assert index.matches(frozenset()) == []
    assert len(index) == 3


def test_bad_options() -> None:
    for options in ({"threshold": 0}, {"threshold": 1.2}, {"num_perm": 8}, {"num_perm": 128.0}):
        with pytest.raises(TvdError) as info:
            build_filters(["near_duplicate"], options={"near_duplicate": options})
        assert info.value.code == "E562" and "near_duplicate" in info.value.message
