"""The plausible filter: a new slot value must look like its own slot's values, not another slot's or carrier words."""

from __future__ import annotations

import pytest

import tvd.filters.plausible as plausible
from factories import tagged
from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.filters import PlausibleValueFilter, apply_filters, build_filters
from tvd.filters.plausible import shape_features

u = tagged


SEEDS = [
    u(
        "book a table for four in boston at 7 pm",
        "BookRestaurant",
        ("party_size_number", "four"),
        ("city", "boston"),
        ("timeRange", "7 pm"),
    ),
    u(
        "reserve a table for 2 in denver tonight",
        "BookRestaurant",
        ("party_size_number", "2"),
        ("city", "denver"),
        ("timeRange", "tonight"),
    ),
    u("i need a table for six at 8:30 pm", "BookRestaurant", ("party_size_number", "six"), ("timeRange", "8:30 pm")),
]
BASE = [
    u("weather in austin tomorrow", "GetWeather", ("city", "austin"), ("timeRange", "tomorrow")),
    u("will it rain in paris at 9 am", "GetWeather", ("city", "paris"), ("timeRange", "9 am")),
    u("forecast for chicago on friday", "GetWeather", ("city", "chicago"), ("timeRange", "friday")),
    u("is it cold in seattle at noon", "GetWeather", ("city", "seattle"), ("timeRange", "noon")),
    u("how hot will it be in miami next week", "GetWeather", ("city", "miami"), ("timeRange", "next week")),
    u("what is the forecast for london", "GetWeather", ("city", "london")),
    u("will it snow in san francisco at 6 am", "GetWeather", ("city", "san francisco"), ("timeRange", "6 am")),
    u("weather for new york this evening", "GetWeather", ("city", "new york"), ("timeRange", "this evening")),
    u("is it windy in dallas", "GetWeather", ("city", "dallas")),
    u("tell me the weather in phoenix at 5 pm", "GetWeather", ("city", "phoenix"), ("timeRange", "5 pm")),
    u("play some jazz in the kitchen", "PlayMusic", ("genre", "jazz"), ("room", "kitchen")),
    u("play the beatles please", "PlayMusic", ("artist", "the beatles")),
    u("play music by adele", "PlayMusic", ("artist", "adele")),
]


def one(label: str, value: str, intent: str = "BookRestaurant") -> Utterance:
    """A generated utterance with one slot."""
    return u(f"book it for {value} now", intent, (label, value))


def verdicts(utterances: list[Utterance], **options: float) -> list[str | None]:
    return PlausibleValueFilter(SEEDS, BASE, **options).check_many(utterances)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("city", "tulsa"),  # new city names, when the catalogue has cities
        ("city", "houston"),
        ("city", "portland"),
        ("city", "las vegas"),
        ("city", "salt lake city"),
        ("timeRange", "9 pm"),  # a new time for a slot with times
        ("timeRange", "10:15 am"),
        ("timeRange", "next friday"),
        ("party_size_number", "three"),  # a number for a slot of numbers, spelled or not
        ("party_size_number", "10"),
        ("city", "Boston"),  # a catalogue value (case aside) is never judged
        ("genre", "194"),  # genre has one value: too few to judge (min_values 3)
        ("room", "please"),
    ],
)
def test_right_values_pass(label: str, value: str) -> None:
    assert verdicts([one(label, value)]) == [None]


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("party_size_number", "in ten"),  # a carrier word with the number: no party size looks like that
        ("party_size_number", "tonight"),  # a time
        ("party_size_number", "a dozen"),
        ("city", "194"),  # a number where cities never have one
        ("city", "please"),  # carrier words
        ("city", "table"),
        ("city", "tonight"),  # a timeRange value
        ("timeRange", "boston"),  # a city
    ],
)
def test_wrong_values_fail(label: str, value: str) -> None:
    assert verdicts([one(label, value)]) == ["implausible_value"]


def test_the_first_bad_slot_is_enough_and_names_what_failed() -> None:
    utterance = u(
        "book a table for in ten in tulsa at 9 pm",
        "BookRestaurant",
        ("party_size_number", "in ten"),
        ("city", "tulsa"),
        ("timeRange", "9 pm"),
    )
    f = PlausibleValueFilter(SEEDS, BASE)
    assert f.implausible(utterance) == [("party_size_number", "in ten")]
    result = apply_filters([utterance, one("city", "tulsa")], SEEDS, ("plausible",), base=BASE)
    assert result.removed == [(utterance, "implausible_value")] and result.counts == {"implausible_value": 1}


def test_competitors_are_the_label_map_of_the_intent() -> None:
    """A city "tonight" loses to timeRange in BookRestaurant, whose seeds use timeRange; an intent without
    seeds offers only its own spans' labels, so there timeRange does not compete."""
    assert verdicts([one("city", "tonight"), one("city", "tonight", intent="Unseen")]) == ["implausible_value", None]


def test_tolerance_and_min_values() -> None:
    tonight, number = one("city", "tonight"), one("city", "194")
    assert verdicts([tonight, number], tolerance=10.0) == [None, "implausible_value"]  # a kind never seen still fails
    assert verdicts([one("genre", "194")], min_values=1) == ["implausible_value"]  # now genre is judged
    assert verdicts([number], min_values=20) == [None]  # no label has 20 values: nothing is judged
    f = build_filters(["plausible"], SEEDS, base=BASE, options={"plausible": {"tolerance": 0.5, "min_values": 4}})[0]
    assert isinstance(f, PlausibleValueFilter) and (f.tolerance, f.min_values) == (0.5, 4)


def test_without_data_everything_passes() -> None:
    assert PlausibleValueFilter().check_many([one("city", "194"), Utterance("no slots", "BookRestaurant")]) == [
        None,
        None,
    ]


def test_fitted_lazily_once_and_batched_equals_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    fits = []
    real_fit = plausible._fit

    def counting(members):
        fits.append(len(members))
        return real_fit(members)

    monkeypatch.setattr(plausible, "_fit", counting)
    generated = [one("city", v) for v in ("tulsa", "194", "please", "houston")] + [one("timeRange", "9 pm")]
    f = build_filters(["plausible"], SEEDS, base=BASE)[0]
    assert fits == []  # building is cheap
    batched = f.check_many(generated)
    assert len(fits) == 1
    alone = PlausibleValueFilter(SEEDS, BASE)
    one_by_one = [alone.check(g) for g in generated]  # no prepare: each value scored on its own
    assert batched == one_by_one == [None, "implausible_value", "implausible_value", None, None]
    f.check(one("city", "oslo"))
    assert len(fits) == 2  # each filter fitted once


def test_shape_features() -> None:
    assert shape_features("8:30") == {"tokens=1": 1.0, "shape=d:d": 1.0, "kind=numeric": 1.0}
    assert shape_features("New York") == {"tokens=2": 1.0, "shape=Xx Xx": 1.0, "kind=text": 1.0}
    assert shape_features("7 pm")["kind=mixed"] == 1.0 and "shape=d x" in shape_features("7 pm")
    assert "shape=X" in shape_features("USA")


def test_bad_options() -> None:
    for options in ({"tolerance": -1}, {"min_values": 0}, {"threshold": 0.5}):
        with pytest.raises(TvdError) as info:
            build_filters(["plausible"], options={"plausible": options})
        assert info.value.code == "E562" and "plausible" in info.value.message
