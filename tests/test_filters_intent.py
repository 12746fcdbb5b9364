"""The intent filter: a reference model's intent for the generated text must be the utterance's own."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from factories import THREE_INTENTS
from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.filters import FilterChain, IntentFilter, Reference, apply_filters, build_filters


class FakeReference:
    """Answers from a table: text -> (intent, confidence or None); unknown texts get ``Other``.  Counts calls
    and records what it was given."""

    def __init__(self, table: dict[str, tuple[str, float | None]]) -> None:
        self.table = table
        self.calls: list[list[str | Utterance]] = []

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self.calls.append(list(items))
        out = []
        for item in items:
            text = item.text if isinstance(item, Utterance) else item
            intent, confidence = self.table.get(text, ("Other", None))
            out.append(Utterance(text, intent, meta={} if confidence is None else {"intent_confidence": confidence}))
        return out


def gen(text: str, intent: str = "BookRestaurant", *slots: tuple[str, str]) -> Utterance:
    spans = []
    for label, value in slots:
        start = text.index(value)
        spans.append(Span(start, start + len(value), label))
    return Utterance(text, intent, tuple(spans), meta={"request_id": 1})


TABLE = {
    "book a table for two": ("BookRestaurant", 0.9),
    "reserve a spot for four": ("BookRestaurant", 0.4),
    "what is the weather for two": ("GetWeather", 0.8),
    "book me a table": ("BookRestaurant", None),
}


def test_the_fake_is_a_reference() -> None:
    assert isinstance(FakeReference({}), Reference)


def test_removes_what_the_reference_reads_as_another_intent() -> None:
    generated = [
        gen("book a table for two", "BookRestaurant", ("party_size_number", "two")),
        gen("what is the weather for two", "BookRestaurant", ("party_size_number", "two")),
        gen("something unknown"),
        gen("reserve a spot for four"),
    ]
    reference = FakeReference(TABLE)
    result = apply_filters(generated, filters=("intent",), reference=reference)
    assert result.kept == [generated[0], generated[3]]
    assert result.removed == [(generated[1], "intent_mismatch"), (generated[2], "intent_mismatch")]
    assert result.counts == {"intent_mismatch": 2}


def test_one_predict_call_per_batch_without_the_gold_annotation() -> None:
    generated = [gen(text) for text in TABLE] + [gen("book a table for two")]  # a repeated text is asked once
    reference = FakeReference(TABLE)
    chain = FilterChain(build_filters(["exact", "intent"], reference=reference))
    chain.apply(generated)
    assert len(reference.calls) == 1
    [asked] = reference.calls
    assert [a.text for a in asked] == list(TABLE)  # type: ignore[union-attr]
    assert all(isinstance(a, Utterance) and a.intent is None and not a.spans and not a.meta for a in asked)
    chain.apply([gen("book me a table"), gen("reserve a spot for four")])
    assert len(reference.calls) == 2  # the next batch: one more call


def test_margin_removes_the_right_intent_given_without_confidence() -> None:
    generated = [gen(text) for text in ("book a table for two", "reserve a spot for four", "book me a table")]
    kept = apply_filters(generated, filters=("intent",), reference=FakeReference(TABLE)).kept
    assert kept == generated  # margin 0: only the label counts
    result = apply_filters(
        generated, filters=("intent",), reference=FakeReference(TABLE), options={"intent": {"margin": 0.5}}
    )
    # 0.4 < 0.5 goes; 0.9 stays; no confidence at all: judged by the label alone
    assert [u.text for u in result.kept] == ["book a table for two", "book me a table"]
    assert result.removed == [(generated[1], "intent_mismatch")]


def test_one_by_one_checks_equal_the_batched_ones() -> None:
    generated = [gen(text) for text in (*TABLE, "nothing known")]
    batched = FakeReference(TABLE)
    expected = IntentFilter(batched, margin=0.5).check_many(generated)
    alone = FakeReference(TABLE)
    one_by_one = [IntentFilter(alone, margin=0.5).check(u) for u in generated]
    assert one_by_one == expected == [None, "intent_mismatch", "intent_mismatch", None, "intent_mismatch"]
    assert len(batched.calls) == 1 and len(alone.calls) == len(generated)


def test_built_directly_without_a_reference_it_names_itself() -> None:
    from tvd.filters.base import FilterContext

    with pytest.raises(TvdError) as info:
        IntentFilter.from_context(FilterContext())
    assert info.value.code == "E561" and "'intent'" in info.value.message
    assert IntentFilter.needs_reference is True


def test_a_real_crf_student_as_the_reference() -> None:
    """The protocol's real implementer: a CRF student fitted on a tiny hand-made set."""
    from tvd.students import make_student

    student = make_student("crf", max_iterations=20).fit(THREE_INTENTS)
    calls = []

    class Counting:
        def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
            calls.append(len(items))
            return student.predict(items)

    generated = [
        gen("play some rock in the kitchen", "PlayMusic", ("genre", "rock"), ("room", "kitchen")),
        gen("will it rain in denver tomorrow", "PlayMusic", ("city", "denver")),  # drifted to GetWeather
        gen("book a table for four in paris", "BookRestaurant", ("party_size", "four"), ("city", "paris")),
        gen("forecast for boston on friday", "GetWeather", ("city", "boston")),
    ]
    predicted = [p.intent for p in student.predict([g.text for g in generated])]
    assert predicted == ["PlayMusic", "GetWeather", "BookRestaurant", "GetWeather"]
    result = apply_filters(generated, filters=("intent",), reference=Counting())
    assert result.removed == [(generated[1], "intent_mismatch")]
    assert calls == [4]
    confident = apply_filters(generated, filters=("intent",), reference=student, options={"intent": {"margin": 1.0}})
    assert confident.kept == []  # no probability reaches 1


def test_confidence_keeps_what_the_reference_only_guesses_is_another_intent() -> None:
    table = {
        "what is the weather for two": ("GetWeather", 0.95),  # sure: removed
        "reserve a spot for four": ("GetWeather", 0.4),  # a guess: kept at confidence 0.8
        "book me a table": ("GetWeather", None),  # no confidence: the label decides
    }
    generated = [gen(text) for text in table]
    strict = apply_filters(generated, filters=("intent",), reference=FakeReference(table))
    assert strict.kept == []
    lenient = apply_filters(
        generated, filters=("intent",), reference=FakeReference(table), options={"intent": {"confidence": 0.8}}
    )
    assert lenient.kept == [generated[1]]
    assert [reason for _, reason in lenient.removed] == ["intent_mismatch", "intent_mismatch"]
    with pytest.raises(TvdError) as info:
        build_filters(["intent"], reference=FakeReference(table), options={"intent": {"confidence": 1.5}})
    assert info.value.code == "E562"
