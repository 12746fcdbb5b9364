"""The student interface, modelled on scikit-learn's estimators, and the registry of student kinds.

A :class:`Student` learns intent classification and slot tagging from :class:`~tvd.data.utterance.Utterance`
objects and predicts new utterances: same text, predicted ``intent``, predicted slot ``spans`` as character
offsets, and ``meta["intent_confidence"]`` where the kind can estimate one.

A trained student lives in a directory: ``student.json`` (metadata: ``kind``, ``format_version``, the
``tvd`` version that wrote it, labels, parameters) next to whatever files the kind needs.
:func:`load_student` reads ``kind`` from ``student.json`` and hands the directory to that kind's ``load``.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_METADATA, E_BAD_PARAMS, E_NO_MODEL, E_UNKNOWN_KIND, TvdError
from tvd.registry import Registry

METADATA_FILE = "student.json"


class Student(ABC):
    """A trainable intent classifier + slot tagger.

    Subclasses set ``kind`` (the registry name written to ``student.json``) and implement the four methods.
    Their capabilities are class attributes, read instead of checking kind names:

    ``exportable``: ``tvd export`` can write ONNX models for it.
    ``supports_validation``: ``fit(utterances, validation=...)`` scores held-out data (``tvd train --validation``).
    ``serve_defaults``: the ``prediction_threads`` and ``micro_batch`` ``tvd serve`` uses unless told.
    """

    kind: str = ""
    exportable: ClassVar[bool] = False
    supports_validation: ClassVar[bool] = False
    serve_defaults: ClassVar[Mapping[str, int]] = {"prediction_threads": 1, "micro_batch": 1}
    #: constructor parameters left out of :attr:`params` (e.g. a machine-local path)
    unsaved_params: ClassVar[tuple[str, ...]] = ()

    @property
    def params(self) -> dict[str, Any]:
        """The constructor parameters and their values, as written to ``student.json``: read from the signature of
        ``__init__`` (as scikit-learn's ``get_params``), so each must be stored under its own name."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self" and name not in self.unsaved_params}

    @abstractmethod
    def fit(self, utterances: Sequence[Utterance]) -> Self:
        """Learn from annotated utterances (intent and spans); returns ``self``."""

    @abstractmethod
    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        """Predict one utterance per input (a text, or an utterance whose intent and spans are ignored).

        An input :class:`Utterance` keeps its text, language, own tokenisation (``tokens``) and ``meta``;
        the output replaces intent and spans and adds ``meta["intent_confidence"]`` where available.
        Raises :class:`TvdError` (E404) before :meth:`fit`.
        """

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the trained student into ``directory`` (created if needed); returns the directory."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> Self:
        """Read a student written by :meth:`save`; raises :class:`TvdError` (E401/E402) when it cannot."""

    @property
    @abstractmethod
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has run."""

    def predict_one(self, item: str | Utterance) -> Utterance:
        """Convenience: :meth:`predict` on a single text or utterance."""
        return self.predict([item])[0]


# -- registry ----------------------------------------------------------------------------------------

STUDENTS: Registry[type[Student]] = Registry("students", "student kind", E_UNKNOWN_KIND)
"""Student kinds: name -> :class:`Student` subclass (lazy, so importing the CRF path imports no torch).

An installed package adds a kind through the entry-point group ``tvd.students``; its class sets ``kind`` to the
registered name (it is written to ``student.json`` and read back by :func:`load_student`)."""

STUDENTS.register("crf", "tvd.students.crf:CrfStudent")
STUDENTS.register("encoder", "tvd.students.encoder:EncoderStudent")


def register_student(kind: str) -> Callable[[type[Student]], type[Student]]:
    """Class decorator: make a :class:`Student` subclass available to :func:`make_student` under ``kind``."""

    def decorate(cls: type[Student]) -> type[Student]:
        cls.kind = kind
        return STUDENTS.register(kind, cls)

    return decorate


def student_kinds() -> list[str]:
    """Registered student kinds, sorted."""
    return sorted(STUDENTS.names())


def student_class(kind: str, *, file: str | Path | None = None) -> type[Student]:
    """The :class:`Student` subclass registered as ``kind``; raises E403 (listing the kinds) for another name."""
    return STUDENTS.get(kind, file=file)


def make_student(name: str, **params: Any) -> Student:
    """A new, untrained student of kind ``name`` (e.g. ``"crf"``) with the given parameters."""
    cls = student_class(name)
    try:
        return cls(**params)
    except TypeError as exc:  # an unknown keyword
        raise TvdError(
            E_BAD_PARAMS,
            f"student kind {name!r} does not take these parameters: {exc}",
            fix="check the parameter names in the student's documentation",
        ) from exc


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The parsed ``student.json`` of a saved student; raises E401 (missing) or E402 (unreadable)."""
    directory = Path(directory)
    path = directory / METADATA_FILE
    if not directory.is_dir():
        raise TvdError(
            E_NO_MODEL,
            "student directory does not exist",
            file=directory,
            fix="train a student first (e.g. `tvd train ...`) or pass the directory it was saved to",
        )
    if not path.is_file():
        raise TvdError(
            E_NO_MODEL,
            f"no {METADATA_FILE} in the student directory",
            file=directory,
            fix="pass a directory written by Student.save (it holds student.json and the model files)",
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise TvdError(
            E_BAD_METADATA,
            f"{METADATA_FILE} is not readable JSON ({exc})",
            file=path,
            line=line,
            fix="re-train the student, or restore student.json from the run that wrote it",
        ) from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("kind"), str):
        raise TvdError(
            E_BAD_METADATA,
            f"{METADATA_FILE} has no string field 'kind'",
            file=path,
            fix="re-train the student; student.json must be the file Student.save wrote",
        )
    return metadata


def write_metadata(directory: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``student.json`` (pretty, UTF-8) into ``directory``; returns its path."""
    path = Path(directory) / METADATA_FILE
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_student(directory: str | Path) -> Student:
    """Load a saved student of whatever kind its ``student.json`` names."""
    metadata = read_metadata(directory)
    cls = student_class(metadata["kind"], file=Path(directory) / METADATA_FILE)
    return cls.load(directory)


def input_utterance(item: str | Utterance) -> Utterance:
    """The utterance a student should read for ``item``: gold intent and spans dropped, tokens kept.

    Dropping the spans matters: :meth:`Utterance.token_offsets` splits tokens at span boundaries, which
    would leak gold slot boundaries into the student's tokenisation.
    """
    if isinstance(item, Utterance):
        return item.replace(intent=None, spans=())
    if isinstance(item, str):
        return Utterance(item)
    raise TypeError(f"expected a str or an Utterance, got {type(item).__name__}")
