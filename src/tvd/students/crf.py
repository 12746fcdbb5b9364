"""The default student: a CRF slot tagger plus a TF-IDF linear intent classifier.

* Slots: a linear-chain CRF (sklearn-crfsuite, L-BFGS with L1 ``c1`` and L2 ``c2`` penalties) over the
  features of :mod:`tvd.students.features`, trained on BIO tags from :meth:`Utterance.to_bio`.  Predicted
  tags are turned back into character spans on the input's own tokens, so an utterance with a source
  tokenisation (xSID Japanese) is tagged on those tokens.  Text with kana or kanji and no tokens of its own
  (generated Japanese, raw text at predict or serve time) is read with every kana and kanji a token, in
  training and prediction alike (:func:`tvd.data.tokenize.model_tokens`); ``char_ngrams`` (default on) adds
  character n-gram features around such tokens (:func:`tvd.students.features.char_features`), and nothing to
  English.  On xSID ja (``bench/japanese_crf.py``, README "Japanese for the CRF") typed text went from slot F1
  0.0 (whitespace tokens) to 79.7.
* Intent: a scikit-learn ``Pipeline`` of word 1-2-gram and character 2-5-gram TF-IDF features into
  ``LinearSVC`` (default) or ``LogisticRegression``.  The text it reads is the input's tokens joined by
  spaces; text with kana or kanji is read in script runs whatever its tokens, so data with and without a source
  tokenisation train and predict alike.
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

Saved (format version 2) as ``student.json`` (kind, format version, labels, parameters, training size and time,
and the sha256 of each file below), ``crf.crfsuite`` (crfsuite's own model file: the bytes the CRF was trained
into, tagged with ``pycrfsuite.Tagger``), ``intent.json`` (the intent model: ``{"kind": "linear", ...}`` with each
vectoriser's analyzer parameters and vocabulary, the classes and the classifier, or ``{"kind": "constant",
"intent": ...}`` after training on one intent, or ``{"kind": "none"}`` without intents) and, for a linear model,
``intent.npz`` (its float64 coefficients, intercepts and idf weights, read with ``allow_pickle=False``).  None of
these can run code when loaded; :meth:`CrfStudent.load` checks every file against the recorded sha256 before
reading it (:mod:`tvd.students.base`).  Format version 1 stored a pickle (``model.joblib``): it is refused (E408)
unless ``trust_pickle=True``; ``tvd upgrade-student DIR --trust-pickle`` rewrites such a folder as version 2.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import sklearn
import sklearn_crfsuite
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

import tvd
from tvd.data.tokenize import has_unspaced_script, model_tokens, script_offsets
from tvd.data.utterance import SpanError, Utterance, slot_labels, spans_from_tags
from tvd.errors import E_BAD_METADATA, E_BAD_PARAMS, E_BAD_TRAINING_DATA, E_NO_MODEL, E_NOT_FITTED, TvdError
from tvd.students.base import (
    METADATA_FILE,
    PICKLE_FILE,
    Student,
    input_utterance,
    pickle_refused,
    read_metadata,
    verified_bytes,
    write_metadata,
)
from tvd.students.crfsuite_model import CrfsuiteModel
from tvd.students.features import sentence_features
from tvd.students.linear_intent import LinearIntentScorer

FORMAT_VERSION = 2
PICKLE_FORMAT_VERSION = 1  # model.joblib: read only with trust_pickle=True
CRF_FILE = "crf.crfsuite"
INTENT_FILE = "intent.json"
INTENT_ARRAYS_FILE = "intent.npz"
MODEL_FILE = PICKLE_FILE  # format version 1's pickle
INTENT_MODELS = ("svm", "logreg")
# The intent classifier's C when none is given: TF-IDF features want weaker regularisation for logistic
# regression than for the hinge loss.
DEFAULT_C = {"svm": 1.0, "logreg": 10.0}


def _intent_text(utterance: Utterance) -> str:
    """What the intent classifier reads: the utterance's (input) tokens joined by single spaces; for text with kana
    or kanji, its script runs (:func:`tvd.data.tokenize.script_offsets`) whatever tokens it has, so training data
    without a source tokenisation (generated, typed) and test data with one (xSID) read alike."""
    if has_unspaced_script(utterance.text):
        return " ".join(utterance.text[s:e] for s, e in script_offsets(utterance.text))
    return " ".join(utterance.text[s:e] for s, e in utterance.token_offsets())


class CrfStudent(Student):
    """CRF slot tagger + TF-IDF linear intent classifier (see the module docstring).

    Parameters: ``c1``/``c2`` CRF L1/L2 penalties, ``max_iterations`` L-BFGS iterations, ``intent_model``
    ``"svm"`` or ``"logreg"``, ``C`` the intent classifier's inverse regularisation (default
    :data:`DEFAULT_C` for the model), ``balance`` inverse
    frequency intent weights, ``oversample`` repetition of rare intents' utterances for the CRF,
    ``rare_intent_threshold`` the example count below which an intent is rare, ``char_ngrams`` character n-gram
    features for tokens of kana or kanji.
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
        char_ngrams: bool = True,
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
            self.char_ngrams = bool(char_ngrams)
        except (TypeError, ValueError) as exc:
            raise TvdError(
                E_BAD_PARAMS,
                f"invalid crf student parameter: {exc}",
                fix="c1, c2, C are numbers; max_iterations, oversample, rare_intent_threshold are integers",
            ) from exc
        self._validate_params()
        self._crf: CrfsuiteModel | None = None
        # a scorer (the pipeline's parameters: what is saved and loaded), a constant intent, or None (no intents)
        self._intent: LinearIntentScorer | str | None = None
        self._pipeline: Pipeline | None = None  # the fitted scikit-learn pipeline (after fit only, not saved)
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
                tokens, tags = model_tokens(utterance).to_bio()
            except SpanError as exc:
                raise TvdError(
                    E_BAD_TRAINING_DATA,
                    f"training utterance {index} cannot be BIO-tagged: {exc}",
                    fix="give slots on token boundaries, or give the utterance its own `tokens`",
                ) from exc
            if tokens:
                repeats = self.oversample if utterance.intent in rare else 1
                features = sentence_features(tokens, char_ngrams=self.char_ngrams)
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
        self._pipeline = None
        if len(counts) >= 2:
            pipeline = self._make_intent_pipeline()
            pipeline.fit([_intent_text(input_utterance(u)) for u in labelled], [u.intent for u in labelled])
            # predictions read the fitted parameters, not the pipeline: the same numbers at a tenth of the cost of
            # scikit-learn's per-call machinery (which otherwise dominates one utterance's latency), and exactly
            # what save writes and load reads back
            self._pipeline, self._intent = pipeline, LinearIntentScorer(pipeline)
        else:
            self._intent = next(iter(counts), None)

        self._crf = CrfsuiteModel.from_trained(crf)  # the model file's bytes; the CRF object's temp file goes
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
        scorer = self._intent
        if not isinstance(scorer, LinearIntentScorer):
            return [scorer] * len(inputs), [1.0 if scorer is not None else None] * len(inputs)
        texts = [_intent_text(u) for u in inputs]
        scores = scorer.scores(texts)
        best = scores.argmax(axis=1)
        classes = scorer.classes_
        labels = [str(classes[i]) for i in best]
        confidences = [float(scores[row, i]) for row, i in enumerate(best)]
        return labels, confidences

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self._require_fitted()
        assert self._crf is not None
        if isinstance(items, (str, Utterance)):
            items = [items]
        inputs = [input_utterance(item) for item in items]
        read = [model_tokens(u) for u in inputs]  # kana / kanji without tokens of their own: a token each
        offsets = [u.token_offsets() for u in read]
        nonempty = [i for i, o in enumerate(offsets) if o]
        tagged = self._crf.predict(
            [
                sentence_features([inputs[i].text[s:e] for s, e in offsets[i]], char_ngrams=self.char_ngrams)
                for i in nonempty
            ]
        )
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
        """The content of ``student.json`` (:meth:`save` adds the ``files`` record)."""
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "tvd_version": tvd.__version__,
            "libraries": {"scikit-learn": sklearn.__version__, "sklearn-crfsuite": _version("sklearn-crfsuite")},
            "params": self.params,
            "intents": self.intents_,
            "slot_labels": self.slot_labels_,
            "training": self.training_info_,
        }

    def _intent_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        """``intent.json``'s content and, for a linear model, the arrays of ``intent.npz``."""
        if isinstance(self._intent, LinearIntentScorer):
            description, arrays = self._intent.to_arrays()
            return {"kind": "linear", **description}, arrays
        if isinstance(self._intent, str):
            return {"kind": "constant", "intent": self._intent}, None
        return {"kind": "none"}, None

    def save(self, directory: str | Path) -> Path:
        self._require_fitted()
        assert self._crf is not None
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        description, arrays = self._intent_parts()
        (directory / CRF_FILE).write_bytes(self._crf.data)
        (directory / INTENT_FILE).write_text(json.dumps(description, ensure_ascii=False) + "\n", encoding="utf-8")
        files = [CRF_FILE, INTENT_FILE]
        if arrays is not None:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)  # lossless; np.load reads it alike
            (directory / INTENT_ARRAYS_FILE).write_bytes(buffer.getvalue())
            files.append(INTENT_ARRAYS_FILE)
        stale = [INTENT_ARRAYS_FILE] if arrays is None else []
        for name in (*stale, MODEL_FILE):  # an older model's files must not lie beside this one's
            (directory / name).unlink(missing_ok=True)
        write_metadata(directory, self.metadata(), files=files)  # last: the record is of the files written above
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, trust_pickle: bool = False) -> Self:
        """Read a saved crf student, checking each file against student.json's sha256 record before reading it.

        ``trust_pickle=True`` also reads format version 1 (``model.joblib``, a pickle: it runs code from the
        folder); without it such a folder is E408."""
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
        version = metadata.get("format_version")
        if version == PICKLE_FORMAT_VERSION:
            if not trust_pickle:
                raise pickle_refused(directory, "the crf student")
            crf, intent = cls._read_pickle(directory)
        elif version == FORMAT_VERSION:
            crf, intent = cls._read_files(directory, metadata)
        else:
            raise TvdError(
                E_BAD_METADATA,
                f"crf student format version {version!r}; this tvd reads {FORMAT_VERSION} (and "
                f"{PICKLE_FORMAT_VERSION} with trust_pickle)",
                file=meta_path,
                fix="re-train the student with this version of tvd",
            )
        student = cls.from_saved_params(metadata, meta_path)
        student._crf, student._intent, student._fitted = crf, intent, True
        student.intents_ = list(metadata.get("intents", []))
        student.slot_labels_ = list(metadata.get("slot_labels", []))
        student.training_info_ = dict(metadata.get("training", {}))
        return student

    @staticmethod
    def _read_files(directory: Path, metadata: dict[str, Any]) -> tuple[CrfsuiteModel, LinearIntentScorer | str | None]:
        """The CRF and intent model of format version 2, each file checked against the record before it is read."""
        fix = "re-train the student; the file is damaged, or not one this version of tvd wrote"
        try:
            crf = CrfsuiteModel(verified_bytes(directory, metadata, CRF_FILE))
        except ValueError as exc:
            raise TvdError(
                E_BAD_METADATA, f"{CRF_FILE} cannot be read ({exc})", file=directory / CRF_FILE, fix=fix
            ) from exc
        intent_path = directory / INTENT_FILE
        try:
            description = json.loads(verified_bytes(directory, metadata, INTENT_FILE).decode("utf-8"))
            kind = description.get("kind") if isinstance(description, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TvdError(
                E_BAD_METADATA, f"{INTENT_FILE} is not readable JSON ({exc})", file=intent_path, fix=fix
            ) from exc
        if kind == "none":
            return crf, None
        if kind == "constant" and isinstance(description.get("intent"), str):
            return crf, description["intent"]
        if kind != "linear":
            raise TvdError(E_BAD_METADATA, f"{INTENT_FILE} describes no intent model", file=intent_path, fix=fix)
        data = verified_bytes(directory, metadata, INTENT_ARRAYS_FILE)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            scorer = LinearIntentScorer.from_arrays(description, arrays)
        except ValueError as exc:  # a malformed archive or description (object arrays need pickle: ValueError too)
            raise TvdError(
                E_BAD_METADATA, f"the intent model cannot be read ({exc})", file=directory / INTENT_ARRAYS_FILE, fix=fix
            ) from exc
        return crf, scorer

    @staticmethod
    def _read_pickle(directory: Path) -> tuple[CrfsuiteModel, LinearIntentScorer | str | None]:
        """The CRF and intent model of format version 1 (``model.joblib``): unpickling runs code from the folder,
        so only with ``trust_pickle``."""
        import joblib

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
            model = CrfsuiteModel.from_trained(crf)
            scorer = LinearIntentScorer(intent) if isinstance(intent, Pipeline) else intent
        except (OSError, ValueError) as exc:
            raise TvdError(
                E_BAD_METADATA, f"{MODEL_FILE} holds no usable crf student ({exc})", file=model_path, fix="re-train"
            ) from exc
        return model, scorer
