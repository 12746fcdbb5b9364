"""The ASGI application of ``tvd serve``: :func:`create_app` wraps a trained student in a FastAPI app.

The app depends on the student only through :class:`Predictor` (``await predict(texts)``) and
:func:`model_info`, so any :class:`~tvd.students.base.Student` kind can be served as it is; a kind that gains
from batching concurrent requests (an encoder) can pass its own predictor to :func:`create_app`.

Errors are JSON: ``{"error": {"code": "E45x", "message": "...", "fix": "..."}}`` with a 4xx status for a bad
request and 500 when the student fails; the server keeps serving either way.  With an API key
(``ServeSettings.api_key_env``) every path but ``/health`` (and the docs pages, when turned on) answers 401 without
it.  Connection-level limits (idle and slow clients, header size) are the server's: :mod:`tvd.serve.server`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import tvd
from tvd.data.utterance import Utterance
from tvd.errors import (
    E_BAD_REQUEST,
    E_BAD_SETTINGS,
    E_BATCH_TOO_LARGE,
    E_BODY_TOO_LARGE,
    E_CONTENT_TYPE,
    E_MALFORMED_JSON,
    E_NESTED_JSON,
    E_PREDICTION_FAILED,
    E_ROUTE_NOT_FOUND,
    E_TEXT_TOO_LONG,
    E_UNAUTHORIZED,
    E_UNENCODABLE_TEXT,
    TvdError,
)
from tvd.serve.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from tvd.serve.metrics import ServeMetrics
from tvd.serve.settings import ServeSettings
from tvd.students.base import Student

logger = logging.getLogger("tvd.serve")

ENDPOINTS = ("/parse", "/health", "/metrics")
MODEL_DIR_ENV = "TVD_SERVE_MODEL_DIR"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
#: the deepest JSON nesting ``/parse`` decodes; its own bodies need 2 (``{"texts": [...]}``)
MAX_JSON_DEPTH = 8


# -- prediction off the event loop -------------------------------------------------------------------


class Predictor(Protocol):
    """Runs a student's predictions for the app without blocking the event loop."""

    async def predict(self, texts: Sequence[str]) -> list[Utterance]:
        """One prediction per text, in order."""
        ...

    def close(self) -> None:
        """Release threads or other resources (the app calls it on shutdown)."""
        ...


class ThreadPoolPredictor:
    """Calls ``student.predict`` in a small thread pool, one request's texts per call.

    With one thread (the default) predictions are serialised, which students that are not thread-safe need.
    """

    def __init__(self, student: Student, threads: int = 1) -> None:
        self.student = student
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def predict(self, texts: Sequence[str]) -> list[Utterance]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="tvd-predict")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.student.predict, list(texts))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class InlinePredictor:
    """Calls ``student.predict`` on the event loop itself for small requests, in one worker thread for large ones.

    For a fast student (the CRF: well under a millisecond an utterance) the hand-off to a worker thread and back
    costs about as much as the prediction, and a thread gains nothing under the GIL; the loop is busy for the
    length of one prediction, as the worker would be.  ``tvd serve --prediction-threads 0``.

    A request with more than ``max_inline_texts`` texts is predicted in the worker thread, so that a maximum
    batch does not hold up ``/health`` and other small requests.  While the worker predicts, every request goes
    to it (queued behind), so ``student.predict`` never runs twice at once: the CRF's tagger is not thread-safe.
    """

    def __init__(self, student: Student, max_inline_texts: int = 8) -> None:
        self.student = student
        self.max_inline_texts = max_inline_texts
        self._executor: ThreadPoolExecutor | None = None
        self._in_worker: set[Future[list[Utterance]]] = set()  # submitted and not finished

    async def predict(self, texts: Sequence[str]) -> list[Utterance]:
        if len(texts) <= self.max_inline_texts and not self._in_worker:
            return self.student.predict(list(texts))
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tvd-predict-large")
        future = self._executor.submit(self.student.predict, list(texts))
        self._in_worker.add(future)
        future.add_done_callback(self._in_worker.discard)  # after predict returned or raised, even if cancelled
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def model_info(student: Student) -> dict[str, Any]:
    """What ``/health`` says about the student: its kind and how many intents and slot labels it knows.

    Reads the ``intents_`` and ``slot_labels_`` attributes that trained students set (missing ones count 0).
    """
    intents = list(getattr(student, "intents_", None) or [])
    slot_labels = list(getattr(student, "slot_labels_", None) or [])
    return {
        "kind": student.kind or type(student).__name__,
        "intents": len(intents),
        "slot_labels": len(slot_labels),
        "labels": len(intents) + len(slot_labels),
    }


# -- request parsing ---------------------------------------------------------------------------------


class _Rejected(Exception):
    """A request the server answers with an error status instead of a prediction."""

    def __init__(self, status: int, code: str, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fix = status, code, message, fix


def error_response(status: int, code: str, message: str, fix: str | None = None) -> JSONResponse:
    """The JSON body of every error answer."""
    error: dict[str, str] = {"code": code, "message": message}
    if fix:
        error["fix"] = fix
    return JSONResponse({"error": error}, status_code=status)


_SHAPE_FIX = 'send {"text": "..."} for one utterance or {"texts": ["...", ...]} for a batch'


def _check_text(value: Any, where: str, settings: ServeSettings) -> str:
    if not isinstance(value, str):
        raise _Rejected(422, E_BAD_REQUEST, f"{where} must be a string, got {_json_type(value)}", _SHAPE_FIX)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, which a JSON escape ("\\ud800") can spell
        raise _Rejected(
            400,
            E_UNENCODABLE_TEXT,
            f"{where} has a lone surrogate (U+{ord(value[exc.start]):04X} at character {exc.start}), which is not a "
            "character",
            "send whole characters: escape a character outside the BMP as a surrogate pair, or send it as UTF-8",
        ) from None
    if not value.strip():
        raise _Rejected(422, E_BAD_REQUEST, f"{where} is empty", "send text with at least one non-space character")
    if len(value) > settings.max_chars:
        raise _Rejected(
            422,
            E_TEXT_TOO_LONG,
            f"{where} has {len(value)} characters; the limit is {settings.max_chars}",
            "split the text, or start the server with a larger --max-chars",
        )
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    return "a number" if isinstance(value, int | float) else type(value).__name__


def parse_payload(payload: Any, settings: ServeSettings) -> tuple[list[str], bool]:
    """The texts of a decoded ``/parse`` body and whether it was a single ``text``; raises :class:`_Rejected`."""
    if not isinstance(payload, dict):
        raise _Rejected(422, E_BAD_REQUEST, f"the body must be a JSON object, got {_json_type(payload)}", _SHAPE_FIX)
    has_text, has_texts = "text" in payload, "texts" in payload
    if has_text and has_texts:
        raise _Rejected(422, E_BAD_REQUEST, 'send either "text" or "texts", not both', _SHAPE_FIX)
    if has_text:
        return [_check_text(payload["text"], '"text"', settings)], True
    if not has_texts:
        raise _Rejected(422, E_BAD_REQUEST, 'the body has no "text" or "texts" field', _SHAPE_FIX)
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise _Rejected(422, E_BAD_REQUEST, f'"texts" must be an array of strings, got {_json_type(texts)}', _SHAPE_FIX)
    if not texts:
        raise _Rejected(422, E_BAD_REQUEST, '"texts" is empty', "send at least one text")
    if len(texts) > settings.max_batch:
        raise _Rejected(
            422,
            E_BATCH_TOO_LARGE,
            f'"texts" has {len(texts)} items; the limit is {settings.max_batch}',
            "send smaller batches, or start the server with a larger --max-batch",
        )
    return [_check_text(text, f'"texts"[{index}]', settings) for index, text in enumerate(texts)], False


async def _read_body(request: Request, settings: ServeSettings) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        raise _Rejected(
            415, E_CONTENT_TYPE, f"content type {shown!r} is not supported", "send Content-Type: application/json"
        )
    too_large = _Rejected(
        413,
        E_BODY_TOO_LARGE,
        f"the request body is larger than {settings.max_body_bytes} bytes",
        "send smaller batches, or start the server with a larger --max-body-bytes",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_body_bytes:
            raise too_large
    return bytes(body)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # linear: one way to match each byte
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENERS = frozenset(b"[{")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON in ``body`` nests arrays and objects more than ``limit`` deep, without recursion.

    Brackets inside strings do not count.  Bounded work: a body with at most ``limit`` ``[`` and ``{`` returns at
    once; otherwise one pass over its brackets (about 16 ms for a megabyte of ``[],``; ``json.loads`` takes 50).
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _decode(body: bytes) -> Any:
    if json_too_deep(body):
        raise _Rejected(
            400,
            E_NESTED_JSON,
            f"the body nests arrays or objects more than {MAX_JSON_DEPTH} deep",
            _SHAPE_FIX,
        )
    try:
        # parse_int=float: numbers are never valid here, and int() refuses over 4,300 digits with advice for Python
        return json.loads(body.decode("utf-8"), parse_int=float)
    except UnicodeDecodeError as exc:
        raise _Rejected(
            400, E_MALFORMED_JSON, f"the body is not UTF-8 ({exc})", "send the JSON encoded as UTF-8"
        ) from None
    except ValueError as exc:  # JSONDecodeError
        raise _Rejected(400, E_MALFORMED_JSON, f"the body is not valid JSON ({exc})", _SHAPE_FIX) from None
    except RecursionError:  # not reached after json_too_deep; kept so that no body can make a 500
        raise _Rejected(400, E_NESTED_JSON, "the body nests arrays or objects too deep", _SHAPE_FIX) from None


def prediction_result(utterance: Utterance) -> dict[str, Any]:
    """One utterance as ``/parse`` returns it: text, intent, confidence and slots with character spans."""
    confidence = utterance.meta.get("intent_confidence")
    if confidence is not None:
        confidence = float(confidence)
        if not math.isfinite(confidence):
            confidence = None
    return {
        "text": utterance.text,
        "intent": utterance.intent,
        "confidence": confidence,
        "slots": [
            {"start": span.start, "end": span.end, "label": span.label, "value": utterance.text[span.start : span.end]}
            for span in utterance.spans
        ],
    }


# -- metrics middleware ------------------------------------------------------------------------------


class MetricsMiddleware:
    """Counts every HTTP request by endpoint, method and status and times it (unknown paths count as ``other``)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in ENDPOINTS else "other"
            self.metrics.observe_request(endpoint, scope.get("method", ""), status, time.perf_counter() - started)


class ErrorMiddleware:
    """Answers an exception no handler caught with a JSON 500 and logs it once (instead of Starlette's re-raise,
    which made uvicorn log a second traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:
            logger.exception("unexpected error while answering %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = error_response(500, E_PREDICTION_FAILED, f"internal error ({type(exc).__name__})")
                await response(scope, receive, send)


def presented_keys(headers: Sequence[tuple[bytes, bytes]]) -> Iterator[bytes]:
    """The keys a request offers: the token of ``Authorization: Bearer <key>`` and the value of ``X-API-Key``."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                yield token.strip()
        elif name == b"x-api-key" and value.strip():
            yield value.strip()


class ApiKeyMiddleware:
    """401 (E460, ``WWW-Authenticate: Bearer``) for a request without the API key, except on ``open_paths``.

    Keys are compared with :func:`hmac.compare_digest`, in time that does not depend on where they differ.
    """

    def __init__(self, app: ASGIApp, key: str, open_paths: Sequence[str]) -> None:
        self.app = app
        self.key = key.encode("utf-8")
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        offered = list(presented_keys(scope.get("headers", ())))
        if any(hmac.compare_digest(key, self.key) for key in offered):
            await self.app(scope, receive, send)
            return
        fix = "send the key as Authorization: Bearer <key> (or X-API-Key: <key>)"
        if offered:
            response = error_response(401, E_UNAUTHORIZED, "the API key is not valid", fix)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        else:
            response = error_response(401, E_UNAUTHORIZED, "this server needs an API key", fix)
            response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


# -- the app -----------------------------------------------------------------------------------------

_PARSE_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                        {
                            "type": "object",
                            "required": ["texts"],
                            "properties": {"texts": {"type": "array", "items": {"type": "string"}}},
                        },
                    ]
                }
            }
        },
    }
}


def create_app(
    student: Student, settings: ServeSettings | None = None, *, predictor: Predictor | None = None
) -> FastAPI:
    """The FastAPI app serving ``student`` under ``settings`` (defaults: :class:`ServeSettings`).

    ``predictor`` replaces the default: :class:`ThreadPoolPredictor`, :class:`InlinePredictor` when
    ``settings.prediction_threads`` is 0, or a :class:`~tvd.serve.batching.MicroBatchPredictor` when
    ``settings.micro_batch`` > 1.  Raises :class:`TvdError` (E463) when ``settings.api_key_env`` names a variable
    that is unset or empty.
    """
    settings = settings or ServeSettings()
    api_key = settings.api_key()
    if predictor is None and settings.micro_batch > 1:
        from tvd.serve.batching import MicroBatchPredictor

        predictor = MicroBatchPredictor(student, settings.micro_batch)
    if predictor is None:
        threads = settings.prediction_threads
        if threads > 0:
            predictor = ThreadPoolPredictor(student, threads)
        else:
            predictor = InlinePredictor(student, settings.inline_max_texts)
    info = model_info(student)
    metrics = ServeMetrics(info["kind"])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        predictor.close()

    app = FastAPI(
        title="tvd serve",
        version=tvd.__version__,
        summary="Intent and slots of utterances, from a student trained with teaching-via-data.",
        lifespan=lifespan,
        # off unless asked for: the pages load their scripts from a CDN, and the schema maps the API
        docs_url="/docs" if settings.docs else None,
        redoc_url="/redoc" if settings.docs else None,
        openapi_url="/openapi.json" if settings.docs else None,
    )
    app.state.student, app.state.settings, app.state.metrics = student, settings, metrics
    # outermost last: metrics count every answer, 401s and 500s included
    if api_key is not None:
        open_paths = ("/health", *DOCS_PATHS) if settings.docs else ("/health",)
        app.add_middleware(ApiKeyMiddleware, key=api_key, open_paths=open_paths)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            fix = "use POST /parse, GET /health or GET /metrics"
            return error_response(exc.status_code, E_ROUTE_NOT_FOUND, str(exc.detail), fix)
        return error_response(exc.status_code, E_BAD_REQUEST, str(exc.detail))

    @app.post("/parse", openapi_extra=_PARSE_BODY_SCHEMA)
    async def parse(request: Request) -> Response:
        """Intent, confidence and slots (character spans) of one text or a batch of texts."""
        try:
            texts, single = parse_payload(_decode(await _read_body(request, settings)), settings)
        except _Rejected as rejected:
            return error_response(rejected.status, rejected.code, rejected.message, rejected.fix)
        except ClientDisconnect:  # closed mid-body (or by the server's read timeout): nobody reads this answer
            return error_response(400, E_BAD_REQUEST, "the client closed the connection before the body ended")
        try:
            predictions = await predictor.predict(texts)
            if len(predictions) != len(texts):
                raise RuntimeError(f"{len(predictions)} predictions for {len(texts)} texts")
            results = [prediction_result(prediction) for prediction in predictions]
        except Exception as exc:
            metrics.prediction_errors += 1
            logger.exception("the student failed on a /parse request")
            detail = exc.message if isinstance(exc, TvdError) else f"{type(exc).__name__}: {exc}"
            return error_response(
                500,
                E_PREDICTION_FAILED,
                f"the student failed on this request ({detail})",
                "see the server log; the server keeps serving other requests",
            )
        metrics.utterances_parsed += len(texts)
        return JSONResponse(results[0] if single else {"results": results})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """``ok``, the student served (kind, label counts), the tvd version and the request limits."""
        return {"status": "ok", "model": info, "version": tvd.__version__, "limits": settings.limits()}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text: requests by endpoint and status, latency histogram, utterances parsed."""
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app


def load_served_student(model_dir: str | Path, settings: ServeSettings) -> Student:
    """The student saved in ``model_dir``, loaded as ``settings`` allow (``trust_pickle``)."""
    from tvd.students import load_student

    return load_student(model_dir, trust_pickle=settings.trust_pickle)


def create_app_from_environ() -> FastAPI:
    """App factory for ``uvicorn --factory`` (each ``--workers`` process): the student in ``TVD_SERVE_MODEL_DIR``
    and the settings in the ``TVD_SERVE_*`` variables (the API key in the variable they name)."""
    model_dir = os.environ.get(MODEL_DIR_ENV)
    if not model_dir:
        raise TvdError(E_BAD_SETTINGS, f"{MODEL_DIR_ENV} is not set", fix="start the server with `tvd serve MODEL_DIR`")
    settings = ServeSettings.from_environ()
    return create_app(load_served_student(model_dir, settings), settings)
