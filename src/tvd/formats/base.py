"""What every dataset format shares: error codes, parsed records, read results and atomic writing.

A format module turns a file (or directory) into a stream of :class:`Record` objects, one per input
record, each holding either an :class:`~tvd.data.utterance.Utterance` or the :class:`~tvd.errors.TvdError`
that made the record malformed.  :func:`collect` turns that stream into a :class:`ReadResult`, raising at
the first malformed record (strict) or keeping it as a :class:`~tvd.errors.Problem` (skip-and-report); it
also refuses (E112) any utterance holding a string UTF-8 cannot encode (a lone surrogate), so no reader hands
one out.  Line-based formats read a file with :func:`read_lines`, which decodes each line on its own: a line
that is not valid UTF-8 is one malformed record (E112), skipped like any other.  Errors that make the whole
input unreadable (missing file, YAML syntax error, a whole-file format that is not UTF-8) are raised at once
in both modes.

Writers render everything in memory first, so an utterance the format cannot express raises before any
file is touched, then replace the destination atomically (:func:`atomic_write_text`,
:func:`atomic_directory`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvd.data import atomic
from tvd.data.utterance import Utterance, encoding_problem, unencodable
from tvd.errors import (
    E_BAD_ENCODING,
    E_BAD_RECORD,
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
            log.report(_printable(record.error), _escape_surrogates(record.raw))
            continue
        utterance = record.utterance
        assert utterance is not None
        problem = encoding_problem(utterance)
        if problem is not None:
            log.report(unencodable_error(problem, file=record.file, line=record.line), _escape_surrogates(record.raw))
            continue
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


def _escape_surrogates(text: str) -> str:
    """``text`` with any lone surrogate written as ``\\udXXX``, so a problem's text can always be printed or saved."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _printable(error: TvdError) -> TvdError:
    """``error``, or a copy whose message has its lone surrogates escaped (a message may quote the raw text)."""
    message = _escape_surrogates(error.message)
    if message == error.message:
        return error
    return TvdError(error.code, message, file=error.file, line=error.line, fix=error.fix)


def require_exists(path: str | Path) -> Path:
    """``path`` as a :class:`Path`; raises E101 if nothing is there."""
    path = Path(path)
    if not path.exists():
        raise TvdError(E_PATH_NOT_FOUND, "no such file or directory", file=path, fix="check the path")
    return path


def unencodable_error(problem: str, *, file: str | Path, line: int | None) -> TvdError:
    """The error (E112) for a record holding text UTF-8 cannot encode; ``problem`` says where."""
    return TvdError(E_BAD_ENCODING, f"text UTF-8 cannot encode, {problem}", file=file, line=line,
                    fix="write the character itself in valid UTF-8; a \\uXXXX escape of half a surrogate pair "
                    "needs its other half")


@dataclass(frozen=True)
class Line:
    """One line of a text file: its 1-based number, its text without the line end, and, for a line that is
    not valid UTF-8, the E112 error (``text`` then shows the bad bytes as U+FFFD replacement characters)."""

    number: int
    text: str
    error: TvdError | None = None


def _require_file(path: str | Path) -> Path:
    path = require_exists(path)
    if path.is_dir():
        raise TvdError(E_UNREADABLE, "expected a file, found a directory", file=path, fix="give the file's path")
    return path


def read_lines(path: str | Path) -> list[Line]:
    """The lines of a UTF-8 text file (BOM dropped, ``\\r\\n`` accepted), without line ends, each decoded alone.

    Splits on ``\\n`` only, so line numbers match what an editor shows even when the text holds other
    Unicode line separators.  A trailing newline does not add an empty last line.  A line that is not
    valid UTF-8 does not stop the file: it comes back with its E112 error, for the reader to report as a
    malformed record (strict: raised naming the line; skip-and-report: listed, the other lines read).
    """
    path = _require_file(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    lines = []
    for number, chunk in enumerate(chunks, start=1):
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        try:
            lines.append(Line(number, chunk.decode("utf-8")))
        except UnicodeDecodeError as exc:
            text = chunk.decode("utf-8", errors="replace")
            column = len(chunk[: exc.start].decode("utf-8", errors="replace")) + 1
            error = TvdError(E_BAD_ENCODING, f"line is not valid UTF-8 ({exc.reason} at character {column}): "
                             f"{_shorten(text)!r}", file=path, line=number,
                             fix="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), or fix the line")
            lines.append(Line(number, text, error))
    return lines


def read_text(path: str | Path, what: str = "file") -> str:
    """A whole UTF-8 text file (BOM dropped, ``\\r\\n`` read as ``\\n``), for formats that parse it as a whole.

    Raises E103 naming the line of the first byte that is not valid UTF-8: such a file (YAML) cannot be read
    line by line, so there is no record to skip.  ``what`` names the file in the message (``"a YAML file"``).
    """
    path = _require_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TvdError(E_UNREADABLE, f"{what} must be valid UTF-8 as a whole; byte {exc.start + 1} "
                       f"(line {line}) is not: {exc.reason}", file=path, line=line,
                       fix="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from exc
    return text.replace("\r\n", "\n")


class JsonLineError(ValueError):
    """A line that is not one strict JSON value (see :func:`load_json`); the message says why."""


def _no_constant(name: str) -> Any:
    raise JsonLineError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """The JSON value of one line, strictly: raises :class:`JsonLineError` for bad syntax (with its column),
    ``NaN`` / ``Infinity`` (Python's extension, not JSON), an integer of more than 4300 digits, or nesting too
    deep for the parser."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonLineError(f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    except JsonLineError:
        raise
    except ValueError as exc:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise JsonLineError(f"not JSON tvd reads: {str(exc).split(';')[0]}") from exc
    except RecursionError as exc:
        raise JsonLineError("not JSON tvd reads: nested too deeply") from exc


def line_record(line: Line, file: str | Path) -> Record | None:
    """The malformed record for a line that is not valid UTF-8 (E112), else ``None``."""
    if line.error is None:
        return None
    return Record(str(file), line.number, line.text, error=line.error)


def json_object_lines(
    path: str | Path, *, not_object: str, fix: str
) -> Iterator[Record | tuple[int, str, dict[str, Any]]]:
    """The JSON objects of a JSON-lines file, one ``(line number, raw text, object)`` per non-blank line, or the
    malformed :class:`Record` of a line that is not UTF-8 (E112), not strict JSON (E109), not an object (E109,
    ``not_object`` with ``fix``) or holds text UTF-8 cannot encode (E112)."""
    for line in read_lines(path):
        bad = line_record(line, path)
        number, text = line.number, line.text
        if bad is not None:
            yield bad
            continue
        if not text.strip():
            continue
        try:
            value = load_json(text)
        except JsonLineError as exc:
            yield record_error(E_BAD_RECORD, str(exc), file=path, line=number, raw=text,
                               fix="write one JSON object per line")
            continue
        if not isinstance(value, dict):
            yield record_error(E_BAD_RECORD, not_object.format(type=type(value).__name__), file=path, line=number,
                               raw=text, fix=fix)
            continue
        problem = unencodable(value)
        if problem is not None:
            yield Record(str(path), number, text, error=unencodable_error(problem, file=path, line=number))
            continue
        yield number, text, value


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(index: int, utterance: Utterance) -> str:
    """How writer errors name an utterance: its 1-based position and (shortened) text."""
    return f"utterance {index + 1} ({_shorten(utterance.text, 60)!r})"


def cannot_write(fmt: str, index: int, utterance: Utterance, reason: str, fix: str, path: str | Path) -> TvdError:
    """The error a writer raises for an utterance the format cannot express (E110)."""
    return TvdError(E_CANNOT_WRITE, f"{fmt} cannot express {describe(index, utterance)}: {reason}", file=path, fix=fix)


def require_encodable(fmt: str, index: int, utterance: Utterance, path: str | Path) -> None:
    """Raise E110 if ``utterance`` holds a string UTF-8 cannot encode (a lone surrogate): no file could hold it."""
    problem = encoding_problem(utterance)
    if problem is not None:
        raise cannot_write(fmt, index, utterance, f"UTF-8 cannot encode its {problem}",
                           "replace the lone surrogate (e.g. decode the source with errors='replace')", path)


def require_locatable_tokens(fmt: str, index: int, utterance: Utterance, path: str | Path) -> None:
    """Raise E110 if ``utterance``'s own tokens leave text that is not whitespace before or between them: a format
    that stores tokens beside the text (xsid, hf) finds them in the text again on reading, and could not."""
    previous_end = 0
    for start, end in utterance.tokens or ():
        if utterance.text[previous_end:start].strip():
            raise cannot_write(fmt, index, utterance, f"its tokens leave {utterance.text[previous_end:start]!r} "
                               "outside every token", "give it tokens that cover its text, or none", path)
        previous_end = end


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
