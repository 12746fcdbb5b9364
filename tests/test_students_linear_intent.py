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
    assert isinstance(student._intent, Pipeline)
    return student._intent


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
