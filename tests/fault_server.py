"""A scriptable OpenAI-compatible HTTP server for tests: answers, faults and request counts.

:class:`FaultServer` listens on 127.0.0.1 (a free port chosen by the OS) in a background thread and
speaks the OpenAI completions and chat-completions JSON (``POST /v1/completions``,
``POST /v1/chat/completions``, ``GET /v1/models``).  It is bounded: it stops by itself after
``max_requests`` requests or ``max_seconds`` seconds, whichever comes first.

Answers come from ``answer(prompt, seed)`` (default :func:`linguist_answer`, which fills a LINGUIST
prompt's include block so outputs parse).  Faults come from ``faults(prompt, seed, attempt)``, where
``attempt`` counts earlier requests for the same (prompt, seed); it returns ``None`` (answer normally) or
one of :data:`FAULTS`:

``429``                 rate limited, no Retry-After
``429:SECONDS``         rate limited with ``Retry-After: SECONDS``
``500`` / ``503``       server errors
``hang``                no answer for ``hang_s`` seconds (past the client's timeout), then close
``close``               close the connection without answering
``malformed``           status 200 with a body that is not JSON
``no_choices``          status 200, JSON without ``choices``
``empty``               a valid answer whose text is empty

Server kinds, for the ``openai`` teacher's ``grammar: auto``: ``owned_by`` is what ``GET /v1/models`` says owns
each model (``llamacpp``, ``me``, ``vllm``; none by default), ``version`` what ``GET /version`` answers (vLLM's
form; 404 when None), ``models_503`` how many ``GET /v1/models`` answer 503 first (a server loading its model).
``refuse_grammar=(STATUS, MESSAGE)`` answers every completion request that carries a grammar field
(``grammar``, ``guided_grammar``, ``structured_outputs``) with that error; :attr:`FaultServer.gets` lists GET
targets.

Every request to a completion endpoint is counted per (prompt, seed) in :attr:`FaultServer.counts`
(faulted ones included) and :attr:`FaultServer.answered` (answered normally).  Can be run by hand:
``python tests/fault_server.py`` serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("429", "429:SECONDS", "500", "503", "hang", "close", "malformed", "no_choices", "empty")
CITIES = ["dallas", "boston", "austin", "denver", "paris", "rome", "oslo", "lima", "cairo", "kyoto"]

Answer = Callable[[str, int | None], str]
FaultPlan = Callable[[str, int | None, int], str | None]


def linguist_answer(prompt: str, seed: int | None) -> str:
    """A well-behaved teacher: fills the include block of the LINGUIST prompt (one in seven malformed)."""
    include = re.search(r"<include> (.*) </include>", prompt)
    k = (seed or 0) // 1000 + (seed or 0) % 1000
    if k % 7 == 6:
        return "weather in [1 broken"
    parts = []
    for number, value in re.findall(r"\[(\d+) ([^\]]+?) \]", include.group(1) if include else ""):
        parts.append(f"[{number} {CITIES[k % len(CITIES)] if value == '*' else value} ]")
    templates = ["what is the weather in {}", "forecast for {} please", "will it be sunny in {}", "weather {}"]
    return templates[k % len(templates)].format(" ".join(parts)) if parts else f"weather now {k}"


class FaultServer:
    """See the module docstring.  Use as a context manager, or :meth:`start` / :meth:`stop`.

    ``delay_s``: seconds before each answer.  ``api_key``: when set, requests need
    ``Authorization: Bearer <api_key>`` (else 401, echoing the key sent, as some APIs do).  ``models``:
    names accepted in ``model`` (else 404 model_not_found).  ``usage``: include usage counts.
    """

    def __init__(
        self,
        answer: Answer = linguist_answer,
        faults: FaultPlan | None = None,
        *,
        delay_s: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] = ("test-model",),
        usage: bool = True,
        hang_s: float = 3.0,
        max_requests: int = 5000,
        max_seconds: float = 120.0,
        owned_by: str | None = None,
        version: str | None = None,
        models_503: int = 0,
        refuse_grammar: tuple[int, str] | None = None,
    ) -> None:
        self.answer = answer
        self.faults = faults
        self.delay_s = delay_s
        self.api_key = api_key
        self.models = models
        self.usage = usage
        self.hang_s = hang_s
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.owned_by = owned_by
        self.version = version
        self.models_503 = models_503
        self.refuse_grammar = refuse_grammar
        self.gets: list[str] = []
        self.counts: Counter[tuple[str, int | None]] = Counter()
        self.answered: Counter[tuple[str, int | None]] = Counter()
        self.faulted: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.targets: list[str] = []  # request targets of completion requests, query string included
        self.in_flight = 0
        self.peak_in_flight = 0
        self.total = 0
        self.errors: list[str] = []  # handler exceptions other than clients going away
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- life cycle --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT`` (no API version: a wrong base URL for the client)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL for an OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root}/v1"

    def start(self) -> FaultServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()  # releases hanging handlers
        if self._timer is not None:
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every count (e.g. between two runs against one server)."""
        with self._lock:
            self.counts.clear()
            self.answered.clear()
            self.faulted.clear()
            self.bodies.clear()
            self.headers.clear()
            self.targets.clear()
            self.total = 0
            self.peak_in_flight = self.in_flight

    # -- requests ----------------------------------------------------------------------------------
    def _register(self, prompt: str, seed: int | None) -> tuple[int, bool]:
        """Count a request; returns its attempt index and whether the request bound is exceeded."""
        with self._lock:
            attempt = self.counts[(prompt, seed)]
            self.counts[(prompt, seed)] += 1
            self.total += 1
            return attempt, self.total > self.max_requests

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _success(self, prompt: str, seed: int | None, body: dict[str, Any], chat: bool, fault: str | None) -> bytes:
        n = int(body.get("n") or 1)
        choices = []
        for i in range(n):
            text = "" if fault == "empty" else self.answer(prompt, None if seed is None else seed + i)
            if chat:
                choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
            else:
                choices.append({"index": i, "text": text, "finish_reason": "stop", "logprobs": None})
        record: dict[str, Any] = {
            "id": f"cmpl-{self.total}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": choices,
        }
        if self.usage:
            out = sum(len(c.get("text", c.get("message", {}).get("content", "")).split()) for c in choices)
            prompt_tokens = len(prompt.split())
            record["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": out,
                "total_tokens": prompt_tokens + out,
            }
        with self._lock:
            self.answered[(prompt, seed)] += 1
        return json.dumps(record).encode("utf-8")


class _QuietServer(ThreadingHTTPServer):
    """Does not print a traceback when a client goes away mid-answer (the engine cancels requests)."""

    daemon_threads = True
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            self.owner.errors.append(repr(error))


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    timeout = 10  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _send(self, status: int, payload: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:
        server = self.owner
        with server._lock:
            server.gets.append(self.path)
            loading = server.models_503 > 0 and self.path.partition("?")[0] == "/v1/models"
            if loading:
                server.models_503 -= 1
        route = self.path.partition("?")[0]
        if loading:
            self._send(503, {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}})
        elif route in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif route == "/v1/models":
            owner = {"owned_by": server.owned_by} if server.owned_by is not None else {}
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", **owner} for m in server.models]})
        elif route == "/version" and server.version is not None:
            self._send(200, {"version": server.version})
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        server = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = self.path.partition("?")[0]  # a query string (?api-version=...) is not part of the route
        if route not in ("/v1/completions", "/v1/chat/completions"):
            self._send(404, {"detail": "Not Found"})
            return
        chat = route.endswith("chat/completions")
        try:
            body = json.loads(raw)
            prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        except (ValueError, KeyError, IndexError, TypeError):
            self._send(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
            return
        seed = body.get("seed")
        with server._lock:
            server.bodies.append(body)
            server.headers.append({k.lower(): v for k, v in self.headers.items()})
            server.targets.append(self.path)
        if server.api_key is not None:
            sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if sent != server.api_key:
                message = f"Incorrect API key provided: {sent or '(none)'}"
                self._send(401, {"error": {"message": message, "type": "invalid_request_error"}})
                return
        if body.get("model") not in server.models:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._send(404, {"error": {"message": message, "type": "invalid_request_error", "code": "model_not_found"}})
            return
        if server.refuse_grammar is not None and {"grammar", "guided_grammar", "structured_outputs"} & set(body):
            status, message = server.refuse_grammar
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        attempt, over = server._register(prompt, seed)
        if over or server._stopped.is_set():
            self.close_connection = True
            if over:
                threading.Thread(target=server.stop, daemon=True).start()  # the request bound: stop serving
            return
        fault = server.faults(prompt, seed, attempt) if server.faults else None
        if fault is not None:
            with server._lock:
                server.faulted[fault.split(":")[0]] += 1
        server._enter()
        try:
            if server.delay_s:
                server._stopped.wait(server.delay_s)
            self._answer(prompt, seed, body, chat, fault)
        finally:
            server._leave()

    def _answer(self, prompt: str, seed: int | None, body: dict[str, Any], chat: bool, fault: str | None) -> None:
        server = self.owner
        if fault is None or fault == "empty":
            self._send(200, server._success(prompt, seed, body, chat, fault))
        elif fault.startswith("429"):
            _, _, after = fault.partition(":")
            error = {"error": {"message": "Rate limit reached, slow down", "type": "rate_limit_exceeded"}}
            self._send(429, error, {"Retry-After": after} if after else None)
        elif fault in ("500", "503"):
            self._send(int(fault), {"error": {"message": "The server had an error", "type": "server_error"}})
        elif fault == "hang":
            server._stopped.wait(server.hang_s)
            self.close_connection = True
        elif fault == "close":
            self.close_connection = True
        elif fault == "malformed":
            self._send(200, b'{"choices": [{"text": "unterminated')
        elif fault == "no_choices":
            self._send(200, {"id": "x", "object": "text_completion", "model": body.get("model")})
        else:
            raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS}")


def write_project(
    folder: Path, teacher: dict[str, Any], generation: dict[str, Any], *, output_dir: Path | None = None
) -> Path:
    """A tiny new-intent project in ``folder`` (base, seed and test JSONL, SNIPS-style) and its run config
    with the given ``teacher`` and ``generation`` blocks; returns the config's path."""
    from factories import bio
    from tvd.formats import write_dataset

    base = [
        bio("play some jazz", "O O B-genre", "PlayMusic"),
        bio("play music by adele", "O O O B-artist", "PlayMusic"),
        bio("book a table in paris", "O O O O B-city", "BookRestaurant"),
        bio("book a table for four in oslo", "O O O O B-party_size_number O B-city", "BookRestaurant"),
    ]
    seeds = [
        bio("weather in boston", "O O B-city", "GetWeather"),
        bio("what is the forecast for denver", "O O O O O B-city", "GetWeather"),
        bio("will it rain in austin", "O O O O B-city", "GetWeather"),
    ]
    test = [bio("weather in lima", "O O B-city", "GetWeather"), bio("play jazz", "O B-genre", "PlayMusic")]
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("base", base), ("seed", seeds), ("test", test)):
        write_dataset(data, folder / f"{name}.jsonl", "jsonl")
    config = {
        "name": "faults",
        "output_dir": str(output_dir or folder / "run"),
        "data": {"base": "base.jsonl", "seed": "seed.jsonl", "test": "test.jsonl"},
        "teacher": teacher,
        "generation": {"examples_per_prompt": 2, **generation},
        "filters": ["exact"],
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


if __name__ == "__main__":
    with FaultServer(max_seconds=3600) as demo:
        print(f"serving an OpenAI-compatible test API at {demo.url} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            demo._stopped.wait()
