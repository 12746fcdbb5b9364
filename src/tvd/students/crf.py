"""The default student: a CRF slot tagger plus a TF-IDF linear intent classifier.

* Slots: a linear-chain CRF (sklearn-crfsuite, L-BFGS with L1 ``c1`` and L2 ``c2`` penalties) over the
  features of :mod:`tvd.students.features`, trained on BIO tags from :meth:`Utterance.to_bio`.  Predicted
  tags are turned back into character spans on the input's own tokens, so an utterance with a source
  tokenisation (xSID Japanese) is tagged on those tokens.
* Intent: a scikit-learn ``Pipeline`` of word 1-2-gram and character 2-5-gram TF-IDF features into
  ``LinearSVC`` (default) or ``LogisticRegression``.  The text it reads is the input's tokens joined by
  spaces, so unsegmented scripts get word features where a tokenisation is given.
  ``meta["intent_confidence"]`` is the top class probability for ``logreg`` and the softmax of the SVM's
  decision scores for ``svm`` (a monotone score in [0, 1], *not* a calibrated probability).
* ``balance=True`` weights intents inversely to their frequency in the intent classifier
  (``class_weight="balanced"``), which helps an intent with a handful of examples among thousands.
* ``oversample`` (an integer, default 1 = off) repeats every utterance of an intent that has fewer than
  ``rare_intent_threshold`` (default 100) examples that many times in the CRF's training data, so a rare
  intent's slots weigh more against the L2 penalty.

Measured (2-core shared machine, one thread; default parameters): full SNIPS trains in ~134 s (the CRF
~132 s, the SVM ~2 s) and scores intent 97.9, slot F1 93.4, sentence 82.7 on its test set; ATIS 95.3 /
93.5 / 80.5.  ``logreg`` scored intent 97.6 on SNIPS and fits in ~23 s.  SNIPS 10-shot novel intent
(3 seeds): ``balance`` raised GetWeather recall 59.3 -> 66.0 (svm) and 31.4 -> 71.8 (logreg),
BookRestaurant 38.8 -> 50.0 (svm) and 14.1 -> 60.5 (logreg), precision staying 100; ``oversample=20``
raised the novel intent's slot F1 57.6 -> 60.0 (GetWeather) and 38.8 -> 42.8 (BookRestaurant).

Saved as ``student.json`` (kind, format version, labels, parameters, training size and time) plus
``model.joblib`` (the fitted CRF and intent pipeline).  ``model.joblib`` is a pickle: load only students
you trained or trust.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
import sklearn
import sklearn_crfsuite
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

import tvd
from tvd.data.utterance import SpanError, Utterance, slot_labels, spans_from_tags
from tvd.errors import E_BAD_METADATA, E_BAD_PARAMS, E_BAD_TRAINING_DATA, E_NO_MODEL, E_NOT_FITTED, TvdError
from tvd.students.base import METADATA_FILE, Student, input_utterance, read_metadata, write_metadata
from tvd.students.features import sentence_features
from tvd.students.linear_intent import LinearIntentScorer

FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
INTENT_MODELS = ("svm", "logreg")
# The intent classifier's C when none is given: TF-IDF features want weaker regularisation for logistic
# regression than for the hinge loss.
DEFAULT_C = {"svm": 1.0, "logreg": 10.0}


def _intent_text(utterance: Utterance) -> str:
    """What the intent classifier reads: the utterance's (input) tokens joined by single spaces."""
    return " ".join(utterance.text[s:e] for s, e in utterance.token_offsets())


class CrfStudent(Student):
    """CRF slot tagger + TF-IDF linear intent classifier (see the module docstring).

    Parameters: ``c1``/``c2`` CRF L1/L2 penalties, ``max_iterations`` L-BFGS iterations, ``intent_model``
    ``"svm"`` or ``"logreg"``, ``C`` the intent classifier's inverse regularisation (default
    :data:`DEFAULT_C` for the model), ``balance`` inverse
    frequency intent weights, ``oversample`` repetition of rare intents' utterances for the CRF,
    ``rare_intent_threshold`` the example count below which an intent is rare.
    """

    kind = "crf"
    # About half a millisecond an utterance: predicting on the event loop (0 threads) served most requests in
    # bench/serve_load.py (889 against 659 utterances/s at concurrency 1, 2 cores); its crfsuite tagger is shared,
    # so predict is not thread-safe either.
    serve_defaults: ClassVar[Mapping[str, int]] = {"prediction_threads": 0, "micro_batch": 1}

    def __init__(
        self,
        *,
        c1: float = 0.1,
        c2: float = 0.1,
        max_iterations: int = 100,
        intent_model: str = "svm",
        C: float | None = None,
        balance: bool = False,
        oversample: int = 1,
        rare_intent_threshold: int = 100,
    ) -> None:
        try:
            self.c1 = float(c1)
            self.c2 = float(c2)
            self.max_iterations = int(max_iterations)
            self.intent_model = str(intent_model)
            self.C = float(C) if C is not None else DEFAULT_C.get(self.intent_model, 1.0)
            self.balance = bool(balance)
            self.oversample = int(oversample)
            self.rare_intent_threshold = int(rare_intent_threshold)
        except (TypeError, ValueError) as exc:
            raise TvdError(
                E_BAD_PARAMS,
                f"invalid crf student parameter: {exc}",
                fix="c1, c2, C are numbers; max_iterations, oversample, rare_intent_threshold are integers",
            ) from exc
        self._validate_params()
        self._crf: sklearn_crfsuite.CRF | None = None
        self._intent: Pipeline | str | None = None  # a pipeline, a constant intent, or None (no intents seen)
        self._scorer: LinearIntentScorer | None = None  # built from the pipeline on first prediction
        self._fitted = False
        self.intents_: list[str] = []
        self.slot_labels_: list[str] = []
        self.training_info_: dict[str, Any] = {}

    def _validate_params(self) -> None:
        problems = []
        if self.c1 < 0 or self.c2 < 0 or math.isnan(self.c1) or math.isnan(self.c2):
            problems.append("c1 and c2 must be >= 0")
        if self.max_iterations < 1:
            problems.append("max_iterations must be >= 1")
        if self.intent_model not in INTENT_MODELS:
            problems.append(f"intent_model must be one of {', '.join(INTENT_MODELS)} (got {self.intent_model!r})")
        if not self.C > 0:
            problems.append("C must be > 0")
        if self.oversample < 1:
            problems.append("oversample must be >= 1 (1 = no oversampling)")
        if problems:
            raise TvdError(
                E_BAD_PARAMS,
                "invalid crf student parameters: " + "; ".join(problems),
                fix="fix the student parameters in the run configuration",
            )

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    # -- training ----------------------------------------------------------------------------------

    def _make_intent_pipeline(self) -> Pipeline:
        features = FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\S+", ngram_range=(1, 2), sublinear_tf=True),
                ),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
            ]
        )
        class_weight = "balanced" if self.balance else None
        if self.intent_model == "svm":
            classifier: Any = LinearSVC(C=self.C, class_weight=class_weight, random_state=0)
        else:
            classifier = LogisticRegression(C=self.C, class_weight=class_weight, max_iter=1000)
        return Pipeline([("tfidf", features), ("clf", classifier)])

    def fit(self, utterances: Sequence[Utterance]) -> Self:
        """Train the CRF on all utterances and the intent classifier on those with an intent."""
        utterances = list(utterances)
        if not utterances:
            raise TvdError(E_BAD_TRAINING_DATA, "no training utterances", fix="check the training data path")
        started = time.perf_counter()
        counts = Counter(u.intent for u in utterances if u.intent is not None)
        rare = {i for i, n in counts.items() if n < self.rare_intent_threshold} if self.oversample > 1 else set()
        sequences, tag_sequences = [], []
        for index, utterance in enumerate(utterances):
            try:
                tokens, tags = utterance.to_bio()
            except SpanError as exc:
                raise TvdError(
                    E_BAD_TRAINING_DATA,
                    f"training utterance {index} cannot be BIO-tagged: {exc}",
                    fix="give slots on token boundaries, or give the utterance its own `tokens`",
                ) from exc
            if tokens:
                repeats = self.oversample if utterance.intent in rare else 1
                features = sentence_features(tokens)
                sequences.extend([features] * repeats)
                tag_sequences.extend([tags] * repeats)
        if not sequences:
            raise TvdError(E_BAD_TRAINING_DATA, "all training utterances are empty", fix="check the training data")
        crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs",
            c1=self.c1,
            c2=self.c2,
            max_iterations=self.max_iterations,
            all_possible_transitions=True,
        )
        crf.fit(sequences, tag_sequences)
        crf_seconds = time.perf_counter() - started

        labelled = [u for u in utterances if u.intent is not None]
        if len(counts) >= 2:
            pipeline = self._make_intent_pipeline()
            pipeline.fit([_intent_text(input_utterance(u)) for u in labelled], [u.intent for u in labelled])
            self._intent = pipeline
        else:
            self._intent = next(iter(counts), None)

        self._crf = crf
        self._scorer = None
        self._fitted = True
        self.intents_ = sorted(counts)
        self.slot_labels_ = slot_labels(utterances)
        self.training_info_ = {
            "n_utterances": len(utterances),
            "intent_counts": dict(sorted(counts.items())),
            "seconds": round(time.perf_counter() - started, 3),
            "crf_seconds": round(crf_seconds, 3),
            "crf_sequences": len(sequences),
        }
        return self

    # -- prediction --------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise TvdError(
                E_NOT_FITTED,
                "the crf student has not been trained",
                fix="call fit(utterances) first, or load a trained student with load_student(directory)",
            )

    def _predict_intents(self, inputs: Sequence[Utterance]) -> tuple[list[str | None], list[float | None]]:
        if not isinstance(self._intent, Pipeline):
            constant = self._intent
            return [constant] * len(inputs), [1.0 if constant is not None else None] * len(inputs)
        texts = [_intent_text(u) for u in inputs]
        if self._scorer is None:
            # the fitted pipeline's own parameters, scored without scikit-learn's per-call machinery: the same
            # numbers at a tenth of the cost, which otherwise dominates the latency of one utterance
            self._scorer = LinearIntentScorer(self._intent)
        scores = self._scorer.scores(texts)
        best = scores.argmax(axis=1)
        classes = self._scorer.classes_
        labels = [str(classes[i]) for i in best]
        confidences = [float(scores[row, i]) for row, i in enumerate(best)]
        return labels, confidences

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self._require_fitted()
        assert self._crf is not None
        if isinstance(items, (str, Utterance)):
            items = [items]
        inputs = [input_utterance(item) for item in items]
        offsets = [u.token_offsets() for u in inputs]
        nonempty = [i for i, o in enumerate(offsets) if o]
        tagged = self._crf.predict([sentence_features([inputs[i].text[s:e] for s, e in offsets[i]]) for i in nonempty])
        tags: list[list[str]] = [[] for _ in inputs]
        for i, sequence in zip(nonempty, tagged, strict=True):
            tags[i] = list(sequence)
        intents, confidences = self._predict_intents(inputs)
        predictions = []
        for utterance, token_offsets, token_tags, intent, confidence in zip(
            inputs, offsets, tags, intents, confidences, strict=True
        ):
            meta = dict(utterance.meta)
            if confidence is not None:
                meta["intent_confidence"] = confidence
            predictions.append(
                utterance.replace(
                    intent=intent, spans=tuple(spans_from_tags(token_offsets, token_tags, strict=False)), meta=meta
                )
            )
        return predictions

    # -- persistence -------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The content of ``student.json``."""
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "tvd_version": tvd.__version__,
            "libraries": {"scikit-learn": sklearn.__version__, "sklearn-crfsuite": _version("sklearn-crfsuite")},
            "params": self.params,
            "intents": self.intents_,
            "slot_labels": self.slot_labels_,
            "training": self.training_info_,
            "files": [MODEL_FILE],
        }

    def save(self, directory: str | Path) -> Path:
        self._require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump({"crf": self._crf, "intent": self._intent}, directory / MODEL_FILE, compress=3)
        write_metadata(directory, self.metadata())
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        directory = Path(directory)
        metadata = read_metadata(directory)
        meta_path = directory / METADATA_FILE
        if metadata["kind"] != "crf":
            raise TvdError(
                E_BAD_METADATA,
                f"student.json says kind {metadata['kind']!r}, not 'crf'",
                file=meta_path,
                fix="load it with tvd.students.load_student(directory), which picks the kind",
            )
        if metadata.get("format_version") != FORMAT_VERSION:
            raise TvdError(
                E_BAD_METADATA,
                f"crf student format version {metadata.get('format_version')!r}; this tvd reads {FORMAT_VERSION}",
                file=meta_path,
                fix="re-train the student with this version of tvd",
            )
        model_path = directory / MODEL_FILE
        if not model_path.is_file():
            raise TvdError(
                E_NO_MODEL,
                f"{MODEL_FILE} is missing from the student directory",
                file=directory,
                fix="copy the whole directory Student.save wrote, or re-train the student",
            )
        try:
            payload = joblib.load(model_path)
            crf, intent = payload["crf"], payload["intent"]
        except Exception as exc:  # joblib/pickle raise many types on a damaged file
            raise TvdError(
                E_BAD_METADATA,
                f"{MODEL_FILE} cannot be read ({type(exc).__name__}: {exc})",
                file=model_path,
                fix="re-train the student; the model file is damaged or incomplete",
            ) from exc
        if not isinstance(crf, sklearn_crfsuite.CRF) or not (intent is None or isinstance(intent, (str, Pipeline))):
            raise TvdError(
                E_BAD_METADATA, f"{MODEL_FILE} does not hold a crf student", file=model_path, fix="re-train the student"
            )
        try:
            student = cls(**metadata.get("params", {}))
        except TypeError as exc:
            raise TvdError(
                E_BAD_METADATA,
                f"student.json has unknown parameters ({exc})",
                file=meta_path,
                fix="re-train the student with this version of tvd",
            ) from exc
        student._crf, student._intent, student._fitted = crf, intent, True
        student.intents_ = list(metadata.get("intents", []))
        student.slot_labels_ = list(metadata.get("slot_labels", []))
        student.training_info_ = dict(metadata.get("training", {}))
        return student
