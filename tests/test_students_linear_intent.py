"""The fast intent scorer gives the fitted scikit-learn pipeline's own numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from tvd.formats import read_dataset
from tvd.students.crf import CrfStudent
from tvd.students.linear_intent import LinearIntentScorer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "new-intent"


@pytest.fixture(scope="module")
def utterances():
    base = read_dataset(EXAMPLE / "base.jsonl", "jsonl").utterances
    test = read_dataset(EXAMPLE / "test.jsonl", "jsonl").utterances
    return base, test


def _pipeline(student: CrfStudent) -> Pipeline:
    assert isinstance(student._pipeline, Pipeline) and isinstance(student._intent, LinearIntentScorer)
    return student._pipeline


@pytest.mark.parametrize("intent_model", ["svm", "logreg"])
@pytest.mark.parametrize("n_intents", [2, 6])
def test_scores_equal_the_pipeline(utterances, intent_model, n_intents) -> None:
    base, test = utterances
    intents = sorted({u.intent for u in base})[:n_intents]
    train = [u for u in base if u.intent in intents]
    student = CrfStudent(intent_model=intent_model, max_iterations=5).fit(train)
    pipeline = _pipeline(student)
    scorer = LinearIntentScorer(pipeline)
    texts = [u.text for u in test] + ["", "zzzz qqqq", "Play THE Song!"]  # unseen n-grams only, upper case
    decision = scorer.decision_function(texts)
    np.testing.assert_allclose(decision, pipeline.decision_function(texts), rtol=1e-9, atol=1e-12)
    if intent_model == "logreg":
        np.testing.assert_allclose(scorer.scores(texts), pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)
    assert list(scorer.classes_[scorer.scores(texts).argmax(axis=1)]) == list(pipeline.predict(texts))
    predicted = student.predict(texts)
    assert [p.intent for p in predicted] == list(pipeline.predict(texts))
    assert all(0.0 <= p.meta["intent_confidence"] <= 1.0 for p in predicted)


def test_other_pipelines_are_refused() -> None:
    binary = Pipeline(
        [("tfidf", FeatureUnion([("w", TfidfVectorizer(binary=True))])), ("clf", _fitted_svm())],
    )
    with pytest.raises(ValueError, match="TfidfVectorizer"):
        LinearIntentScorer(binary)
    with pytest.raises(ValueError, match="pipeline"):
        LinearIntentScorer(Pipeline([("clf", _fitted_svm())]))


def _fitted_svm():
    from sklearn.svm import LinearSVC

    return LinearSVC().fit(np.eye(3), [0, 1, 1])


@pytest.mark.parametrize("intent_model", ["svm", "logreg"])
@pytest.mark.parametrize("n_intents", [2, 6])
def test_to_and_from_arrays_give_the_same_scores_as_data(utterances, intent_model, n_intents, tmp_path) -> None:
    import json

    base, test = utterances
    intents = sorted({u.intent for u in base})[:n_intents]
    student = CrfStudent(intent_model=intent_model, max_iterations=5).fit([u for u in base if u.intent in intents])
    scorer = LinearIntentScorer(_pipeline(student))
    description, arrays = scorer.to_arrays()
    # through JSON text and an .npz read without pickle, as the crf student saves them
    np.savez(tmp_path / "a.npz", **arrays)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        rebuilt = LinearIntentScorer.from_arrays(json.loads(json.dumps(description)), {k: npz[k] for k in npz.files})
    assert description["classifier"] == intent_model and description["classes"] == intents
    texts = [u.text for u in test] + ["", "zzzz qqqq", "Play THE Song!"]
    assert np.array_equal(rebuilt.scores(texts), scorer.scores(texts))  # bit-identical
    assert np.array_equal(rebuilt.decision_function(texts), scorer.decision_function(texts))
    assert list(rebuilt.classes_) == list(scorer.classes_)


def test_malformed_descriptions_are_refused(utterances) -> None:
    base, _ = utterances
    intents = sorted({u.intent for u in base})[:3]
    student = CrfStudent(max_iterations=5).fit([u for u in base if u.intent in intents])
    description, arrays = LinearIntentScorer(_pipeline(student)).to_arrays()
    word = description["vectorisers"][0]
    bad_descriptions = [
        {**description, "format": 99},
        {**description, "classifier": "forest"},
        {**description, "classes": intents[:2]},  # fewer classes than coefficient rows
        {**description, "vectorisers": [{**word, "analyzer": "callable"}, *description["vectorisers"][1:]]},
        {**description, "vectorisers": [{**word, "ngram_range": [3, 1]}, *description["vectorisers"][1:]]},
        {
            **description,
            "vectorisers": [{**word, "vocabulary": word["vocabulary"][:-1]}, *description["vectorisers"][1:]],
        },
        {**description, "vectorisers": [{**word, "preprocessor": "os.system"}, *description["vectorisers"][1:]]},
    ]
    for bad in bad_descriptions:
        with pytest.raises(ValueError):
            LinearIntentScorer.from_arrays(bad, arrays)
    for bad_arrays in ({k: v for k, v in arrays.items() if k != "coef"}, {**arrays, "coef": arrays["coef"][:, :-1]}):
        with pytest.raises(ValueError):
            LinearIntentScorer.from_arrays(description, bad_arrays)
    with pytest.raises(ValueError):
        LinearIntentScorer.from_arrays(description, {**arrays, "intercept": arrays["intercept"].astype(np.float32)})


def test_a_pipeline_with_a_custom_analyzer_is_not_turned_into_data() -> None:
    custom = Pipeline(
        [
            ("tfidf", FeatureUnion([("w", TfidfVectorizer(analyzer=str.split).fit(["a b", "b c"]))])),
            ("clf", _fitted_svm()),
        ]
    )
    with pytest.raises(ValueError, match="custom"):
        LinearIntentScorer(custom)
