"""A teacher behind an OpenAI-compatible HTTP API: vLLM, Ollama, llama.cpp's server, hosted APIs.

``mode="completions"`` posts the LINGUIST prompt to ``{base_url}/completions`` (the prompt is written to
be continued, which base and instruction models both do); ``mode="chat"`` sends it as one user message
to ``{base_url}/chat/completions``.  ``base_url`` is the API root including its version, e.g.
``http://127.0.0.1:8000/v1`` or ``https://api.openai.com/v1``.

Each completion is one HTTP request with ``n=1`` and seed ``params.seed + i``, so that completion ``i``
of a call is reproducible on servers that honour seeds and is cached on its own; ``native_n=True``
instead asks for all ``n`` in one request (faster on vLLM; the server then samples them from one seed).

Errors.  Transient problems raise :class:`~tvd.teachers.base.TeacherError` with a reason the engine
retries: ``rate_limited`` (429, with ``Retry-After``), ``server_error`` (5xx), ``timeout``,
``connection`` (dropped connection), ``bad_response`` (not JSON, no choices).  Problems the user must fix
raise :class:`~tvd.errors.TvdError` and stop the run: E320 bad options (or a grammar the server refuses),
E321 no server at the base URL (connection refused before any answer), E322 no API at the base URL (404),
E323 unknown model, E324 API key refused (401/403), E325 the API key's environment variable is not set.
Another 4xx is a non-retryable ``bad_request`` failure of that request alone.  An empty completion is a
valid answer (the parser rejects it as ``empty_output``).

The API key is read from the environment variable named by ``api_key_env`` and used only in the
``Authorization`` header: it is not part of the fingerprint and is masked in every message.  Credentials in
``base_url`` itself (userinfo, which httpx sends as HTTP Basic auth, and secret query parameters such as
``?api_key=``) are sent as given but kept or shown only redacted (:func:`~tvd.teachers.urls.redact_url`):
fingerprint, ``model_id``, messages and ``repr`` hold ``http://***@host/v1?api_key=***``, so changing such a
password keeps the cache.  A query string in ``base_url`` (``?api-version=...``) is kept after the path.

Grammars.  ``grammar`` says how ``params.grammar`` (the request's GBNF output grammar) is sent:

``gbnf``         as the ``grammar`` field: llama.cpp's ``llama-server`` and llama-cpp-python's ``llama_cpp.server``
``vllm``         as ``structured_outputs: {"grammar": ...}``: vLLM 0.10.2 and later (from vLLM's documentation)
``vllm-guided``  as ``guided_grammar``: vLLM before 0.12 (deprecated in 0.10.2, removed in 0.12; documentation)
``off``          not at all (the parser still validates every output)
``auto``         (default) ask the server once, before the first request (``GET {base_url}/models``):
                 ``owned_by`` ``llamacpp`` (llama-server) or ``me`` (llama-cpp-python) -> ``gbnf``; ``vllm`` ->
                 ``vllm`` or ``vllm-guided`` by ``GET /version``; anything else -> ``off``.  If the server cannot
                 be asked, ``off`` with a logged warning.  (A dry run asks too: it needs the key.)

Whether a grammar is sent is part of the fingerprint (``|grammar``; a teacher that sends none keeps the key it
always had).  A server that refuses the grammar (a 400 / 422 naming it, or an error parsing it) stops the run
with E320, naming the ``grammar`` option.  The deprecated ``grammar_field: true`` means ``grammar: gbnf``,
``grammar_field: false`` ``grammar: off``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tvd.errors import (
    E_OPENAI_KEY_REFUSED,
    E_OPENAI_NO_API,
    E_OPENAI_NO_KEY,
    E_OPENAI_NO_SERVER,
    E_OPENAI_OPTIONS,
    E_OPENAI_UNKNOWN_MODEL,
    TvdError,
)
from tvd.teachers.base import Completion, GenerationParams, Teacher, TeacherError
from tvd.teachers.urls import mask_secrets, redact_url, url_secrets

MODES = ("completions", "chat")
GRAMMAR_MODES = ("auto", "gbnf", "vllm", "vllm-guided", "off")
#: the request field each grammar mode sends
GRAMMAR_FIELDS = {"gbnf": "grammar", "vllm": "structured_outputs", "vllm-guided": "guided_grammar"}
#: the first vLLM version that takes ``structured_outputs`` (``guided_grammar`` before it)
VLLM_STRUCTURED_OUTPUTS = (0, 10, 2)
_LLAMACPP_OWNERS = ("llamacpp", "me")  # llama-server's /v1/models says "llamacpp", llama-cpp-python's "me"
logger = logging.getLogger("tvd.teachers.openai")
_MODEL_MISSING = ("not found", "does not exist", "not exist", "unknown model", "no such model", "not available")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delay-seconds (fractions accepted) or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _retry_after(response: httpx.Response) -> float | None:
    milliseconds = response.headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(response.headers.get("retry-after"))


def _error_text(response: httpx.Response, limit: int = 300) -> str:
    """The server's error message (OpenAI ``{"error": {"message": ...}}``, Ollama ``{"error": "..."}``)."""
    text = response.text
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("message", body.get("detail")))
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        if error is not None:
            text = str(error) if not isinstance(error, (list, dict)) else json.dumps(error)
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _version(text: object) -> tuple[int, ...] | None:
    """``(0, 10, 2)`` from ``"0.10.2"``, ``"v0.11.0rc1"``, ``"0.9.2.dev12+g..."``; None if there is none."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text).strip()) if text is not None else None
    return tuple(int(part or 0) for part in match.groups()) if match else None


class OpenAITeacher(Teacher):
    """An OpenAI-compatible server.

    ``base_url``: API root with version (``http://127.0.0.1:8000/v1``; the attribute holds it redacted, see
    the module docstring).  ``model``: the model name the
    server knows.  ``api_key_env``: name of the environment variable holding the key (None: no key, as
    for local servers).  ``mode``: ``completions`` or ``chat``.  ``timeout_s``: per request.
    ``grammar``: how the request's grammar is sent, one of :data:`GRAMMAR_MODES` (see the module docstring;
    default ``auto``).  ``grammar_field`` (deprecated): ``True`` is ``grammar="gbnf"``, ``False`` ``"off"``.
    ``extended_sampling``: also send ``top_k`` and ``repeat_penalty`` (vLLM, llama.cpp, Ollama accept them).
    ``send_seed``: send the seed (a few hosted APIs reject it).  ``extra_body``: more JSON fields for every
    request.  ``system_prompt``: a system message before the prompt in chat mode.  ``headers``: extra HTTP
    headers.
    ``max_tokens_field``: the name of the completion-length field (``max_completion_tokens`` for
    OpenAI's reasoning models).
    """

    backend = "openai"
    concurrent = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        mode: str = "completions",
        timeout_s: float = 60.0,
        *,
        grammar: str | None = None,
        grammar_field: bool | None = None,
        extended_sampling: bool = False,
        send_seed: bool = True,
        native_n: bool = False,
        extra_body: dict[str, Any] | None = None,
        system_prompt: str | None = None,
        headers: dict[str, str] | None = None,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        if mode not in MODES:
            raise TvdError(
                E_OPENAI_OPTIONS, f"unknown mode {mode!r} for the openai teacher", fix="use mode: completions or chat"
            )
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            shown = redact_url(base_url) if isinstance(base_url, str) else type(base_url).__name__
            raise TvdError(
                E_OPENAI_OPTIONS,
                f"base_url must be an http(s) URL, got {shown!r}",
                fix="e.g. base_url: http://127.0.0.1:8000/v1",
            )
        try:
            httpx.URL(base_url)
            parts = urlsplit(base_url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise TvdError(
                E_OPENAI_OPTIONS,
                f"base_url is not a valid URL: {redact_url(base_url)!r}",
                fix="e.g. base_url: http://127.0.0.1:8000/v1",
            ) from exc
        if not model:
            raise TvdError(E_OPENAI_OPTIONS, "the openai teacher needs a model name", fix="set teacher.options.model")
        if timeout_s <= 0:
            raise TvdError(E_OPENAI_OPTIONS, f"timeout_s must be positive, got {timeout_s}", fix="e.g. timeout_s: 60")
        choices = " | ".join(GRAMMAR_MODES)
        if grammar is not None and grammar not in GRAMMAR_MODES:
            raise TvdError(E_OPENAI_OPTIONS, f"unknown grammar mode {grammar!r}", fix=f"use grammar: {choices}")
        if grammar_field is not None:  # the deprecated switch: true = gbnf, false = off
            implied = "gbnf" if grammar_field else "off"
            if grammar is not None and grammar != implied:
                raise TvdError(
                    E_OPENAI_OPTIONS,
                    f"grammar_field: {str(grammar_field).lower()} contradicts grammar: {grammar}",
                    fix="drop the deprecated grammar_field and keep grammar",
                )
            grammar = implied
        # the API root without a trailing slash (a query string, ?api-version=..., stays after the path); requests
        # go to it, credentials and all, but only its redacted form is kept in ``base_url`` and shown
        root = urlunsplit(parts._replace(path=parts.path.rstrip("/"))) if parts.query else base_url.rstrip("/")
        self.base_url = redact_url(root)
        self._secrets = url_secrets(base_url)  # masked in every message
        self.model = model
        self.mode = mode
        self.timeout_s = float(timeout_s)
        self.grammar = grammar or "auto"  # as configured; resolve_grammar() gives what is sent
        self.grammar_note: str | None = None  # what auto found out (or why it sends nothing)
        self._grammar_mode: str | None = None if self.grammar == "auto" else self.grammar
        self._grammar_lock = threading.Lock()
        self.extended_sampling = extended_sampling
        self.send_seed = send_seed
        self.native_n = native_n
        self.extra_body = dict(extra_body or {})
        self.system_prompt = system_prompt
        self.max_tokens_field = max_tokens_field
        self.api_key_env = api_key_env
        self._api_key: str | None = None
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise TvdError(
                    E_OPENAI_NO_KEY,
                    f"the environment variable {api_key_env} (teacher.options.api_key_env) is not set",
                    fix=f"export {api_key_env}=<your API key>, or remove api_key_env for a server without keys",
                )
            self._api_key = key
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        route = "completions" if mode == "completions" else "chat/completions"
        path = parts.path.rstrip("/")
        self._endpoint = urlunsplit(parts._replace(path=f"{path}/{route}"))
        self._models_endpoint = urlunsplit(parts._replace(path=f"{path}/models"))
        # vLLM's /version is at the server root, beside /v1
        self._version_endpoint = urlunsplit(parts._replace(path=f"{re.sub(r'/v[0-9][^/]*$', '', path)}/version"))
        self._shown_endpoint = redact_url(self._endpoint)
        self._answered = False  # any successful answer yet: a refused connection before it is a setup error
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None

    # -- identity ----------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return f"{self.model}@{self.base_url}"

    @property
    def grammar_field(self) -> bool:
        """Deprecated: whether ``grammar`` is ``gbnf`` (what ``grammar_field: true`` meant)."""
        return self.grammar == "gbnf"

    def fingerprint(self) -> str:
        """backend, base URL (redacted: never a credential), model and mode; ``|grammar`` when grammars are sent
        (``auto`` asks the server first, see :meth:`resolve_grammar`)."""
        sends = self.resolve_grammar() != "off"
        return f"openai:{self.base_url}|{self.model}|{self.mode}" + ("|grammar" if sends else "")

    # -- grammar mode ------------------------------------------------------------------------------
    def resolve_grammar(self) -> str:
        """The grammar mode requests use: the configured one, or for ``auto`` what the server turned out to be
        (asked once per teacher; the answer holds for the teacher's life, so fingerprint and requests agree)."""
        if self._grammar_mode is None:
            with self._grammar_lock:
                if self._grammar_mode is None:
                    mode, self.grammar_note, unasked = self._detect_grammar()
                    # a server that could not be asked is worth a warning: its grammar may go unsent
                    (logger.warning if unasked else logger.info)(
                        "openai teacher: grammar: auto -> %s: %s", mode, self.grammar_note
                    )
                    self._grammar_mode = mode
        return self._grammar_mode

    def _detect_grammar(self) -> tuple[str, str, bool]:
        """``(mode, note, unasked)`` for ``auto``: ``GET /models`` (retried while the server answers 503, loading
        a model), and for vLLM ``GET /version``; ``unasked``: the server could not be asked."""
        shown = self._models_url()
        deadline = time.monotonic() + self.timeout_s
        try:
            with httpx.Client(timeout=httpx.Timeout(min(self.timeout_s, 10.0)), headers=self._headers) as client:
                response = client.get(self._models_endpoint)
                while response.status_code == 503 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    response = client.get(self._models_endpoint)
                if response.status_code != 200:
                    note = f"{shown} answered {response.status_code}: not a server known to take grammars"
                    return "off", note, False
                try:
                    models = response.json().get("data")
                except (ValueError, UnicodeDecodeError, AttributeError):
                    models = None
                owners = sorted(
                    {str(m.get("owned_by")) for m in models if isinstance(m, dict) and m.get("owned_by") is not None}
                    if isinstance(models, list)
                    else set()
                )
                if any(owner in _LLAMACPP_OWNERS for owner in owners):
                    note = f"{shown} says owned_by {owners}: a llama.cpp server, the grammar goes as `grammar`"
                    return "gbnf", note, False
                if "vllm" in owners:
                    return (*self._vllm_mode(client), False)
        except httpx.HTTPError as exc:
            detail = self._mask(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return (
                "off",
                (
                    f"could not ask {shown} which server it is ({detail}), so no grammar is sent; set"
                    " teacher.options.grammar (gbnf, vllm, vllm-guided or off) not to depend on it"
                ),
                True,
            )
        return (
            "off",
            (
                f"{shown} says owned_by {owners or 'nothing'}: not llama.cpp or vLLM, so no grammar is sent"
                " (set teacher.options.grammar: gbnf or vllm if the server takes one)"
            ),
            False,
        )

    def _vllm_mode(self, client: httpx.Client) -> tuple[str, str]:
        """``vllm`` (``structured_outputs``) from vLLM 0.10.2 on, ``vllm-guided`` (``guided_grammar``) before."""
        version = None
        try:
            response = client.get(self._version_endpoint)
            if response.status_code == 200:
                version = _version(response.json().get("version"))
        except (httpx.HTTPError, ValueError, UnicodeDecodeError, AttributeError):
            version = None
        if version is not None and version < VLLM_STRUCTURED_OUTPUTS:
            shown = ".".join(map(str, version))
            return "vllm-guided", f"vLLM {shown} (before 0.10.2): the grammar goes as `guided_grammar`"
        shown = ".".join(map(str, version)) if version else "of unknown version"
        return "vllm", f"vLLM {shown}: the grammar goes as `structured_outputs.grammar`"

    def _grammar_sent(self, params: GenerationParams) -> str | None:
        """The field the request's grammar goes in, None if none is sent."""
        return GRAMMAR_FIELDS.get(self.resolve_grammar()) if params.grammar is not None else None

    def _models_url(self) -> str:
        """The (redacted) ``/models`` URL of the server, for messages."""
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"{parts.path}/models"))

    # -- requests ----------------------------------------------------------------------------------
    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, pool=None)

    def _body(self, prompt: str, n: int, params: GenerationParams, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            self.max_tokens_field: params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": n,
            "stream": False,
        }
        if self.mode == "completions":
            body["prompt"] = prompt
        else:
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            body["messages"] = [*messages, {"role": "user", "content": prompt}]
        if params.stop:
            body["stop"] = list(params.stop)
        if self.send_seed:
            body["seed"] = seed
        if self.extended_sampling:
            body["top_k"] = params.top_k
            body["repeat_penalty"] = params.repeat_penalty
        field = self._grammar_sent(params)
        if field == "structured_outputs":
            body[field] = {"grammar": params.grammar}
        elif field is not None:
            body[field] = params.grammar
        body.update(self.extra_body)
        return body

    def _mask(self, text: str) -> str:
        """``text`` without the API key or any credential of ``base_url``."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return mask_secrets(text, self._secrets)

    def _transport_error(self, exc: Exception) -> Exception:
        """A TeacherError (or, for a refused first connection, a TvdError) for an httpx exception."""
        detail = self._mask(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
            return TeacherError(f"no answer from {self._shown_endpoint} within {self.timeout_s:g} s", reason="timeout")
        if isinstance(exc, httpx.ConnectError) and not self._answered:
            return TvdError(
                E_OPENAI_NO_SERVER,
                f"cannot connect to the teacher server at {self.base_url} ({detail})",
                fix="start the server, or correct teacher.options.base_url (host and port)",
            )
        return TeacherError(f"connection to {self._shown_endpoint} failed: {detail}", reason="connection")

    def _check_status(self, response: httpx.Response, grammar_field: str | None = None) -> None:
        status = response.status_code
        if status < 400:
            return
        message = self._mask(_error_text(response))
        if grammar_field is not None:
            self._check_grammar_refused(status, message, grammar_field)
        if status == 429:
            raise TeacherError(
                f"rate limited (429): {message}", reason="rate_limited", retry_after=_retry_after(response), status=429
            )
        if status >= 500:
            raise TeacherError(
                f"server error {status}: {message}",
                reason="server_error",
                retry_after=_retry_after(response),
                status=status,
            )
        if status in (401, 403):
            hint = (
                f"check the key in {self.api_key_env}"
                if self.api_key_env
                else "this server needs a key: set teacher.options.api_key_env to the name of an environment variable"
            )
            raise TvdError(
                E_OPENAI_KEY_REFUSED,
                f"the server at {self.base_url} refused the request ({status}): {message}",
                fix=hint,
            )
        lowered = message.casefold()
        model_missing = "model" in lowered and any(phrase in lowered for phrase in _MODEL_MISSING)
        if status in (400, 404, 422) and model_missing:
            raise TvdError(
                E_OPENAI_UNKNOWN_MODEL,
                f"the server at {self.base_url} does not know the model {self.model!r}: {message}",
                fix=f"set teacher.options.model to a model the server serves (GET {self._models_url()} lists them)",
            )
        if status in (404, 405):
            raise TvdError(
                E_OPENAI_NO_API,
                f"no OpenAI-compatible {self.mode} endpoint at {self._shown_endpoint} ({status}): {message}",
                fix="base_url must be the API root with its version, e.g. http://127.0.0.1:8000/v1"
                + ("; or the server may only offer mode: chat" if self.mode == "completions" else ""),
            )
        if status == 408:
            raise TeacherError(f"request timeout (408): {message}", reason="timeout", status=status)
        raise TeacherError(
            f"request rejected ({status}): {message}", reason="bad_request", retryable=False, status=status
        )

    def _check_grammar_refused(self, status: int, message: str, field: str) -> None:
        """E320 for an answer that refuses the grammar sent as ``field`` (an unknown field, or a grammar error)."""
        lowered = message.casefold()
        named = "grammar" in lowered or field in lowered
        if not named or status not in (400, 422, 500):  # llama-cpp-python answers a bad grammar with a 500
            return
        configured = self.grammar if self.grammar != "auto" else f"auto, which chose {self.resolve_grammar()}"
        raise TvdError(
            E_OPENAI_OPTIONS,
            f"the server at {self.base_url} refused the grammar sent as `{field}` (teacher.options.grammar:"
            f" {configured}) with {status}: {message}",
            fix="set teacher.options.grammar: off to send none (every output is still validated), or the field"
            " this server takes: gbnf (`grammar`, llama.cpp), vllm (`structured_outputs`, vLLM >= 0.10.2),"
            " vllm-guided (`guided_grammar`, vLLM < 0.12)",
        )

    def _completions(self, response: httpx.Response, n: int, grammar_field: str | None = None) -> list[Completion]:
        self._check_status(response, grammar_field)
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise TeacherError(
                self._mask(f"the answer is not JSON: {response.text[:120]!r}"), reason="bad_response"
            ) from exc
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or len(choices) < n:
            raise TeacherError(
                self._mask(f"the answer holds no {n} choices: {str(body)[:120]!r}"), reason="bad_response"
            )
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt_tokens = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None
        completion_tokens = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else None
        if n > 1:  # usage covers all choices: split the completion tokens evenly
            completion_tokens = completion_tokens // n if completion_tokens is not None else None
        completions = []
        for choice in sorted(choices[:n], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            text = self._choice_text(choice)
            if text is None:
                raise TeacherError(self._mask(f"a choice holds no text: {str(choice)[:120]!r}"), reason="bad_response")
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    finish_reason=choice.get("finish_reason"),
                    extra={"model": body.get("model")} if body.get("model") else {},
                )
            )
        self._answered = True
        return completions

    def _choice_text(self, choice: Any) -> str | None:
        if not isinstance(choice, dict):
            return None
        if self.mode == "completions":
            text = choice.get("text")
        else:
            message = choice.get("message")
            text = message.get("content", "") if isinstance(message, dict) else None
            if text is None and isinstance(message, dict):
                text = ""  # content null: an empty answer
        return text if isinstance(text, str) else None

    def _plan(self, n: int, params: GenerationParams) -> list[tuple[int, int]]:
        """(n per request, seed) of each HTTP request of one call."""
        if self.native_n and n > 1:
            return [(n, params.seed)]
        return [(1, params.seed + i) for i in range(n)]

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions, one request after another (the engine uses :meth:`agenerate`)."""
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout(), headers=self._headers)
        out: list[Completion] = []
        for count, seed in self._plan(n, params):
            try:
                response = self._client.post(self._endpoint, json=self._body(prompt, count, params, seed))
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None
            out.extend(self._completions(response, count, self._grammar_sent(params)))
        return out

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            # a client belongs to the loop it was first used in; each engine run has its own loop
            self._aclient = httpx.AsyncClient(
                timeout=self._timeout(),
                headers=self._headers,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            )
            self._aclient_loop = loop
        return self._aclient

    async def _apost(self, prompt: str, count: int, params: GenerationParams, seed: int) -> list[Completion]:
        client = self._async_client()
        try:
            async with asyncio.timeout(self.timeout_s * 1.5 + 1.0):  # also bounds a server that trickles bytes
                response = await client.post(self._endpoint, json=self._body(prompt, count, params, seed))
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self._transport_error(exc) from None
        return self._completions(response, count, self._grammar_sent(params))

    async def agenerate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions, their requests sent concurrently."""
        if self._grammar_mode is None:  # auto asks the server (blocking) once: not on the event loop
            await asyncio.to_thread(self.resolve_grammar)
        parts = await asyncio.gather(
            *(self._apost(prompt, count, params, seed) for count, seed in self._plan(n, params))
        )
        return [completion for part in parts for completion in part]

    async def aclose(self) -> None:
        """Close the asynchronous client of the running event loop (the engine calls this at its end)."""
        if self._aclient is not None and self._aclient_loop is asyncio.get_running_loop():
            await self._aclient.aclose()
        self._aclient = None
        self._aclient_loop = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._aclient = None
        self._aclient_loop = None

    def __repr__(self) -> str:
        key = f", api_key_env={self.api_key_env!r}" if self.api_key_env else ""
        return f"OpenAITeacher(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r}{key})"
