"""What the generation engine needs to know of a task (LINGUIST, CLASP, or a user's own): the task protocol.

The engine (:func:`tvd.engine.generate.generate`) knows no task.  A task turns one of its requests into a
prompt and an optional GBNF grammar, names the request (``request_id``, kept in provenance), and validates a
completion into a typed result or raises the one shared :class:`Rejection` with a stable ``reason``.  The
engine does everything else: seeds, cache keys, cache lookups and writes, dispatch (concurrency, retries,
budget), accounting, progress, and the accepted / rejected / failed / unsent bookkeeping.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from tvd.teachers.base import Completion, GenerationParams

RequestT = TypeVar("RequestT", contravariant=True)
ResultT = TypeVar("ResultT", covariant=True)


class Rejection(ValueError):
    """A completion that failed a task's validation; ``reason`` is a short stable code counted in summaries."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class Task(Protocol[RequestT, ResultT]):
    """A kind of generation request, as the engine sees it.

    ``name``: the progress bar's label; ``unit``: what one completion makes (``"utt"``, ``"pair"``);
    ``version``: the validator's version, recorded in the stats (bump it when accept/reject behaviour
    changes); ``default_params``: decoding parameters when the caller gives none.
    """

    name: str
    unit: str
    version: str
    default_params: GenerationParams

    def request_id(self, request: RequestT) -> str:
        """The request's stable id (the same across runs)."""
        ...

    def prompt(self, request: RequestT) -> str:
        """The prompt text sent to the teacher."""
        ...

    def grammar(self, request: RequestT) -> str | None:
        """The GBNF grammar the completion must follow, or ``None``."""
        ...

    def validate(self, request: RequestT, completion: Completion, *, sample: int, teacher: str) -> ResultT:
        """The accepted result of ``completion`` (sample ``sample`` of a teacher with fingerprint ``teacher``);
        raises :class:`Rejection` when it is not valid."""
        ...

    def reject_record(self, request: RequestT, sample: int, rejection: Rejection, raw: str) -> dict[str, Any]:
        """The line written to the rejects file for a rejected completion (raw text and reason included)."""
        ...
