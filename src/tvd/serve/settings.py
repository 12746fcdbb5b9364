"""Limits and knobs of ``tvd serve``, and the error codes of the serving package (E45x, E46x)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tvd.errors import E_BAD_SETTINGS, E_NO_API_KEY, TvdError
from tvd.students.base import STUDENTS, Student

ENV_PREFIX = "TVD_SERVE_"
ZERO_ALLOWED = {"prediction_threads"}  # 0: predict on the event loop
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one server, and what it exposes.

    ``max_chars``: the longest text accepted, in characters (Unicode code points).
    ``max_batch``: the most texts in one ``{"texts": [...]}`` request.
    ``max_body_bytes``: the largest request body; checked against ``Content-Length`` and while reading.
    ``prediction_threads``: threads that run ``Student.predict`` off the event loop; 0 runs it on the loop itself
    (:class:`~tvd.serve.app.InlinePredictor`, the fastest for a sub-millisecond student).  Keep at most 1
    unless the student's ``predict`` is thread-safe (the CRF student's is not: its crfsuite tagger is shared).
    ``micro_batch``: 1 = off; above 1, requests that queue up while a prediction runs are predicted together, up
    to this many texts per call (:class:`~tvd.serve.batching.MicroBatchPredictor`).
    ``inline_max_texts``: with ``prediction_threads`` 0, a request with more texts than this is predicted in a
    worker thread instead, so that a large batch does not hold up ``/health`` and small requests.
    ``api_key_env``: the name of the environment variable holding the API key (the key itself is never stored
    here, so it does not show in ``/health``, logs or ``--workers`` settings); ``""``: no key needed.
    ``docs``: serve ``/docs``, ``/redoc`` and ``/openapi.json`` (off: those pages load assets from a CDN).
    ``trust_pickle``: let :func:`~tvd.students.base.load_student` load a student stored as a pickle, which runs
    code from the model folder.
    """

    max_chars: int = 1000
    max_batch: int = 64
    max_body_bytes: int = 1_048_576
    prediction_threads: int = 1
    micro_batch: int = 1
    inline_max_texts: int = 8
    api_key_env: str = ""
    docs: bool = False
    trust_pickle: bool = False

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(item.default, bool):
                if not isinstance(value, bool):
                    raise TvdError(
                        E_BAD_SETTINGS,
                        f"serve setting {item.name} must be true or false, got {value!r}",
                        fix=f"pass True or False for {item.name}",
                    )
            elif isinstance(item.default, str):
                if not isinstance(value, str):
                    raise TvdError(
                        E_BAD_SETTINGS,
                        f"serve setting {item.name} must be a string, got {value!r}",
                        fix=f"pass an environment variable name for {item.name}",
                    )
            else:
                least = 0 if item.name in ZERO_ALLOWED else 1
                if isinstance(value, bool) or not isinstance(value, int) or value < least:
                    kind = "a whole number >= 0" if least == 0 else "a positive integer"
                    raise TvdError(
                        E_BAD_SETTINGS,
                        f"serve setting {item.name} must be {kind}, got {value!r}",
                        fix=f"pass a whole number >= {least} for {item.name}",
                    )

    def limits(self) -> dict[str, int]:
        """The numeric limits (what ``/health`` reports); the API key variable and the switches are left out."""
        return {name: value for name, value in asdict(self).items() if type(value) is int}

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The API key from the variable ``api_key_env`` names; None when no variable is named.

        Surrounding white space is dropped.  Raises :class:`TvdError` (E463) when a variable is named but unset
        or blank: a server that was asked to check a key must not start open.
        """
        if not self.api_key_env:
            return None
        environ = os.environ if environ is None else environ
        key = environ.get(self.api_key_env, "")
        if not key.strip():
            raise TvdError(
                E_NO_API_KEY,
                f"the API key variable {self.api_key_env} is {'empty' if self.api_key_env in environ else 'not set'}",
                fix=f"export {self.api_key_env}=<a long random key> before `tvd serve`, or drop --api-key-env",
            )
        return key.strip()  # a key read from a file keeps no trailing newline

    def to_environ(self) -> dict[str, str]:
        """The settings as ``TVD_SERVE_*`` environment variables (how ``--workers`` > 1 passes them on)."""
        return {f"{ENV_PREFIX}{name.upper()}": _env_text(value) for name, value in asdict(self).items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from ``TVD_SERVE_*`` variables; defaults for those not set."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            variable = f"{ENV_PREFIX}{item.name.upper()}"
            raw = environ.get(variable)
            if raw is None:
                continue
            if isinstance(item.default, bool):
                if raw.strip().lower() not in _TRUE | _FALSE:
                    raise TvdError(E_BAD_SETTINGS, f"{variable}={raw!r} is not 1 or 0", fix=f"set {variable} to 1 or 0")
                values[item.name] = raw.strip().lower() in _TRUE
            elif isinstance(item.default, str):
                values[item.name] = raw
            else:
                try:
                    values[item.name] = int(raw)
                except ValueError as exc:
                    raise TvdError(
                        E_BAD_SETTINGS,
                        f"{variable}={raw!r} is not a whole number",
                        fix=f"set {variable} to a positive integer",
                    ) from exc
        return cls(**values)


def _env_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def kind_defaults(kind: str | None) -> dict[str, int]:
    """The ``prediction_threads`` and ``micro_batch`` that ``tvd serve`` uses for a student kind unless told.

    Each student class declares them (``Student.serve_defaults``, measured with ``bench/serve_load.py``); a kind
    that is not registered gets the base class's (one thread, no micro-batching).
    """
    if kind is None or kind not in STUDENTS:
        return dict(Student.serve_defaults)
    return dict(STUDENTS.get(kind).serve_defaults)
