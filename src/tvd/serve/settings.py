"""Limits and knobs of ``tvd serve``, and the error codes of the serving package (E45x)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from tvd.errors import E_BAD_SETTINGS, TvdError
from tvd.students.base import STUDENTS, Student

ENV_PREFIX = "TVD_SERVE_"
ZERO_ALLOWED = {"prediction_threads"}  # 0: predict on the event loop


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one server.

    ``max_chars``: the longest text accepted, in characters (Unicode code points).
    ``max_batch``: the most texts in one ``{"texts": [...]}`` request.
    ``max_body_bytes``: the largest request body; checked against ``Content-Length`` and while reading.
    ``prediction_threads``: threads that run ``Student.predict`` off the event loop; 0 runs it on the loop itself
    (:class:`~tvd.serve.app.InlinePredictor`, the fastest for a sub-millisecond student).  Keep at most 1
    unless the student's ``predict`` is thread-safe (the CRF student's is not: its crfsuite tagger is shared).
    ``micro_batch``: 1 = off; above 1, requests that queue up while a prediction runs are predicted together, up
    to this many texts per call (:class:`~tvd.serve.batching.MicroBatchPredictor`).
    """

    max_chars: int = 1000
    max_batch: int = 64
    max_body_bytes: int = 1_048_576
    prediction_threads: int = 1
    micro_batch: int = 1

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            least = 0 if item.name in ZERO_ALLOWED else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "a whole number >= 0" if least == 0 else "a positive integer"
                raise TvdError(
                    E_BAD_SETTINGS,
                    f"serve setting {item.name} must be {kind}, got {value!r}",
                    fix=f"pass a whole number >= {least} for {item.name}",
                )

    def to_environ(self) -> dict[str, str]:
        """The settings as ``TVD_SERVE_*`` environment variables (how ``--workers`` > 1 passes them on)."""
        return {f"{ENV_PREFIX}{name.upper()}": str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from ``TVD_SERVE_*`` variables; defaults for those not set."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for item in fields(cls):
            raw = environ.get(f"{ENV_PREFIX}{item.name.upper()}")
            if raw is None:
                continue
            try:
                values[item.name] = int(raw)
            except ValueError as exc:
                raise TvdError(
                    E_BAD_SETTINGS,
                    f"{ENV_PREFIX}{item.name.upper()}={raw!r} is not a whole number",
                    fix=f"set {ENV_PREFIX}{item.name.upper()} to a positive integer",
                ) from exc
        return cls(**values)


def kind_defaults(kind: str | None) -> dict[str, int]:
    """The ``prediction_threads`` and ``micro_batch`` that ``tvd serve`` uses for a student kind unless told.

    Each student class declares them (``Student.serve_defaults``, measured with ``bench/serve_load.py``); a kind
    that is not registered gets the base class's (one thread, no micro-batching).
    """
    if kind is None or kind not in STUDENTS:
        return dict(Student.serve_defaults)
    return dict(STUDENTS.get(kind).serve_defaults)
