"""Intent and slot metrics against hand-computed values and against seqeval's default (conlleval) mode."""

from __future__ import annotations

import json
import math
import random

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from factories import tagged
from tvd.data.utterance import Span, Utterance
from tvd.errors import TvdError
from tvd.evaluate import evaluate, slot_scores
from tvd.evaluate.metrics import proportion_se, spans_to_tags

utt = tagged


GOLD = [
    utt("play adele on spotify", "PlayMusic", ("artist", "adele"), ("service", "spotify")),
    utt("weather in paris today", "GetWeather", ("city", "paris"), ("date", "today")),
    utt("weather in rome", "GetWeather", ("city", "rome")),
    utt("weather in rome", "GetWeather", ("city", "rome")),
]
PRED = [
    utt("play adele on spotify", "PlayMusic", ("artist", "adele")),  # a missed slot
    utt("weather in paris today", "PlayMusic", ("city", "paris"), ("date", "today")),  # wrong intent
    utt("weather in rome", "GetWeather", ("city", "in rome")),  # wrong extent
    utt("weather in rome", "GetWeather", ("city", "rome")),  # all right
]


def test_hand_computed_scores() -> None:
    m = evaluate(GOLD, PRED)
    assert m.n == 4
    assert m.intent_accuracy == pytest.approx(3 / 4)
    assert m.intent_accuracy_se == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    # gold chunks 6, predicted 5, correct 4
    assert (m.slots.n_gold, m.slots.n_pred, m.slots.n_correct) == (6, 5, 4)
    assert m.slot_precision == pytest.approx(4 / 5)
    assert m.slot_recall == pytest.approx(4 / 6)
    assert m.slot_f1 == pytest.approx(2 * 4 / (6 + 5))
    assert m.sentence_accuracy == pytest.approx(1 / 4)
    assert m.sentence_accuracy_se == pytest.approx(math.sqrt(0.25 * 0.75 / 4))

    music, weather = m.per_intent["PlayMusic"], m.per_intent["GetWeather"]
    assert (music.support, music.predicted, music.precision, music.recall) == (1, 2, 0.5, 1.0)
    assert music.f1 == pytest.approx(2 / 3)
    assert (weather.support, weather.predicted, weather.precision) == (3, 2, 1.0)
    assert weather.recall == pytest.approx(2 / 3) and weather.f1 == pytest.approx(0.8)
    assert weather.recall_se == pytest.approx(proportion_se(2 / 3, 3))
    assert m.intent_recall("GetWeather") == pytest.approx(2 / 3) and m.intent_recall("Nope") == 0.0

    # slots restricted to gold intent: PlayMusic 2 gold / 1 pred / 1 right; GetWeather 4 / 4 / 3
    assert m.slot_f1_for_intent("PlayMusic") == pytest.approx(2 / 3)
    assert m.slot_f1_for_intent("GetWeather") == pytest.approx(0.75)
    assert m.slot_scores_for_intent("GetWeather").n_utterances == 3
    city = m.per_slot_label["city"]
    assert (city.n_gold, city.n_pred, city.n_correct) == (3, 3, 2)
    with pytest.raises(TvdError) as info:
        m.slot_f1_for_intent("BookRestaurant")
    assert info.value.code == "E411"


def test_to_dict_is_json_ready() -> None:
    metrics = evaluate(GOLD, PRED)
    assert type(metrics.slots.f1) is float and type(metrics.slots.f1_se) is float  # no numpy scalars
    record = json.loads(json.dumps(metrics.to_dict()))
    assert record["intent_accuracy"] == pytest.approx(0.75)
    assert record["slots"]["f1"] == pytest.approx(8 / 11)
    assert record["per_intent"]["PlayMusic"]["support"] == 1
    assert record["per_intent_slots"]["GetWeather"]["f1"] == pytest.approx(0.75)


def test_perfect_predictions() -> None:
    m = evaluate(GOLD, GOLD)
    assert m.intent_accuracy == m.slot_f1 == m.sentence_accuracy == 1.0
    assert m.slots.f1_se == 0.0 and m.intent_accuracy_se == 0.0


def test_i_after_o_is_read_as_conlleval_does() -> None:
    # conlleval: an I-x after O opens an x chunk, so this prediction is right; strict IOB2 drops the chunk.
    gold = [["O", "B-x", "I-x"], ["B-y", "O"]]
    pred = [["O", "I-x", "I-x"], ["B-y", "O"]]
    scores = slot_scores(gold, pred)
    assert (scores.n_gold, scores.n_pred, scores.n_correct) == (2, 2, 2)
    assert scores.f1 == 1.0 == f1_score(gold, pred)
    assert f1_score(gold, pred, mode="strict", scheme=IOB2) == pytest.approx(2 / 3)  # what we must not report

    # Same through utterances: from_bio reads the I- tag as a chunk start, and predicted spans land on it.
    gold_u = Utterance.from_bio(["play", "adele", "now"], ["O", "B-artist", "O"], intent="PlayMusic")
    pred_u = Utterance.from_bio(["play", "adele", "now"], ["O", "I-artist", "O"], intent="PlayMusic")
    assert evaluate([gold_u], [pred_u]).sentence_accuracy == 1.0


def test_i_of_another_type_starts_a_new_chunk() -> None:
    gold = [["B-x", "I-x", "O"]]
    pred = [["B-x", "I-y", "O"]]  # conlleval: x over token 0, y over token 1 -> nothing right
    scores = slot_scores(gold, pred)
    assert (scores.n_gold, scores.n_pred, scores.n_correct) == (1, 2, 0)
    assert scores.f1 == 0.0 == f1_score(gold, pred)


def test_matches_seqeval_default_mode_on_random_tag_sequences() -> None:
    rng = random.Random(3)
    tags = ["O", "O", "O", "B-a", "I-a", "B-b", "I-b"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 8))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in seq] for seq in gold]
    scores = slot_scores(gold, pred)
    assert scores.precision == pytest.approx(precision_score(gold, pred))
    assert scores.recall == pytest.approx(recall_score(gold, pred))
    assert scores.f1 == pytest.approx(f1_score(gold, pred))
    assert scores.f1 != pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))


def test_bootstrap_standard_error_is_deterministic_and_plausible() -> None:
    # 400 utterances, one gold chunk each; 320 predicted right, the rest predict nothing.
    gold = [["B-x", "O"]] * 400
    pred = [["B-x", "O"]] * 320 + [["O", "O"]] * 80
    first, second = slot_scores(gold, pred), slot_scores(gold, pred)
    assert first == second
    assert first.recall == pytest.approx(0.8) and first.precision == 1.0 and first.precision_se == 0.0
    # one chunk per utterance: the recall is a plain proportion, sqrt(.8 * .2 / 400) = 0.02
    assert first.recall_se == pytest.approx(0.02, rel=0.15)
    assert 0 < first.f1_se < first.recall_se


def test_predicted_spans_are_scored_on_gold_tokens() -> None:
    # Gold tokenised by its source (Japanese); the prediction's spans cover parts of tokens.
    tokens = ((0, 2), (2, 3), (3, 5))
    gold = Utterance("東京の天気", "GetWeather", (Span(0, 2, "city"),), "ja", tokens)
    partial = Utterance("東京の天気", "GetWeather", (Span(0, 1, "city"),), "ja")
    spill = Utterance("東京の天気", "GetWeather", (Span(1, 3, "city"),), "ja")
    assert spans_to_tags(tokens, partial.spans) == ["B-city", "O", "O"]
    assert evaluate([gold], [partial]).slot_f1 == 1.0
    assert spans_to_tags(tokens, spill.spans) == ["B-city", "I-city", "O"]
    assert evaluate([gold], [spill]).slot_f1 == 0.0
    # two predicted spans in one token: the first keeps it, the second is dropped
    assert spans_to_tags(tokens, [Span(0, 1, "a"), Span(1, 2, "b")]) == ["B-a", "O", "O"]


def test_misaligned_inputs_are_errors() -> None:
    with pytest.raises(TvdError) as info:
        evaluate(GOLD, PRED[:3])
    assert info.value.code == "E410"
    with pytest.raises(TvdError) as info:
        evaluate(GOLD[:1], [utt("play adele on deezer", "PlayMusic")])
    assert info.value.code == "E410" and "utterance 0" in info.value.message
    with pytest.raises(TvdError) as info:
        evaluate([utt("hello", None)], [utt("hello", "Greet")])
    assert info.value.code == "E411"
    with pytest.raises(TvdError) as info:
        slot_scores([["O"]], [["O", "O"]])
    assert info.value.code == "E410"
    with pytest.raises(TvdError) as info:
        evaluate([], [])
    assert info.value.code == "E410"


def test_predicted_missing_intent_counts_as_wrong() -> None:
    m = evaluate(GOLD[:1], [GOLD[0].replace(intent=None)])
    assert m.intent_accuracy == 0.0 and m.slot_f1 == 1.0 and m.sentence_accuracy == 0.0


def test_headline_and_focus_scores() -> None:
    m = evaluate(GOLD, PRED)
    assert m.headline() == {"intent_acc": m.intent_accuracy, "slot_f1": m.slot_f1, "sentence_acc": m.sentence_accuracy}
    assert m.headline(percent=True) == {key: round(100 * value, 2) for key, value in m.headline().items()}
    intent = GOLD[0].intent
    assert intent is not None
    assert m.focus(intent) == {
        "ic_recall": m.per_intent[intent].recall,
        "ic_precision": m.per_intent[intent].precision,
        "slot_f1": m.slot_f1_for_intent(intent),
        "intent_acc": m.intent_accuracy,
        "overall_slot_f1": m.slot_f1,
        "sentence_acc": m.sentence_accuracy,
    }
    with pytest.raises(TvdError) as info:
        m.focus("NoSuchIntent")
    assert info.value.code == "E411"
