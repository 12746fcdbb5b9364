"""The OpenAI-compatible HTTP teacher against the local fault server: request fields, both modes, every
fault mapped to a retryable reason, user errors as one clear TvdError, and the key never shown."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from fault_server import FaultServer, write_project
from local_processes import free_port, stop, wait_until_ok
from tvd.cli.main import main
from tvd.data.resample import build_catalogue
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import generate
from tvd.errors import E_OPENAI_NO_SERVER, E_OPENAI_OPTIONS, TvdError
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.task import LinguistTask
from tvd.teachers.base import GenerationParams, TeacherError
from tvd.teachers.openai_http import GRAMMAR_FIELDS, OpenAITeacher, parse_retry_after
from tvd.teachers.registry import make_teacher

LINGUIST = LinguistTask()

PROMPT = "<include> [1 * ] </include>"
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server():
    faults = {
        "rate": "429",
        "rate-after": "429:2",
        "e500": "500",
        "e503": "503",
        "hang": "hang",
        "close": "close",
        "malformed": "malformed",
        "nochoices": "no_choices",
        "empty": "empty",
    }
    with FaultServer(faults=lambda prompt, seed, attempt: faults.get(prompt), hang_s=2.0, max_seconds=60) as srv:
        yield srv


def test_completion_request_carries_the_generation_parameters(server):
    params = GenerationParams(max_tokens=20, temperature=0.3, top_p=0.9, seed=40, stop=("\n", "</x>"), grammar="g")
    teacher = make_teacher("openai", base_url=server.url, model="test-model")
    assert isinstance(teacher, OpenAITeacher) and teacher.concurrent
    completions = teacher.generate(PROMPT, 2, params)
    assert [c.text for c in completions] == [server.answer(PROMPT, 40), server.answer(PROMPT, 41)]
    assert completions[0].prompt_tokens == len(PROMPT.split()) and completions[0].finish_reason == "stop"
    first, second = server.bodies
    assert {k: first[k] for k in ("model", "prompt", "max_tokens", "temperature", "top_p", "stop", "n", "seed")} == {
        "model": "test-model",
        "prompt": PROMPT,
        "max_tokens": 20,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["\n", "</x>"],
        "n": 1,
        "seed": 40,
    }
    assert second["seed"] == 41  # completion i uses seed + i, one request each
    assert "grammar" not in first and "top_k" not in first  # only when the server is said to support them
    assert "authorization" not in server.headers[0]


def test_grammar_and_extended_sampling_only_when_enabled(server):
    teacher = OpenAITeacher(server.url, "test-model", grammar_field=True, extended_sampling=True)
    teacher.generate(PROMPT, 1, GenerationParams(grammar='root ::= "x"', top_k=7, repeat_penalty=1.1))
    body = server.bodies[-1]
    assert body["grammar"] == 'root ::= "x"' and body["top_k"] == 7 and body["repeat_penalty"] == 1.1
    plain = OpenAITeacher(server.url, "test-model")
    assert teacher.fingerprint() != plain.fingerprint()  # outputs differ with and without a grammar


# -- grammars: which field each mode sends, what auto picks, refusals ---------------------------------------

GRAMMAR = 'root ::= "weather in " [a-z]+'
PLAIN_KEY = "|test-model|completions"  # the fingerprint's tail when no grammar is sent


def _grammar_fields(body: dict) -> dict:
    return {k: body[k] for k in GRAMMAR_FIELDS.values() if k in body}


@pytest.mark.parametrize(
    ("mode", "fields"),
    [
        ("gbnf", {"grammar": GRAMMAR}),
        ("vllm", {"structured_outputs": {"grammar": GRAMMAR}}),
        ("vllm-guided", {"guided_grammar": GRAMMAR}),
        ("off", {}),
    ],
)
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_each_grammar_mode_sends_its_field(server, mode, fields, api):
    teacher = OpenAITeacher(server.url, "test-model", mode=api, grammar=mode)
    teacher.generate(PROMPT, 1, GenerationParams(grammar=GRAMMAR))
    teacher.generate(PROMPT, 1, GenerationParams())  # unconstrained: nothing to send
    constrained, unconstrained = server.bodies
    assert _grammar_fields(constrained) == fields and _grammar_fields(unconstrained) == {}
    assert teacher.fingerprint().endswith(f"|{api}" + ("|grammar" if fields else ""))
    assert server.gets == []  # an explicit mode asks the server nothing


@pytest.mark.parametrize(
    ("owned_by", "version", "mode"),
    [
        ("llamacpp", None, "gbnf"),  # the C++ llama-server
        ("me", None, "gbnf"),  # llama-cpp-python's llama_cpp.server
        ("vllm", "0.11.0", "vllm"),
        ("vllm", "0.10.2", "vllm"),
        ("vllm", "v0.9.2.dev12+g0123", "vllm-guided"),
        ("vllm", None, "vllm"),  # no /version: the current field
        (None, None, "off"),  # our fault server, like many: no owned_by
        ("openai", None, "off"),
        ("library", None, "off"),  # Ollama
    ],
)
def test_auto_asks_the_server_once_and_picks_its_field(owned_by, version, mode):
    with FaultServer(owned_by=owned_by, version=version, max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model")
        assert teacher.grammar == "auto" and not teacher.grammar_field
        fingerprint = teacher.fingerprint()
        for seed in (1, 2):
            teacher.generate(PROMPT, 1, GenerationParams(grammar=GRAMMAR, seed=seed))
        assert asyncio.run(teacher.agenerate(PROMPT, 1, GenerationParams(grammar=GRAMMAR, seed=3)))
    assert teacher.resolve_grammar() == mode and teacher.grammar_note
    assert srv.gets.count("/v1/models") == 1 and srv.gets.count("/version") == (owned_by == "vllm")
    field = GRAMMAR_FIELDS.get(mode)
    expected = {} if field is None else {field: {"grammar": GRAMMAR} if field == "structured_outputs" else GRAMMAR}
    assert all(_grammar_fields(body) == expected for body in srv.bodies) and len(srv.bodies) == 3
    # a server that gets no grammar keeps the key it always had; one that gets it, the key grammar_field gave
    assert fingerprint == f"openai:{srv.url}{PLAIN_KEY}" + ("|grammar" if field else "")
    assert fingerprint == OpenAITeacher(srv.url, "test-model", grammar_field=field is not None).fingerprint()


def test_auto_waits_while_the_server_loads_its_model():
    with FaultServer(owned_by="llamacpp", models_503=2, max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model", timeout_s=10)
        assert teacher.fingerprint().endswith("|grammar") and srv.gets == ["/v1/models"] * 3


def test_auto_without_an_answer_sends_no_grammar_and_warns(caplog):
    teacher = OpenAITeacher(f"http://127.0.0.1:{free_port()}/v1", "test-model", timeout_s=2)
    with caplog.at_level(logging.WARNING, logger="tvd.teachers.openai"):
        assert teacher.fingerprint() == f"openai:{teacher.base_url}{PLAIN_KEY}"  # the key without a grammar
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "no grammar is sent" in record.getMessage()
    assert "teacher.options.grammar" in record.getMessage()
    with pytest.raises(TvdError) as info:  # and the request itself says what is wrong
        teacher.generate(PROMPT, 1, GenerationParams(grammar=GRAMMAR))
    assert info.value.code == E_OPENAI_NO_SERVER


def test_auto_probe_keeps_credentials_out_of_its_note(server):
    teacher = OpenAITeacher(_secret_url(server.root), "test-model")
    assert teacher.resolve_grammar() == "off"
    assert server.gets == [f"/v1/models?api-version=2&api_key={QUERY_KEY}"]  # asked with the URL as given
    assert not any(secret in (teacher.grammar_note or "") for secret in SECRETS)


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("gbnf", 400, "Unrecognized request argument supplied: grammar"),  # OpenAI's answer to an unknown field
        ("gbnf", 400, "Failed to parse grammar"),  # llama-server
        ("gbnf", 500, "parse: error parsing grammar: expecting name at ..."),  # llama-cpp-python's 500
        ("vllm", 400, "Invalid grammar specification."),
        ("vllm", 422, "[{'type': 'extra_forbidden', 'loc': ('body', 'structured_outputs')}]"),
        ("vllm-guided", 400, "guided_grammar is not supported"),
        ("auto", 400, "Failed to parse grammar"),
    ],
)
def test_a_refused_grammar_is_a_coded_error_naming_the_option(mode, status, message):
    with FaultServer(owned_by="llamacpp", refuse_grammar=(status, message), max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model", grammar=mode)
        with pytest.raises(TvdError) as info:
            teacher.generate(PROMPT, 1, GenerationParams(grammar=GRAMMAR))
        with pytest.raises(TvdError) as async_info:
            asyncio.run(teacher.agenerate(PROMPT, 1, GenerationParams(grammar=GRAMMAR)))
        assert teacher.generate(PROMPT, 1, GenerationParams())  # the same request without a grammar is answered
    for error in (info.value, async_info.value):
        text = str(error)
        assert error.code == E_OPENAI_OPTIONS and "teacher.options.grammar" in text and message[:20] in text
        assert "grammar: off" in (error.fix or "") and f"`{GRAMMAR_FIELDS[teacher.resolve_grammar()]}`" in text


def test_an_error_that_does_not_name_the_grammar_stays_a_request_failure():
    with FaultServer(refuse_grammar=(400, "max_tokens is too large"), max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model", grammar="gbnf")
        with pytest.raises(TeacherError) as info:
            teacher.generate(PROMPT, 1, GenerationParams(grammar=GRAMMAR))
    assert (info.value.reason, info.value.retryable) == ("bad_request", False)


def test_grammar_options_and_the_deprecated_grammar_field():
    url = "http://127.0.0.1:9/v1"
    assert OpenAITeacher(url, "m", grammar_field=True).grammar == "gbnf"
    assert OpenAITeacher(url, "m", grammar_field=True).fingerprint() == f"openai:{url}|m|completions|grammar"
    assert OpenAITeacher(url, "m", grammar_field=False).grammar == "off"
    assert OpenAITeacher(url, "m", grammar="gbnf", grammar_field=True).grammar_field
    for options in (
        {"grammar": "json"},
        {"grammar": "vllm", "grammar_field": True},
        {"grammar_field": False, "grammar": "gbnf"},
    ):
        with pytest.raises(TvdError) as info:
            OpenAITeacher(url, "m", **options)
        assert info.value.code == E_OPENAI_OPTIONS and "grammar" in str(info.value)
    built = make_teacher("openai", base_url=url, model="m", grammar="vllm")
    assert isinstance(built, OpenAITeacher) and built.resolve_grammar() == "vllm"


def test_the_engine_sends_each_requests_linguist_grammar(weather_seeds, tmp_path):
    settings = PlanSettings(requests=2, examples_per_prompt=3, seed=4)
    requests = plan_requests("GetWeather", weather_seeds, settings, build_catalogue(weather_seeds))
    with FaultServer(owned_by="llamacpp", max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model")
        with CompletionCache(tmp_path / "cache.sqlite") as cache:
            result = generate(LINGUIST, requests, teacher, cache, samples_per_request=2, progress=False)
            plain = generate(
                LINGUIST, requests, teacher, cache, samples_per_request=2, progress=False, constrained=False
            )
    assert result.stats.sent == 4 and plain.stats.sent == 4
    grammars = {LINGUIST.grammar(request) for request in requests}
    assert {body.get("grammar") for body in srv.bodies[:4]} == grammars and None not in grammars
    assert all("grammar" not in body for body in srv.bodies[4:])
    assert srv.gets == ["/v1/models"]


def test_chat_mode_and_async_calls(server):
    teacher = OpenAITeacher(
        server.url, "test-model", mode="chat", system_prompt="You write data.", max_tokens_field="max_completion_tokens"
    )

    async def call():
        try:
            return await teacher.agenerate(PROMPT, 3, GenerationParams(seed=5))
        finally:
            await teacher.aclose()

    completions = asyncio.run(call())
    assert [c.text for c in completions] == [server.answer(PROMPT, s) for s in (5, 6, 7)]
    body = server.bodies[-1]
    assert body["messages"][0] == {"role": "system", "content": "You write data."}
    assert body["messages"][-1] == {"role": "user", "content": PROMPT}
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body and "prompt" not in body
    # the teacher works again in a second event loop (each engine run has its own)
    assert len(asyncio.run(call())) == 3


def test_native_n_asks_for_all_samples_in_one_request(server):
    teacher = OpenAITeacher(server.url, "test-model", native_n=True)
    completions = teacher.generate(PROMPT, 3, GenerationParams(seed=9))
    assert len(completions) == 3 and len(server.bodies) == 1 and server.bodies[0]["n"] == 3


@pytest.mark.parametrize(
    ("prompt", "reason", "retry_after", "status"),
    [
        ("rate", "rate_limited", None, 429),
        ("rate-after", "rate_limited", 2.0, 429),
        ("e500", "server_error", None, 500),
        ("e503", "server_error", None, 503),
        ("hang", "timeout", None, None),
        ("close", "connection", None, None),
        ("malformed", "bad_response", None, None),
        ("nochoices", "bad_response", None, None),
    ],
)
def test_faults_become_retryable_teacher_errors(server, prompt, reason, retry_after, status):
    teacher = OpenAITeacher(server.url, "test-model", timeout_s=0.3)
    teacher.generate("warm-up", 1, GenerationParams())  # the server has answered once
    started = time.perf_counter()
    with pytest.raises(TeacherError) as info:
        teacher.generate(prompt, 1, GenerationParams())
    error = info.value
    assert (error.reason, error.retry_after, error.status, error.retryable) == (reason, retry_after, status, True)
    assert time.perf_counter() - started < 1.5  # a hang is cut by the timeout


def test_async_timeout_and_empty_completion(server):
    teacher = OpenAITeacher(server.url, "test-model", timeout_s=0.3)

    async def call(prompt):
        try:
            return await teacher.agenerate(prompt, 1, GenerationParams())
        finally:
            await teacher.aclose()

    with pytest.raises(TeacherError) as info:
        asyncio.run(call("hang"))
    assert info.value.reason == "timeout"
    [empty] = asyncio.run(call("empty"))
    assert empty.text == "" and empty.completion_tokens == 0  # valid: the parser rejects it as empty_output


def test_refused_connection_at_the_start_is_a_setup_error():
    teacher = OpenAITeacher(f"http://127.0.0.1:{free_port()}/v1", "test-model", timeout_s=2)
    with pytest.raises(TvdError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.code == "E321" and "base_url" in str(info.value)


def test_wrong_base_url_unknown_model_and_bad_key(server, monkeypatch):
    with pytest.raises(TvdError) as info:
        OpenAITeacher(server.root, "test-model").generate(PROMPT, 1, GenerationParams())  # no /v1
    assert info.value.code == "E322" and "/v1" in str(info.value)
    with pytest.raises(TvdError) as info:
        OpenAITeacher(server.url, "no-such-model").generate(PROMPT, 1, GenerationParams())
    assert info.value.code == "E323" and "no-such-model" in str(info.value)


def test_refused_key_is_reported_without_the_key(monkeypatch):
    monkeypatch.setenv("TVD_TEST_KEY", KEY)
    with FaultServer(api_key="the-right-key", max_seconds=30) as srv:
        teacher = OpenAITeacher(srv.url, "test-model", api_key_env="TVD_TEST_KEY")
        with pytest.raises(TvdError) as info:
            teacher.generate(PROMPT, 1, GenerationParams())
        assert srv.headers[0]["authorization"] == f"Bearer {KEY}"  # the key is sent ...
    message = str(info.value)
    assert info.value.code == "E324" and "TVD_TEST_KEY" in message
    assert "Incorrect API key" in message and KEY not in message  # ... but never shown, even when echoed
    assert KEY not in teacher.fingerprint() and KEY not in repr(teacher) and KEY not in teacher.model_id


def test_good_key_is_accepted(monkeypatch):
    monkeypatch.setenv("TVD_TEST_KEY", KEY)
    with FaultServer(api_key=KEY, max_seconds=30) as srv:
        assert OpenAITeacher(srv.url, "test-model", api_key_env="TVD_TEST_KEY").generate(
            PROMPT, 1, GenerationParams(seed=1)
        )[0].text == srv.answer(PROMPT, 1)


def test_missing_key_variable_and_bad_options(monkeypatch):
    monkeypatch.delenv("TVD_MISSING_KEY", raising=False)
    with pytest.raises(TvdError) as info:
        OpenAITeacher("http://127.0.0.1:9/v1", "m", api_key_env="TVD_MISSING_KEY")
    assert info.value.code == "E325" and "export TVD_MISSING_KEY" in str(info.value)
    for options in ({"mode": "edit"}, {"base_url": "127.0.0.1:8000"}, {"timeout_s": 0}):
        with pytest.raises(TvdError, match="E320"):
            OpenAITeacher(**{"base_url": "http://127.0.0.1:9/v1", "model": "m", **options})


def test_fingerprint_is_base_url_model_and_mode():
    a = OpenAITeacher("http://127.0.0.1:9/v1/", "m")
    assert a.fingerprint() == "openai:http://127.0.0.1:9/v1|m|completions"
    assert OpenAITeacher("http://127.0.0.1:9/v1", "m", timeout_s=5).fingerprint() == a.fingerprint()
    assert OpenAITeacher("http://127.0.0.1:9/v1", "m", mode="chat").fingerprint() != a.fingerprint()


# -- credentials in base_url: sent to the server, never stored or shown ------------------------------------

USER, PASSWORD, QUERY_KEY = "tvduser-7Qx2", "pw-9f8e7d6c5b4a3921", "qk-3a2b1c0d9e8f7766"
SECRETS = (USER, PASSWORD, QUERY_KEY, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())


def _secret_url(server_root: str, path: str = "/v1") -> str:
    host = server_root.removeprefix("http://")
    return f"http://{USER}:{PASSWORD}@{host}{path}?api-version=2&api_key={QUERY_KEY}"


def test_credentials_in_base_url_are_sent_but_redacted_everywhere_else(server):
    teacher = OpenAITeacher(_secret_url(server.root), "test-model")
    [completion] = teacher.generate(PROMPT, 1, GenerationParams(seed=3))
    assert completion.text == server.answer(PROMPT, 3)
    assert server.headers[-1]["authorization"] == "Basic " + SECRETS[3]  # httpx sends the userinfo as Basic auth
    assert server.targets[-1] == f"/v1/completions?api-version=2&api_key={QUERY_KEY}"  # and the query as given
    shown = f"http://***@127.0.0.1:{server.port}/v1?api-version=2&api_key=***"
    assert teacher.fingerprint() == f"openai:{shown}|test-model|completions"
    assert teacher.base_url == shown and shown in repr(teacher) and teacher.model_id == f"test-model@{shown}"
    # rotating the password keeps the cache: the fingerprint does not change
    rotated = _secret_url(server.root).replace(PASSWORD, "another-password")
    assert OpenAITeacher(rotated, "test-model").fingerprint() == teacher.fingerprint()
    teacher.timeout_s = 0.3
    for prompt in ("close", "hang"):
        with pytest.raises(TeacherError) as info:
            teacher.generate(prompt, 1, GenerationParams())
        assert shown.replace("/v1?", "/v1/completions?") in str(info.value)
        assert not any(secret in str(info.value) for secret in SECRETS)
    with pytest.raises(TvdError) as setup:
        OpenAITeacher(_secret_url(server.root, "/v2"), "test-model").generate(PROMPT, 1, GenerationParams())
    assert setup.value.code == "E322" and not any(secret in str(setup.value) for secret in SECRETS)
    with pytest.raises(TvdError) as bad:
        OpenAITeacher(f"ftp://{USER}:{PASSWORD}@host/v1", "m")
    assert bad.value.code == "E320" and not any(secret in str(bad.value) for secret in SECRETS)


def test_a_whole_generation_stores_and_prints_no_credential_of_the_base_url(tmp_path):
    """`tvd generate` against a real local server with a user, a password and an ?api_key= in base_url, one
    request failing for good (its message names the endpoint) and a setup error (a wrong path, then a refused
    connection): no file of the run directory (cache included) and no output holds a secret."""
    failing_seed = 1001  # request 1, sample 1: the connection is always closed, so it fails after its retry
    faults = lambda prompt, seed, attempt: "close" if seed == failing_seed else None  # noqa: E731
    run = tmp_path / "run"
    outputs = []
    with FaultServer(faults=faults, max_seconds=60) as srv:
        blocks = [
            _secret_url(srv.root),  # the real thing
            _secret_url(srv.root, "/nope"),  # E322: no API there
            _secret_url(f"http://127.0.0.1:{free_port()}"),  # E321: nothing listens
        ]
        for base_url in blocks:
            teacher = {
                "backend": "openai",
                "options": {"base_url": base_url, "model": "test-model"},
                "max_retries": 1,
                "backoff_s": 0.0,
            }
            config = write_project(tmp_path, teacher, {"requests": 4, "samples_per_request": 2}, output_dir=run)
            outputs.append(CliRunner().invoke(main, ["generate", str(config), "--no-progress"]))
        assert srv.headers and all(h.get("authorization") == "Basic " + SECRETS[3] for h in srv.headers)
        assert all(f"api_key={QUERY_KEY}" in target for target in srv.targets)
    done, no_api, refused = outputs
    assert done.exit_code == 0, done.output
    assert (no_api.exit_code, refused.exit_code) == (1, 1)
    assert "[E322]" in no_api.stderr and "[E321]" in refused.stderr
    [failure] = [json.loads(line) for line in (run / "failures.jsonl").read_text().splitlines()]
    assert failure["reason"] == "connection" and "http://***@127.0.0.1:" in failure["message"]
    generated = [json.loads(line) for line in (run / "generated.jsonl").read_text().splitlines()]
    shown = f"openai:http://***@127.0.0.1:{srv.port}/v1?api-version=2&api_key=***|test-model|completions"
    assert generated and all(u["meta"]["teacher"] == shown for u in generated)
    with sqlite3.connect(run / "cache.sqlite") as db:
        assert {row[0] for row in db.execute("SELECT teacher FROM completions")} == {shown}
    files = [path for path in run.rglob("*") if path.is_file()]
    assert {"cache.sqlite", "generated.jsonl", "failures.jsonl"} <= {path.name for path in files}
    for path in files:
        data = path.read_bytes()
        assert not [secret for secret in SECRETS if secret.encode() in data], path
    for result in outputs:
        printed = result.stdout + result.stderr
        assert not [secret for secret in SECRETS if secret in printed], printed


def test_retry_after_header_forms():
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)


# -- a real OpenAI-compatible server: llama-cpp-python's, serving the embedded model ----------------


@pytest.fixture
def llama_server(tmp_path):
    """``python -m llama_cpp.server`` with the embedded GGUF on a free port; stopped afterwards."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(module, reason="llama-cpp-python's server needs the [server] extra's packages")
    from tvd.teachers.embedded_model import default_model_path

    try:
        model = default_model_path()
    except TvdError as error:
        pytest.skip(f"the embedded GGUF model is not installed: {error}")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_threads", "1", "--n_ctx", "2048"]
    log = tmp_path / "llama_server.log"  # not a pipe: the model loader's log would fill it and block
    handle = log.open("w")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_ok(f"{url}/models", process, log)
        yield url
    finally:
        stop(process)
        handle.close()


@pytest.mark.slow
def test_generation_through_llama_cpp_server_with_grammar(llama_server, weather_seeds, tmp_path):
    """10 grammar-constrained LINGUIST completions through tvd's engine and the default ``grammar: auto``,
    which recognises llama-cpp-python's server and sends the grammar: every one parses."""
    settings = PlanSettings(requests=5, examples_per_prompt=3, seed=1)
    requests = plan_requests("GetWeather", weather_seeds, settings, build_catalogue(weather_seeds))
    teacher = OpenAITeacher(llama_server, "gemma-3-270m", extended_sampling=True, timeout_s=120)
    assert teacher.fingerprint().endswith("|completions|grammar") and teacher.resolve_grammar() == "gbnf"
    assert "'me'" in (teacher.grammar_note or "")  # llama-cpp-python's /v1/models says owned_by "me"
    params = GenerationParams(max_tokens=96, temperature=0.9, seed=3)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        first = generate(
            LINGUIST,
            requests,
            teacher,
            cache,
            params=params,
            samples_per_request=2,
            progress=False,
            settings=EngineSettings(concurrency=2, max_retries=1),
        )
        again = generate(LINGUIST, requests, teacher, cache, params=params, samples_per_request=2, progress=False)
    stats = first.stats
    assert stats.sent == 10 and not stats.failed
    assert stats.accepted == 10 and not stats.rejected, (stats.rejected, [r["raw"] for r in first.rejects])
    assert stats.prompt_tokens > 100 and stats.estimated_tokens == 0  # the server reports usage
    assert all(u.intent == "GetWeather" and u.text.strip() for u in first.accepted)
    assert again.stats.cached == 10 and again.stats.sent == 0
    assert [u.to_dict() for u in again.accepted] == [u.to_dict() for u in first.accepted]
