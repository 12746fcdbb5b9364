"""Fast scoring of a fitted TF-IDF + linear intent pipeline, one utterance at a time.

The CRF student's intent classifier is a scikit-learn ``Pipeline([("tfidf", FeatureUnion([...
TfidfVectorizer ...])), ("clf", LinearSVC | LogisticRegression)])``.  Calling it for one utterance costs about
1.5 ms, nearly all of it per-call machinery (input validation, sparse matrix construction, normalisation
helpers), not arithmetic.  :class:`LinearIntentScorer` reads the fitted parameters once (each vectoriser's own
analyzer, vocabulary and idf weights; the classifier's ``coef_`` and ``intercept_``) and computes the same
decision scores with a dictionary lookup per n-gram and one small matrix product:

    score(text) = sum over vectorisers v of  normalise_l2( tf(v, text) * idf_v ) @ coef[:, v's columns].T  + b

with ``tf = 1 + log(count)`` under ``sublinear_tf``.  The n-grams come from the vectoriser's own
``build_analyzer()``, so tokenisation, lower-casing and character n-grams are exactly scikit-learn's.  The test
``tests/test_students_linear_intent.py`` checks the scores against the pipeline's ``decision_function`` and
``predict_proba`` on real text.  Pipelines of another shape are refused with ``ValueError`` (the caller then uses
the pipeline itself).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC


@dataclass(frozen=True)
class _Vectoriser:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray | None
    sublinear: bool
    offset: int  # the first column of this vectoriser in the union's output


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of decision scores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class LinearIntentScorer:
    """The decision scores (and class scores) of a fitted TF-IDF + linear pipeline, without its per-call cost."""

    def __init__(self, pipeline: Pipeline) -> None:
        union, classifier = pipeline.named_steps.get("tfidf"), pipeline.named_steps.get("clf")
        if not isinstance(union, FeatureUnion) or not isinstance(classifier, LinearSVC | LogisticRegression):
            raise ValueError("not a TF-IDF FeatureUnion + LinearSVC/LogisticRegression pipeline")
        vectorisers: list[_Vectoriser] = []
        offset = 0
        for _, step in union.transformer_list:
            if not isinstance(step, TfidfVectorizer) or step.norm != "l2" or step.binary:
                raise ValueError("only l2-normalised, non-binary TfidfVectorizer steps are supported")
            idf = np.asarray(step.idf_, dtype=np.float64) if step.use_idf else None
            vectorisers.append(
                _Vectoriser(step.build_analyzer(), step.vocabulary_, idf, bool(step.sublinear_tf), offset)
            )
            offset += len(step.vocabulary_)
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        if coef.shape[1] != offset:
            raise ValueError(f"the classifier has {coef.shape[1]} features, the vectorisers {offset}")
        self._vectorisers = vectorisers
        self._coef_t = np.ascontiguousarray(coef.T)  # (features, classes or 1)
        self._intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        self._probabilistic = isinstance(classifier, LogisticRegression)
        self.classes_ = classifier.classes_

    def _features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and TF-IDF values of one text (the union's row, without explicit zeros)."""
        columns: list[int] = []
        values: list[float] = []
        for vec in self._vectorisers:
            counts = Counter(gram for gram in vec.analyzer(text) if gram in vec.vocabulary)
            if not counts:
                continue
            index = [vec.vocabulary[gram] for gram in counts]
            weights = np.fromiter(
                ((1.0 + math.log(c)) if vec.sublinear else float(c) for c in counts.values()), np.float64, len(counts)
            )
            if vec.idf is not None:
                weights *= vec.idf[index]
            norm = math.sqrt(float(weights @ weights))
            if norm > 0:
                weights /= norm
            columns.extend(i + vec.offset for i in index)
            values.extend(weights.tolist())
        return np.asarray(columns, dtype=np.intp), np.asarray(values, dtype=np.float64)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """What ``pipeline.decision_function(texts)`` returns: (n, classes), or (n,) for two classes."""
        rows = []
        for text in texts:
            columns, values = self._features(text)
            rows.append(values @ self._coef_t[columns] + self._intercept)
        scores = np.vstack(rows) if rows else np.zeros((0, self._coef_t.shape[1]))
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Class scores (n, classes): ``predict_proba`` for logistic regression, the softmax of the decision
        scores for the SVM (a monotone score in [0, 1], not a calibrated probability)."""
        decision: Any = self.decision_function(texts)
        if decision.ndim == 1:
            if self._probabilistic:
                positive = expit(decision)
                return np.column_stack([1.0 - positive, positive])
            decision = np.column_stack([-decision, decision])
        return softmax(decision)
