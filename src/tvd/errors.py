"""Coded, user-facing errors.

Every error a user can cause (bad input file, unknown slot, missing model, bad config) is raised as a
:class:`TvdError` with a stable code (``E1xx`` data and formats, ``E2xx`` LINGUIST requests and outputs,
``E3xx`` teachers, ``E4xx`` students and evaluation, ``E5xx`` run configuration), the place it happened
(file and line where known) and a fix.  The command-line tool prints ``str(error)`` and exits non-zero
instead of showing a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class TvdError(Exception):
    """An error caused by input, configuration or environment, with a code, location and fix."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.fix = fix
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        where = f"{self.location}: " if self.file is not None else ""
        text = f"[{self.code}] {where}{self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


@dataclass(frozen=True)
class Problem:
    """One skipped input record, kept when a reader runs in skip-and-report mode."""

    code: str
    file: str
    line: int
    message: str
    raw: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "file": self.file, "line": self.line, "message": self.message, "raw": self.raw}


class ProblemLog:
    """Collects malformed records: raise at once (strict) or record them and go on (skip-and-report)."""

    def __init__(self, skip: bool = False) -> None:
        self.skip = skip
        self.problems: list[Problem] = []

    def report(self, error: TvdError, raw: str) -> None:
        """Raise ``error`` in strict mode; otherwise remember it and let the reader continue."""
        if not self.skip:
            raise error
        self.problems.append(Problem(error.code, error.file or "", error.line or 0, error.message, raw.rstrip("\n")))
