"""What every dataset format shares: error codes, parsed records, read results and atomic writing.

A format module turns a file (or directory) into a stream of :class:`Record` objects, one per input
record, each holding either an :class:`~tvd.data.utterance.Utterance` or the :class:`~tvd.errors.TvdError`
that made the record malformed.  :func:`collect` turns that stream into a :class:`ReadResult`, raising at
the first malformed record (strict) or keeping it as a :class:`~tvd.errors.Problem` (skip-and-report).
Errors that make the whole input unreadable (missing file, YAML syntax error, bad encoding) are raised at
once in both modes.

Writers render everything in memory first, so an utterance the format cannot express raises before any
file is touched, then replace the destination atomically (:func:`atomic_write_text`,
:func:`atomic_directory`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tvd.data import atomic
from tvd.data.utterance import Utterance
from tvd.errors import (
    E_CANNOT_WRITE,
    E_DESTINATION,
    E_PATH_NOT_FOUND,
    E_UNKNOWN_LABEL,
    E_UNREADABLE,
    Problem,
    ProblemLog,
    TvdError,
)


@dataclass(frozen=True)
class Record:
    """One input record: where it came from, its raw text, and the utterance or the error it produced."""

    file: str
    line: int
    raw: str
    utterance: Utterance | None = None
    error: TvdError | None = None


@dataclass
class ReadResult:
    """The utterances read from a dataset and, in skip-and-report mode, the malformed records skipped."""

    utterances: list[Utterance] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    format: str = ""


@dataclass(frozen=True)
class FormatSpec:
    """A format: its name, a one-line description, whether it is a directory, and its reader and writer.

    ``iter_records(path, *, language=None, **options)`` yields :class:`Record` objects;
    ``write(utterances, path, **options)`` writes atomically.  Each format module defines its ``FORMAT``.
    """

    name: str
    description: str
    directory: bool
    iter_records: Callable[..., Iterator[Record]]
    write: Callable[..., None]


def record_error(
    code: str, message: str, *, file: str | Path, line: int, raw: str, fix: str | None = None
) -> Record:
    """A :class:`Record` for a malformed input record."""
    return Record(str(file), line, raw, error=TvdError(code, message, file=file, line=line, fix=fix))


def collect(
    records: Iterable[Record],
    *,
    skip_errors: bool = False,
    labels: Iterable[str] | None = None,
    format: str = "",
) -> ReadResult:
    """Gather ``records`` into a :class:`ReadResult`.

    Strict mode (default) raises the first malformed record's error; ``skip_errors`` keeps it as a problem
    and goes on.  ``labels``, when given, is the set of allowed slot labels: a record using another label
    is malformed (E107).
    """
    allowed = set(labels) if labels is not None else None
    log = ProblemLog(skip=skip_errors)
    result = ReadResult(format=format)
    for record in records:
        if record.error is not None:
            log.report(record.error, record.raw)
            continue
        utterance = record.utterance
        assert utterance is not None
        if allowed is not None:
            unknown = sorted({s.label for s in utterance.spans} - allowed)
            if unknown:
                error = TvdError(
                    E_UNKNOWN_LABEL,
                    f"unknown slot label(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed)) or '(none)'}",
                    file=record.file,
                    line=record.line,
                    fix="fix the label in the record, or add it to the allowed label set",
                )
                log.report(error, record.raw)
                continue
        result.utterances.append(utterance)
    result.problems = log.problems
    return result


def require_exists(path: str | Path) -> Path:
    """``path`` as a :class:`Path`; raises E101 if nothing is there."""
    path = Path(path)
    if not path.exists():
        raise TvdError(E_PATH_NOT_FOUND, "no such file or directory", file=path, fix="check the path")
    return path


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (BOM dropped, ``\\r\\n`` accepted), without line ends.

    Splits on ``\\n`` only, so line numbers match what an editor shows even when the text holds other
    Unicode line separators.  A trailing newline does not add an empty last line.
    """
    path = require_exists(path)
    if path.is_dir():
        raise TvdError(E_UNREADABLE, "expected a file, found a directory", file=path, fix="give the file's path")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TvdError(E_UNREADABLE, f"not valid UTF-8: {exc.reason}", file=path, line=line,
                       fix="re-encode the file as UTF-8") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def describe(index: int, utterance: Utterance) -> str:
    """How writer errors name an utterance: its 1-based position and (shortened) text."""
    text = utterance.text if len(utterance.text) <= 60 else utterance.text[:57] + "..."
    return f"utterance {index + 1} ({text!r})"


def cannot_write(fmt: str, index: int, utterance: Utterance, reason: str, fix: str, path: str | Path) -> TvdError:
    """The error a writer raises for an utterance the format cannot express (E110)."""
    return TvdError(E_CANNOT_WRITE, f"{fmt} cannot express {describe(index, utterance)}: {reason}", file=path, fix=fix)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a dataset file atomically (see :func:`tvd.data.atomic.atomic_write_text`); E111 for a directory."""
    path = Path(path)
    if path.is_dir():
        raise TvdError(E_DESTINATION, "destination is a directory", file=path, fix="give a file path")
    atomic.atomic_write_text(path, text)


@contextmanager
def atomic_directory(path: str | Path, is_replaceable: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``path``; on success it becomes ``path``.

    An existing ``path`` is replaced only if it is empty or ``is_replaceable(path)`` says it holds a
    dataset of the same format; anything else raises E111 before anything is written.  The old directory
    is moved aside, the new one renamed into place, then the old one deleted.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or is_replaceable(path))):
        raise TvdError(
            E_DESTINATION,
            "destination exists and is not a dataset directory of this format; refusing to replace it",
            file=path,
            fix="choose a new path or remove it first",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~atomic.umask())  # mkdtemp makes it private; give it the usual permissions
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "d")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
