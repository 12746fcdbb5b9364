"""Seed cross-validation: folds, copies of held-out seeds left out, negatives, the verdict, errors, determinism."""

from __future__ import annotations

import json

import pytest

from factories import bio
from tvd.errors import TvdError
from tvd.evaluate.seed_validation import SCORES, estimate_gain, fold_indices
from tvd.filters.base import normalise
from tvd.filters.template import template_of
from tvd.students import make_student

INTENT = "BookRestaurant"

BASE = [
    *(
        bio(f"play some {genre} music", "O O B-genre O", "PlayMusic")
        for genre in ("jazz", "rock", "pop", "blues", "soul", "metal", "techno", "folk", "punk")
    ),
    *(
        bio(f"what is the weather in {city}", "O O O O O B-city", "GetWeather")
        for city in ("boston", "denver", "austin", "paris", "rome", "oslo", "lima", "cairo", "kyoto")
    ),
    *(
        bio(f"add {artist} to my playlist", "O B-artist O O O", "AddToPlaylist")
        for artist in ("adele", "madonna", "prince", "beyonce", "drake", "shakira", "rihanna", "bjork", "sting")
    ),
]
SEEDS = [
    bio("book a table in paris", "O O O O B-city", INTENT),
    bio("reserve a table for four", "O O O O B-party_size_number", INTENT),
    bio("book a restaurant in rome for two", "O O O O B-city O B-party_size_number", INTENT),
    bio("i need a table at a pizzeria", "O O O O O O B-restaurant_type", INTENT),
    bio("get me a table for six in oslo", "O O O O O B-party_size_number O B-city", INTENT),
    bio("reserve a bistro for tonight", "O O B-restaurant_type O B-timeRange", INTENT),
]
GENERATED = [
    bio("book a table in paris", "O O O O B-city", INTENT),  # the first seed, word for word
    bio("reserve a table for eight", "O O O O B-party_size_number", INTENT),  # the second seed's template
    bio("find me a table in lima", "O O O O O B-city", INTENT),
    bio("i would like to reserve a table for three", "O O O O O O O O B-party_size_number", INTENT),
    bio("book a steakhouse in cairo", "O O B-restaurant_type O B-city", INTENT),
    bio("is there a pizzeria near lima", "O O O B-restaurant_type O B-city", INTENT),  # only the fourth seed's value
]


def _student():
    return make_student("crf", max_iterations=10)


def _copies_of(seed_indices: list[int]) -> int:
    texts = {normalise(SEEDS[i].text) for i in seed_indices}
    templates = {template_of(SEEDS[i]) for i in seed_indices}
    return sum(normalise(g.text) in texts or template_of(g) in templates for g in GENERATED)


def _pizzeria_held_out(seed_indices: list[int]) -> int:
    return int(3 in seed_indices)


def test_folds_partition_the_seeds_evenly_and_follow_the_seed() -> None:
    folds = fold_indices(7, 3, seed=0)
    assert sorted(i for fold in folds for i in fold) == list(range(7))
    assert sorted(len(fold) for fold in folds) == [2, 2, 3]
    assert fold_indices(7, 3, seed=0) == folds
    assert any(fold_indices(7, 3, seed=s) != folds for s in (1, 2, 3))


def test_each_fold_leaves_out_the_copies_of_its_held_out_seeds_and_holds_out_other_intents() -> None:
    result = estimate_gain(INTENT, BASE, SEEDS, GENERATED, _student, folds=3, seed=0, seed_weight=2)
    assert result.folds == 3 == len(result.fold_results)
    assert result.n_seeds == 6 and result.n_generated == 6
    assert sum(f.held_out for f in result.fold_results) == 6
    # 3 negatives per seed wanted (18), at most a third of each other intent's 9 utterances: 3 x 3
    assert sum(f.negatives for f in result.fold_results) == 9
    copies, values = [], []
    for fold, indices in zip(result.fold_results, fold_indices(6, 3, seed=0), strict=True):
        assert fold.held_out == len(indices)
        assert fold.copies_removed == _copies_of(indices)
        assert fold.values_removed == _pizzeria_held_out(indices)
        copies.append(fold.copies_removed)
        values.append(fold.values_removed)
        usable = len(GENERATED) - fold.copies_removed - fold.values_removed
        train_seeds = 6 - len(indices)
        # baseline: the 27 - 9 base utterances not held out + the other folds' seeds
        assert fold.train_sizes["baseline"] == 18 + train_seeds
        assert fold.train_sizes["augmented"] == 18 + 2 * train_seeds + usable  # seeds twice (seed_weight 2)
    assert sum(copies) == 2  # the exact copy and the template copy, each in its seed's fold
    assert sum(values) == 1  # "pizzeria": no other seed and no base utterance has it
    kept_all = estimate_gain(INTENT, BASE, SEEDS, GENERATED, _student, folds=3, drop_held_out_values=False)
    assert [f.values_removed for f in kept_all.fold_results] == [0, 0, 0]
    assert [f.copies_removed for f in kept_all.fold_results] == copies


def test_base_per_intent_caps_the_training_sample() -> None:
    result = estimate_gain(INTENT, BASE, SEEDS, [], _student, folds=2, base_per_intent=2)
    assert [f.train_sizes["baseline"] for f in result.fold_results] == [3 * 2 + 3, 3 * 2 + 3]


def test_no_generated_data_changes_nothing_and_is_uncertain() -> None:
    result = estimate_gain(INTENT, BASE, SEEDS, [], _student, folds=3)
    assert result.delta == dict.fromkeys(SCORES, 0.0) and result.delta_se == dict.fromkeys(SCORES, 0.0)
    assert result.baseline == result.augmented
    assert result.verdict == "uncertain" and result.recommended == "augmented"
    assert "uncertain" in result.summary_line()


def test_generated_data_that_takes_other_intents_is_recommended_against() -> None:
    stolen = [
        bio(text, "O " * (len(text.split()) - 1) + "O", INTENT)
        for text in (
            "play some music",
            "play some jazz music now",
            "what is the weather",
            "what is the weather today",
            "add this to my playlist",
            "add it to my playlist",
            "play some music please",
            "what is the weather like",
        )
    ]
    result = estimate_gain(INTENT, BASE, SEEDS, stolen * 3, _student, folds=3)
    assert result.delta["ic_precision"] < 0
    assert result.score < 0 and result.recommended == "baseline"
    assert result.verdict in {"baseline", "uncertain"}
    assert "recommended: baseline" in result.summary_line()


def test_the_estimate_reports_pooled_scores_deltas_and_its_spread() -> None:
    lines: list[str] = []
    result = estimate_gain(INTENT, BASE, SEEDS, GENERATED, _student, folds=3, log=lines.append)
    assert len(lines) == 3 and lines[0].startswith("seed cross-validation fold 1/3")
    for key in SCORES:
        assert 0.0 <= result.baseline[key] <= 1.0 and 0.0 <= result.augmented[key] <= 1.0
        assert result.delta[key] == pytest.approx(result.augmented[key] - result.baseline[key])
        assert result.delta_se[key] >= 0.0
    assert result.score == pytest.approx(sum(result.delta.values()) / 3)
    assert result.recommended == ("augmented" if result.score >= 0 else "baseline")
    assert result.verdict == ("uncertain" if abs(result.score) <= result.score_se else result.recommended)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["recommended"] == result.recommended and len(record["fold_results"]) == 3
    assert set(record["fold_results"][0]["delta"]) == set(SCORES)
    line = result.summary_line()
    assert line.startswith("seed cross-validation (3 folds, no test set needed): slot F1 ")
    assert "±" in line and f"-> recommended: {result.recommended}" in line


def test_the_estimate_is_deterministic() -> None:
    def run(seed: int) -> dict:
        record = estimate_gain(INTENT, BASE, SEEDS, GENERATED, _student, folds=3, seed=seed).to_dict()
        record.pop("seconds")
        return record

    first = run(0)
    assert run(0) == first
    assert any(run(s)["fold_results"] != first["fold_results"] for s in (1, 2))


@pytest.mark.parametrize("folds", [0, 1, 7])
def test_folds_out_of_range_are_e513(folds: int) -> None:
    with pytest.raises(TvdError) as info:
        estimate_gain(INTENT, BASE, SEEDS, GENERATED, _student, folds=folds)
    assert info.value.code == "E513" and "6" in info.value.message and info.value.fix


def test_a_seed_of_another_intent_is_refused() -> None:
    with pytest.raises(TvdError) as info:
        estimate_gain(INTENT, BASE, [*SEEDS, BASE[0]], GENERATED, _student, folds=2)
    assert info.value.code == "E512"
