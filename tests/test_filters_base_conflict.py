"""The base-conflict filter: a generated utterance must not (nearly) repeat a base utterance of another intent."""

from __future__ import annotations

import time

import pytest

import tvd.filters.minhash as minhash
from factories import tagged
from tvd.errors import TvdError
from tvd.filters import BaseConflictFilter, apply_filters, build_filters

u = tagged


BASE = [
    u("play some jazz in the kitchen", "PlayMusic", ("genre", "jazz"), ("room", "kitchen")),
    u("what will the weather be like in paris on the coming friday morning", "GetWeather", ("city", "paris")),
    u("book a table for two in boston", "BookRestaurant", ("party_size_number", "two"), ("city", "boston")),
    u("show me the forecast", "GetWeather"),
]


def test_exact_text_or_template_of_another_intent() -> None:
    generated = [
        u("Play some  JAZZ in the kitchen", "FindMusic"),  # the same words as a PlayMusic utterance
        u("play some rock in the garage", "FindMusic", ("genre", "rock"), ("room", "garage")),  # the same template
        u("play some rock in the garage", "FindMusic", ("artist", "rock"), ("room", "garage")),  # other labels
        u("book a table for two in boston", "BookRestaurant"),  # its own intent: no conflict
        u("show me the forecast please", "FindMusic"),  # 4 words of 5 (Jaccard 7/9 = 0.78 < 0.9)
    ]
    result = apply_filters(generated, filters=("base_conflict",), base=BASE)
    assert result.removed == [(generated[0], "conflicts_with_base"), (generated[1], "conflicts_with_base")]
    assert result.kept == generated[2:]
    assert result.counts == {"conflicts_with_base": 2}


def test_nearly_the_words_of_another_intent() -> None:
    near = u("what will the weather be like in paris on the coming friday morning please", "PlanTrip")
    assert BaseConflictFilter(BASE).check(near) == "conflicts_with_base"  # Jaccard 25/27 = 0.93
    assert BaseConflictFilter(BASE, threshold=0.95).check(near) is None
    assert BaseConflictFilter(BASE).check(near.replace(intent="GetWeather")) is None
    template_near = u(
        "what will the weather be like in rome on the coming friday morning please",
        "PlanTrip",
        ("city", "rome"),
    )  # text differs in the city; the template is nearly the base one's
    assert BaseConflictFilter(BASE).check(template_near) == "conflicts_with_base"
    loose = build_filters(["base_conflict"], base=BASE, options={"base_conflict": {"threshold": 0.7}})[0]
    assert loose.check(u("show me the forecast please", "FindMusic")) == "conflicts_with_base"


def test_without_base_nothing_conflicts() -> None:
    assert BaseConflictFilter().check(u("play some jazz in the kitchen", "X")) is None


def test_the_index_is_built_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    real = minhash.ShingleIndex.add_many

    def counting(self, entries):
        built.append(1)
        return real(self, entries)

    monkeypatch.setattr(minhash.ShingleIndex, "add_many", counting)
    f = build_filters(["base_conflict"], base=BASE)[0]
    assert built == []
    f.check_many([u("play some jazz in the kitchen", "X"), u("hello there", "X")])
    f.check(u("something else", "X"))
    assert built == [1, 1]  # texts and templates, once


def test_a_snips_sized_base_builds_and_checks_in_seconds() -> None:
    """13,000 base utterances of 7 intents, 1,000 generated: the whole filter well under the per-filter budget."""
    vocabulary = "play book find rate add show what will weather table song movie the a in for at of my me"
    w = vocabulary.split(" ")
    n = len(w)
    base = [
        u(f"{w[i % 7]} {w[(i * 7) % n]} {w[(i * 13) % n]} item{i} {w[(i * 3) % n]}", f"I{i % 7}", ("x", f"item{i}"))
        for i in range(13_000)
    ]
    generated = [u(f"{w[i % 7]} {w[(i * 5) % n]} new{i} {w[(i * 11) % n]}", "New") for i in range(1000)]
    start = time.perf_counter()
    result = apply_filters(generated, filters=("base_conflict",), base=base)
    assert time.perf_counter() - start < 20  # about 2 s on one core
    assert result.total == 1000


def test_bad_options() -> None:
    for options in ({"threshold": 0}, {"num_perm": 2000}, {"margin": 0.1}):
        with pytest.raises(TvdError) as info:
            build_filters(["base_conflict"], options={"base_conflict": options})
        assert info.value.code == "E562" and "base_conflict" in info.value.message
