"""The student interface, modelled on scikit-learn's estimators, and the registry of student kinds.

A :class:`Student` learns intent classification and slot tagging from :class:`~tvd.data.utterance.Utterance`
objects and predicts new utterances: same text, predicted ``intent``, predicted slot ``spans`` as character
offsets, and ``meta["intent_confidence"]`` where the kind can estimate one.

A trained student lives in a directory: ``student.json`` (metadata: ``kind``, ``format_version``, the
``tvd`` version that wrote it, labels, parameters) next to whatever files the kind needs.
:func:`load_student` reads ``kind`` from ``student.json`` and hands the directory to that kind's ``load``.

Every kind stores its model in formats whose loading runs no code (crfsuite's model file, JSON, ``.npz`` read with
``allow_pickle=False``, safetensors, ONNX, tokenizer files), and ``student.json`` records the sha256 of every file
a load reads (``"files": {"relative/path": "<hex>"}``, written by :func:`write_metadata` with ``files=``).  A load
reads each file through :func:`verified_bytes`, :func:`verified_path` or :func:`verified_folder`, which check it
against that record first: a file whose sha256 differs, or a file that is loaded but not recorded, is E407; a
file the load needs that is neither recorded nor present, or recorded but missing (student.json of another kind,
an incomplete copy), is E409.  Folders of an older format that stored the model as a pickle (``model.joblib``)
are refused with E408 unless the caller passes ``trust_pickle=True`` (:func:`pickle_refused` builds the error;
``tvd upgrade-student DIR --trust-pickle`` converts such a folder once).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Self

from tvd.data.atomic import atomic_write_text
from tvd.data.utterance import Utterance
from tvd.errors import (
    E_BAD_METADATA,
    E_BAD_PARAMS,
    E_CHECKSUM,
    E_NO_MODEL,
    E_PICKLE_REFUSED,
    E_STUDENT_FILES,
    E_UNKNOWN_KIND,
    TvdError,
)
from tvd.registry import Registry

METADATA_FILE = "student.json"
FILES_FIELD = "files"  # student.json's record: relative path -> sha256 (hex) of every file a load reads
PICKLE_FILE = "model.joblib"  # what the crf and parser students of format version 1 stored (a pickle)
UPGRADE_COMMAND = "tvd upgrade-student"


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
    def load(cls, directory: str | Path, *, trust_pickle: bool = False) -> Self:
        """Read a student written by :meth:`save`; raises :class:`TvdError` (E401/E402, E407/E409 for files that
        differ from the record in ``student.json``) when it cannot.

        ``trust_pickle``: also read a folder of an older format that stored the model as a pickle, which runs
        code from the folder while loading (without it such a folder is E408).  A kind that never stored
        pickles takes the keyword and ignores it."""

    @classmethod
    def from_saved_params(cls, metadata: Mapping[str, Any], metadata_path: Path) -> Self:
        """A new student built from ``student.json``'s ``params`` (for a kind's :meth:`load`); E402 names the file
        when they are not this kind's parameters."""
        try:
            return cls(**dict(metadata.get("params") or {}))
        except TypeError as exc:  # an unknown parameter
            raise TvdError(
                E_BAD_METADATA,
                f"student.json has unknown parameters ({exc})",
                file=metadata_path,
                fix="re-train the student with this version of tvd",
            ) from exc

    @classmethod
    def upgrade(cls, directory: str | Path, out: str | Path | None = None, *, trust_pickle: bool = False) -> Path:
        """Rewrite the student in ``directory`` in the current format, into ``out`` (default: in place); returns
        the folder written.  The default loads it (with ``trust_pickle``) and saves it again."""
        target = Path(out) if out is not None else Path(directory)
        return cls.load(directory, trust_pickle=trust_pickle).save(target)

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


def write_metadata(directory: str | Path, metadata: dict[str, Any], *, files: Iterable[str] | None = None) -> Path:
    """Write ``student.json`` (pretty, UTF-8, atomically) into ``directory``; returns its path.

    ``files``: the files (relative to ``directory``; a folder stands for every file under it) whose sha256
    :func:`file_record` writes as the ``files`` record, replacing any there; without it ``metadata`` is
    written as given.  Write the model files first: the record is of the bytes on disk now."""
    if files is not None:
        metadata = {**metadata, FILES_FIELD: file_record(directory, files)}
    path = Path(directory) / METADATA_FILE
    atomic_write_text(path, json.dumps(metadata, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def load_student(directory: str | Path, *, trust_pickle: bool = False) -> Student:
    """Load a saved student of whatever kind its ``student.json`` names.

    ``trust_pickle=True`` also loads a folder of an older format stored as a pickle (``model.joblib``), which
    runs code from the folder: pass it only for a folder you trust (without it such a folder is E408)."""
    metadata = read_metadata(directory)
    cls = student_class(metadata["kind"], file=Path(directory) / METADATA_FILE)
    return cls.load(directory, trust_pickle=trust_pickle)


# -- file records: written by save, verified by load before each file is read -------------------------


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(directory: str | Path, names: Iterable[str]) -> dict[str, str]:
    """``{relative path: sha256}`` of the named files of ``directory``; a folder name stands for every file under
    it (``tokenizer`` -> ``tokenizer/vocab.txt``, ...).  Paths are POSIX-style, sorted."""
    directory = Path(directory)
    record: dict[str, str] = {}
    for name in names:
        path = directory / name
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                record[file.relative_to(directory).as_posix()] = sha256_file(file)
        else:
            record[PurePosixPath(name).as_posix()] = sha256_file(path)
    return dict(sorted(record.items()))


def _recorded(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The ``files`` record of ``student.json`` (empty when it has none, e.g. an older format's list of names)."""
    files = metadata.get(FILES_FIELD)
    if not isinstance(files, dict):
        return {}
    return {str(name): str(digest) for name, digest in files.items()}


def _files_error(metadata: Mapping[str, Any], message: str, file: Path) -> TvdError:
    names = sorted(_recorded(metadata))
    listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") if names else "none"
    return TvdError(
        E_STUDENT_FILES,
        f"{message} (student.json says kind {metadata.get('kind')!r} and lists: {listed})",
        file=file,
        fix="copy the whole folder the student was saved to (student.json belongs with the files it lists), "
        "or re-train the student",
    )


def _unrecorded_error(path: Path, name: str, fix: str | None) -> TvdError:
    return TvdError(
        E_CHECKSUM,
        f"{name} is loaded but student.json has no sha256 for it",
        file=path,
        fix=fix
        or "remove the file if you put it there, or restore student.json as the student was saved "
        "(re-save or re-train the student to record it)",
    )


def _check_digest(path: Path, name: str, expected: str, actual: str) -> None:
    if actual != expected:
        raise TvdError(
            E_CHECKSUM,
            f"{name} is not the file the student was saved with (sha256 {actual[:16]}..., student.json "
            f"records {expected[:16]}...)",
            file=path,
            fix="restore the folder as it was saved (the file was changed or replaced: do not load it if you do "
            "not know why), or re-train the student",
        )


def _locate(directory: Path, metadata: Mapping[str, Any], name: str, fix: str | None) -> tuple[Path, str]:
    """The path of ``name`` and its recorded sha256, or the E407/E409 that stops its load."""
    path = directory / name
    expected = _recorded(metadata).get(name)
    if expected is None:
        if path.is_file():
            raise _unrecorded_error(path, name, fix)
        raise _files_error(metadata, f"the student needs {name}, which student.json does not list", path)
    if not path.is_file():
        raise _files_error(metadata, f"{name} is listed in student.json but missing", path)
    return path, expected


def verified_bytes(directory: str | Path, metadata: Mapping[str, Any], name: str, *, fix: str | None = None) -> bytes:
    """The bytes of ``directory/name`` after checking them against ``student.json``'s record (E407: no record or
    another sha256; E409: neither listed nor present, or listed but missing).  The bytes checked are the bytes
    returned, so parse these rather than reading the file again.  ``fix``: the fix of an unrecorded file."""
    directory = Path(directory)
    path, expected = _locate(directory, metadata, name, fix)
    data = path.read_bytes()
    _check_digest(path, name, expected, hashlib.sha256(data).hexdigest())
    return data


def verified_path(directory: str | Path, metadata: Mapping[str, Any], name: str, *, fix: str | None = None) -> Path:
    """``directory/name`` after checking the file against ``student.json``'s record (as :func:`verified_bytes`),
    for a library that opens the file itself."""
    directory = Path(directory)
    path, expected = _locate(directory, metadata, name, fix)
    _check_digest(path, name, expected, sha256_file(path))
    return path


def verified_folder(directory: str | Path, metadata: Mapping[str, Any], name: str) -> Path:
    """``directory/name`` after checking every file under it against ``student.json``'s record: a file there
    without a record, or with another sha256, is E407; a recorded file that is missing, or no files at all, E409."""
    directory = Path(directory)
    folder = directory / name
    prefix = f"{name}/"
    recorded = {k: v for k, v in _recorded(metadata).items() if k.startswith(prefix)}
    present = (
        {p.relative_to(directory).as_posix(): p for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}
    )
    if not recorded and not present:
        raise _files_error(metadata, f"the student needs {prefix}, which student.json does not list", folder)
    unrecorded, missing = sorted(present.keys() - recorded.keys()), sorted(recorded.keys() - present.keys())
    if unrecorded:
        raise _unrecorded_error(present[unrecorded[0]], unrecorded[0], None)
    if missing:
        raise _files_error(metadata, f"{missing[0]} is listed in student.json but missing", folder)
    for relative, expected in sorted(recorded.items()):
        _check_digest(present[relative], relative, expected, sha256_file(present[relative]))
    return folder


def pickle_refused(directory: str | Path, what: str) -> TvdError:
    """The E408 for a folder of an older format whose model is a pickle, loaded without ``trust_pickle``."""
    directory = Path(directory)
    return TvdError(
        E_PICKLE_REFUSED,
        f"{what} in this folder is of an older format stored as a pickle ({PICKLE_FILE}), and loading a pickle "
        "runs whatever code it holds; refused",
        file=directory,
        fix=f"if you trust where the folder came from, convert it once to the safe format: {UPGRADE_COMMAND} "
        f"{directory} --trust-pickle (or pass --trust-pickle / trust_pickle=True to load it as it is); "
        "otherwise re-train it",
    )


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
