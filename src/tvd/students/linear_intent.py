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

These parameters are all a scorer is, so they are also how it is saved: :meth:`LinearIntentScorer.to_arrays`
gives a JSON-able description (each vectoriser's analyzer parameters, its vocabulary as the list of its terms
in column order, ``sublinear_tf`` and ``use_idf``; the classes; which classifier) and the numeric arrays
(``coef``, ``intercept``, ``idf_<k>`` per vectoriser, float64), and :meth:`LinearIntentScorer.from_arrays`
rebuilds the same scorer from them (the analyzer comes from an unfitted ``TfidfVectorizer`` with the recorded
parameters, so it is again scikit-learn's own).  A scorer built either way computes the same floating-point
operations on the same numbers, so a saved and loaded CRF student's confidences are bit-identical.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

#: the TfidfVectorizer parameters that decide how a text becomes n-grams (all a saved vectoriser records of them)
ANALYZER_PARAMS = ("analyzer", "ngram_range", "lowercase", "strip_accents", "token_pattern", "stop_words")
VECTORISER_FIELDS = (*ANALYZER_PARAMS, "sublinear_tf", "use_idf", "vocabulary")  # a saved vectoriser: these only
ANALYZERS = ("word", "char", "char_wb")
CLASSIFIERS = {"svm": LinearSVC, "logreg": LogisticRegression}  # saved name -> the classifier it scores as
DESCRIPTION_FORMAT = 1


@dataclass(frozen=True)
class _Vectoriser:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray | None
    sublinear: bool
    offset: int  # the first column of this vectoriser in the union's output
    params: dict[str, Any]  # ANALYZER_PARAMS, JSON-able (ngram_range a list)


def _analyzer_params(step: TfidfVectorizer) -> dict[str, Any]:
    """The analyzer parameters of a vectoriser as JSON values; ``ValueError`` where one is not data."""
    if step.preprocessor is not None or step.tokenizer is not None or step.analyzer not in ANALYZERS:
        raise ValueError("only TfidfVectorizer steps without a custom preprocessor, tokenizer or analyzer are saved")
    if step.input != "content":
        raise ValueError("only TfidfVectorizer steps that read their input as text (input='content') are supported")
    stop_words = step.stop_words
    if stop_words is not None and not isinstance(stop_words, str):
        stop_words = sorted(str(w) for w in stop_words)
    return {
        "analyzer": step.analyzer,
        "ngram_range": [int(step.ngram_range[0]), int(step.ngram_range[1])],
        "lowercase": bool(step.lowercase),
        "strip_accents": step.strip_accents,
        "token_pattern": step.token_pattern,
        "stop_words": stop_words,
    }


def _build_analyzer(params: Mapping[str, Any]) -> Callable[[str], list[str]]:
    """scikit-learn's own analyzer for recorded parameters (checked to be plain data of the expected types)."""
    if set(params) != set(ANALYZER_PARAMS):
        raise ValueError(f"a vectoriser records the analyzer parameters {list(ANALYZER_PARAMS)}, got {sorted(params)}")
    low_high = params["ngram_range"]
    if (
        params["analyzer"] not in ANALYZERS
        or not (isinstance(low_high, list | tuple) and len(low_high) == 2)
        or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 64 for n in low_high)
        or low_high[0] > low_high[1]
        or not isinstance(params["lowercase"], bool)
        or params["strip_accents"] not in (None, "ascii", "unicode")
        or not (params["token_pattern"] is None or isinstance(params["token_pattern"], str))
        or not (
            params["stop_words"] in (None, "english")
            or (isinstance(params["stop_words"], list) and all(isinstance(w, str) for w in params["stop_words"]))
        )
    ):
        raise ValueError(f"invalid analyzer parameters {dict(params)!r}")
    vectoriser = TfidfVectorizer(
        analyzer=params["analyzer"],
        ngram_range=(low_high[0], low_high[1]),
        lowercase=params["lowercase"],
        strip_accents=params["strip_accents"],
        token_pattern=params["token_pattern"],
        stop_words=params["stop_words"],
    )
    return vectoriser.build_analyzer()


def _float_array(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"the array {name!r} is missing")
    array = np.asarray(arrays[name])
    if array.dtype != np.float64:
        raise ValueError(f"the array {name!r} is {array.dtype}, not float64")
    return array


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
        steps: list[tuple[dict[str, Any], dict[str, int], np.ndarray | None, bool]] = []
        for _, step in union.transformer_list:
            if not isinstance(step, TfidfVectorizer) or step.norm != "l2" or step.binary:
                raise ValueError("only l2-normalised, non-binary TfidfVectorizer steps are supported")
            idf = np.asarray(step.idf_, dtype=np.float64) if step.use_idf else None
            steps.append((_analyzer_params(step), dict(step.vocabulary_), idf, bool(step.sublinear_tf)))
        self._build(
            steps,
            np.asarray(classifier.coef_, dtype=np.float64),
            np.asarray(classifier.intercept_, dtype=np.float64),
            classifier.classes_,
            "logreg" if isinstance(classifier, LogisticRegression) else "svm",
        )

    def _build(
        self,
        steps: Sequence[tuple[dict[str, Any], dict[str, int], np.ndarray | None, bool]],
        coef: np.ndarray,
        intercept: np.ndarray,
        classes: Any,
        classifier: str,
    ) -> None:
        """Set the scorer from its parameters (both constructors end here, so both score alike)."""
        vectorisers: list[_Vectoriser] = []
        offset = 0
        for params, vocabulary, idf, sublinear in steps:
            columns = sorted(vocabulary.values())
            if columns != list(range(len(vocabulary))):
                raise ValueError("a vocabulary's columns are not 0..n-1")
            if idf is not None and idf.shape != (len(vocabulary),):
                raise ValueError(f"an idf vector of shape {idf.shape} for a vocabulary of {len(vocabulary)} terms")
            vectorisers.append(_Vectoriser(_build_analyzer(params), vocabulary, idf, sublinear, offset, params))
            offset += len(vocabulary)
        classes = np.asarray(classes)
        rows = 1 if len(classes) == 2 else len(classes)
        if len(classes) < 2 or coef.shape != (rows, offset) or intercept.shape != (rows,):
            raise ValueError(
                f"a classifier of coef {coef.shape} and intercept {intercept.shape} for {len(classes)} classes and "
                f"{offset} features"
            )
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; expected one of {', '.join(CLASSIFIERS)}")
        self._vectorisers = vectorisers
        self._coef = coef
        self._coef_t = np.ascontiguousarray(coef.T)  # (features, classes or 1)
        self._intercept = intercept
        self._classifier = classifier
        self._probabilistic = classifier == "logreg"
        self.classes_ = classes

    # -- as data ------------------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The scorer as a JSON-able description and float64 arrays (see the module docstring); what
        :meth:`from_arrays` takes back."""
        arrays: dict[str, np.ndarray] = {"coef": self._coef, "intercept": self._intercept}
        vectorisers = []
        for k, vec in enumerate(self._vectorisers):
            terms = sorted(vec.vocabulary, key=vec.vocabulary.__getitem__)
            vectorisers.append(
                {**vec.params, "sublinear_tf": vec.sublinear, "use_idf": vec.idf is not None, "vocabulary": terms}
            )
            if vec.idf is not None:
                arrays[f"idf_{k}"] = vec.idf
        description = {
            "format": DESCRIPTION_FORMAT,
            "classifier": self._classifier,
            "classes": [str(c) for c in self.classes_],
            "vectorisers": vectorisers,
        }
        return description, arrays

    @classmethod
    def from_arrays(cls, description: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Self:
        """The scorer :meth:`to_arrays` described; ``ValueError`` when the description or arrays are malformed."""
        if not isinstance(description, Mapping) or description.get("format") != DESCRIPTION_FORMAT:
            raise ValueError(f"not a linear intent scorer description of format {DESCRIPTION_FORMAT}")
        classes, entries = description.get("classes"), description.get("vectorisers")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError("classes must be a list of strings")
        if not isinstance(entries, list) or not entries:
            raise ValueError("vectorisers must be a non-empty list")
        steps = []
        for k, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ValueError(f"vectoriser {k} is not an object")
            if set(entry) != set(VECTORISER_FIELDS):
                raise ValueError(f"vectoriser {k} records {sorted(entry)}, not {sorted(VECTORISER_FIELDS)}")
            params = {name: entry[name] for name in ANALYZER_PARAMS}
            terms, sublinear, use_idf = entry.get("vocabulary"), entry.get("sublinear_tf"), entry.get("use_idf")
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise ValueError(f"vectoriser {k}: vocabulary must be a list of strings")
            if len(set(terms)) != len(terms):
                raise ValueError(f"vectoriser {k}: a term appears twice in the vocabulary")
            if not isinstance(sublinear, bool) or not isinstance(use_idf, bool):
                raise ValueError(f"vectoriser {k}: sublinear_tf and use_idf must be booleans")
            idf = _float_array(arrays, f"idf_{k}") if use_idf else None
            steps.append((params, {term: i for i, term in enumerate(terms)}, idf, sublinear))
        scorer = cls.__new__(cls)
        scorer._build(
            steps,
            _float_array(arrays, "coef"),
            _float_array(arrays, "intercept"),
            np.asarray(classes),
            str(description.get("classifier")),
        )
        return scorer

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
