"""Bedrock (Converse API) teacher against botocore's Stubber: exact requests, parsing, usage, errors.

The Stubber checks every request against botocore's real ``bedrock-runtime`` service model and answers
inside botocore; transport failures are raised from a ``before-send`` hook.  Nothing reaches AWS.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from tvd.errors import TvdError  # noqa: E402
from tvd.teachers.base import GenerationParams, TeacherError  # noqa: E402
from tvd.teachers.bedrock import BedrockTeacher  # noqa: E402
from tvd.teachers.registry import make_teacher  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = "<intent> PlayMusic </intent>\n<examples>\nplay [1 jazz ]\n"


pytestmark = pytest.mark.usefixtures("fake_aws")  # conftest.py: fake credentials, nothing reaches AWS


def reply(text: str | list[dict[str, Any]], stop_reason: str = "end_turn", tokens: tuple[int, int] = (30, 6)) -> dict:
    content = [{"text": text}] if isinstance(text, str) else text
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 120},
    }


@pytest.fixture
def teacher() -> BedrockTeacher:
    return BedrockTeacher(model_id=MODEL, region="us-east-1")


@pytest.fixture
def stub(teacher: BedrockTeacher) -> Iterator[Stubber]:
    with Stubber(teacher.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_n_samples_are_n_converse_calls_with_exact_parameters(teacher: BedrockTeacher, stub: Stubber) -> None:
    params = GenerationParams(max_tokens=40, temperature=0.9, top_p=0.95, top_k=40, seed=7, stop=("\n", "</examples>"))
    request = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "inferenceConfig": {"maxTokens": 40, "temperature": 0.9, "topP": 0.95, "stopSequences": ["</examples>"]},
    }
    stub.add_response("converse", reply("play [1 blues ]\nmore"), request)
    stub.add_response("converse", reply("play some [1 rock ]", "stop_sequence", (30, 5)), request)
    stub.add_response("converse", reply("play [1 pop", "max_tokens", (30, 40)), request)
    completions = teacher.generate(PROMPT, 3, params)
    assert [c.text for c in completions] == ["play [1 blues ]", "play some [1 rock ]", "play [1 pop"]
    assert [c.finish_reason for c in completions] == ["stop", "stop", "length"]
    assert [(c.prompt_tokens, c.completion_tokens) for c in completions] == [(30, 6), (30, 5), (30, 40)]
    assert completions[1].extra["stop_reason"] == "stop_sequence"


def test_system_text_extra_fields_and_no_top_p(stub: Stubber, teacher: BedrockTeacher) -> None:
    teacher.system = "Reply with one annotated utterance."
    teacher.additional_fields = {"top_k": 40}
    teacher.send_top_p = False
    stub.add_response(
        "converse",
        reply([{"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "play "}, {"text": "[1 jazz ]"}]),
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.0},
            "system": [{"text": "Reply with one annotated utterance."}],
            "additionalModelRequestFields": {"top_k": 40},
        },
    )
    [completion] = teacher.generate(PROMPT, 1, GenerationParams(temperature=0.0, stop=("\n",)))
    assert completion.text == "play [1 jazz ]"


def test_content_filter_is_passed_on_as_the_finish_reason(teacher: BedrockTeacher, stub: Stubber) -> None:
    stub.add_response("converse", reply([], "content_filtered", (30, 0)), None)
    [completion] = teacher.generate(PROMPT, 1, GenerationParams())
    assert (completion.text, completion.finish_reason) == ("", "content_filtered")


def test_model_id_changes_with_system_text() -> None:
    plain = BedrockTeacher(model_id=MODEL, region="us-east-1")
    assert plain.model_id == MODEL and plain.fingerprint() == f"bedrock:{MODEL}"
    other = BedrockTeacher(model_id=MODEL, region="us-east-1", system="one utterance")
    assert other.model_id.startswith(MODEL + "#") and other.model_id != plain.model_id


def test_registry_builds_it_from_options() -> None:
    teacher = make_teacher("bedrock", model_id=MODEL, region="eu-central-1", timeout_s=45)
    assert isinstance(teacher, BedrockTeacher) and teacher.concurrent and teacher.region == "eu-central-1"
    assert teacher.client.meta.config.read_timeout == 45


def test_agenerate_runs_more_calls_at_once_than_asyncio_default_pool() -> None:
    teacher = BedrockTeacher(model_id=MODEL, region="us-east-1", max_pool_connections=12)
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return AWSResponse(None, 200, {}, None), reply("play [1 jazz ]")

    teacher.client.meta.events.register("before-call.bedrock-runtime.Converse", answer)

    async def many() -> list[list[Any]]:
        return await asyncio.gather(*(teacher.agenerate(PROMPT, 1, GenerationParams()) for _ in range(12)))

    with teacher:
        results = asyncio.run(many())
    assert [r[0].text for r in results] == ["play [1 jazz ]"] * 12
    assert state["most"] == 12  # asyncio's default pool has min(32, cores + 4) threads


RETRYABLE = [
    ("ThrottlingException", 429, "rate_limited"),
    ("ServiceQuotaExceededException", 400, "rate_limited"),
    ("ModelNotReadyException", 429, "rate_limited"),
    ("ServiceUnavailableException", 503, "server_error"),
    ("InternalServerException", 500, "server_error"),
    ("ModelTimeoutException", 408, "timeout"),
    ("ModelErrorException", 424, "model_error"),
]


@pytest.mark.parametrize(("code", "status", "reason"), RETRYABLE)
def test_transient_errors_are_retryable(
    teacher: BedrockTeacher, stub: Stubber, code: str, status: int, reason: str
) -> None:
    stub.add_client_error(
        "converse",
        service_error_code=code,
        service_message="Too many requests, please wait before trying again.",
        http_status_code=status,
        response_meta={"HTTPHeaders": {"retry-after": "2.5"}},
    )
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.retryable and info.value.reason == reason and info.value.retry_after == 2.5


FATAL = [
    ("ValidationException", 400, "The provided model identifier is invalid.", "E343"),
    ("ResourceNotFoundException", 404, "Model not found", "E343"),
    ("AccessDeniedException", 403, "You don't have access to the model with the specified model ID.", "E341"),
    ("ValidationException", 400, "temperature: range: 0..1", "E344"),
]


@pytest.mark.parametrize(("code", "status", "message", "expected_code"), FATAL)
def test_user_errors_stop_the_run_with_a_fix(
    teacher: BedrockTeacher, stub: Stubber, code: str, status: int, message: str, expected_code: str
) -> None:
    stub.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=status)
    with pytest.raises(TvdError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.code == expected_code and MODEL in info.value.message and info.value.fix
    if expected_code == "E341":
        assert "Model access" in info.value.fix


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"), "timeout"),
        (ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"), "timeout"),
        (EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"), "connection"),
    ],
)
def test_transport_failures_are_retryable(teacher: BedrockTeacher, error: Exception, reason: str) -> None:
    def fail(**_: Any) -> None:
        raise error

    teacher.client.meta.events.register("before-send.bedrock-runtime.Converse", fail)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.retryable and info.value.reason == reason


def test_malformed_response_is_a_bad_response(teacher: BedrockTeacher) -> None:
    # the Stubber refuses responses that break the service model, so answer from a before-call hook
    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse(None, 200, {}, None), {"stopReason": "end_turn", "output": {}}

    teacher.client.meta.events.register("before-call.bedrock-runtime.Converse", answer)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.reason == "bad_response"


def test_missing_credentials_region_and_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TvdError) as info:
        BedrockTeacher(model_id=MODEL)
    assert info.value.code == "E342"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(TvdError) as info:
        BedrockTeacher(model_id=MODEL, region="us-east-1")
    assert info.value.code == "E341"
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(TvdError) as info:
        BedrockTeacher(model_id=MODEL, region="us-east-1")
    assert info.value.code == "E340"


def test_bad_client_settings_are_e345() -> None:
    with pytest.raises(TvdError) as info:
        BedrockTeacher(model_id=MODEL, region="us-east-1", read_timeout=0)
    assert info.value.code == "E345"


def test_credentials_in_the_endpoint_url_are_masked_in_messages() -> None:
    proxy = "https://proxyuser:proxy-secret-123@bedrock.example.test/?token=tok-abc12345"
    teacher = BedrockTeacher(model_id=MODEL, region="us-east-1", endpoint_url=proxy)

    def fail(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=proxy)

    teacher.client.meta.events.register("before-send.bedrock-runtime.Converse", fail)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.reason == "connection" and "bedrock.example.test" in str(info.value)
    assert not any(s in str(info.value) for s in ("proxyuser", "proxy-secret-123", "tok-abc12345"))
    assert "proxy" not in teacher.model_id and "proxy" not in teacher.fingerprint()
    with pytest.raises(TvdError) as bad:
        BedrockTeacher(model_id=MODEL, region="us-east-1", endpoint_url="ftp//user:proxy-secret-123@host")
    assert bad.value.code == "E345" and "proxy-secret-123" not in str(bad.value)
