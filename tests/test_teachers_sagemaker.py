"""SageMaker teacher against botocore's Stubber: exact request bodies, response parsing, error mapping.

No request leaves the process: the Stubber answers inside botocore, and the transport-failure tests raise
from a ``before-send`` hook.  Fake credentials come from the environment; instance metadata is disabled.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from tvd.errors import TvdError  # noqa: E402
from tvd.teachers.base import GenerationParams, TeacherError  # noqa: E402
from tvd.teachers.registry import make_teacher  # noqa: E402
from tvd.teachers.sagemaker import SageMakerTeacher  # noqa: E402

ENDPOINT = "jumpstart-alexatm20b"
PROMPT = "<intent> PlayMusic </intent>\n<examples>\nplay [1 jazz ]\n"
SENT = "[CLM] <intent> PlayMusic </intent><br><examples><br>play [1 jazz ]<br>"


pytestmark = pytest.mark.usefixtures("fake_aws")  # conftest.py: fake credentials, nothing reaches AWS


class JsonBody:
    """Equal to a request body (bytes) that decodes to exactly this JSON value."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and json.loads(other.decode("utf-8")) == self.expected

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"


def body(data: Any) -> dict[str, Any]:
    raw = json.dumps(data).encode("utf-8")
    return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}


def expected(payload: Any, endpoint: str = ENDPOINT) -> dict[str, Any]:
    return {
        "EndpointName": endpoint,
        "Body": JsonBody(payload),
        "ContentType": "application/json",
        "Accept": "application/json",
    }


@pytest.fixture
def teacher() -> SageMakerTeacher:
    return SageMakerTeacher(endpoint_name=ENDPOINT, region="us-east-1")


@pytest.fixture
def stub(teacher: SageMakerTeacher) -> Iterator[Stubber]:
    with Stubber(teacher.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


# -- request bodies and responses ---------------------------------------------------------------------
def test_alexatm_requests_one_per_sample_with_prefix_br_and_seeds(teacher: SageMakerTeacher, stub: Stubber) -> None:
    params = GenerationParams(max_tokens=32, temperature=0.7, top_p=0.9, top_k=50, seed=10, stop=("\n",))
    for seed, answer in ((10, "play [1 blues ]<br>play [1 rock ]"), (11, " play some [1 soul ]")):
        stub.add_response(
            "invoke_endpoint",
            body({"generated_texts": [answer]}),
            expected(
                {
                    "text_inputs": SENT,
                    "max_length": 32,
                    "num_return_sequences": 1,
                    "do_sample": True,
                    "temperature": 0.7,
                    "top_k": 50,
                    "top_p": 0.9,
                    "seed": seed,
                }
            ),
        )
    completions = teacher.generate(PROMPT, 2, params)
    assert [c.text for c in completions] == ["play [1 blues ]", " play some [1 soul ]"]
    assert [c.finish_reason for c in completions] == ["stop", None]
    assert [c.extra["seed"] for c in completions] == [10, 11]
    assert completions[0].prompt_tokens is None and completions[0].completion_tokens is None


def test_greedy_sends_no_sampling_arguments(teacher: SageMakerTeacher, stub: Stubber) -> None:
    params = GenerationParams(max_tokens=16, temperature=0.0, top_k=0, stop=())
    stub.add_response(
        "invoke_endpoint",
        body({"generated_texts": ["play [1 jazz ]"]}),
        expected({"text_inputs": SENT, "max_length": 16, "num_return_sequences": 1, "do_sample": False}),
    )
    assert [c.text for c in teacher.generate(PROMPT, 1, params)] == ["play [1 jazz ]"]


def test_br_in_the_answer_becomes_a_newline_when_newline_is_no_stop(teacher: SageMakerTeacher, stub: Stubber) -> None:
    params = GenerationParams(temperature=0.0, stop=("</examples>",))
    stub.add_response("invoke_endpoint", body({"generated_texts": ["a [1 b ]<br>c</examples> tail"]}), None)
    [completion] = teacher.generate(PROMPT, 1, params)
    assert completion.text == "a [1 b ]\nc"
    assert completion.finish_reason == "stop"


def test_batch_samples_asks_for_n_sequences_in_one_request(stub: Stubber, teacher: SageMakerTeacher) -> None:
    teacher.batch_samples = True
    teacher.extra_parameters = {"no_repeat_ngram_size": 3}
    params = GenerationParams(max_tokens=8, temperature=1.0, top_p=1.0, top_k=0, seed=5)
    stub.add_response(
        "invoke_endpoint",
        body({"generated_texts": ["x", "y", "z"]}),
        expected(
            {
                "text_inputs": SENT,
                "max_length": 8,
                "num_return_sequences": 3,
                "do_sample": True,
                "temperature": 1.0,
                "top_p": 1.0,
                "seed": 5,
                "no_repeat_ngram_size": 3,
            }
        ),
    )
    assert [c.text for c in teacher.generate(PROMPT, 3, params)] == ["x", "y", "z"]


def test_wrong_number_of_sequences_is_a_bad_response(teacher: SageMakerTeacher, stub: Stubber) -> None:
    teacher.batch_samples = True
    stub.add_response("invoke_endpoint", body({"generated_texts": ["only one"]}), None)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 2, GenerationParams())
    assert info.value.reason == "bad_response" and info.value.retryable


@pytest.mark.parametrize(
    "payload",
    [b"<html>502 Bad Gateway</html>", b'{"outputs": ["x"]}', b'{"generated_texts": "x"}', b'{"generated_texts": [1]}'],
)
def test_malformed_responses_are_retryable_bad_responses(
    teacher: SageMakerTeacher, stub: Stubber, payload: bytes
) -> None:
    stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(payload), len(payload))}, None)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.reason == "bad_response"


def test_tgi_format_sends_prompt_unchanged_and_reads_details() -> None:
    teacher = SageMakerTeacher(
        endpoint_name="llama", region="eu-west-1", alexatm=False, custom_attributes="accept_eula=true"
    )
    assert teacher.model_id == "llama/tgi"
    params = GenerationParams(max_tokens=20, temperature=0.5, top_p=0.9, top_k=40, repeat_penalty=1.1, seed=3)
    with Stubber(teacher.client) as stub:
        stub.add_response(
            "invoke_endpoint",
            body(
                [
                    {
                        "generated_text": "play [1 jazz ]\nmore",
                        "details": {"finish_reason": "stop_sequence", "generated_tokens": 7},
                    }
                ]
            ),
            {
                **expected(
                    {
                        "inputs": PROMPT,
                        "parameters": {
                            "max_new_tokens": 20,
                            "do_sample": True,
                            "return_full_text": False,
                            "details": True,
                            "temperature": 0.5,
                            "top_k": 40,
                            "top_p": 0.9,
                            "seed": 3,
                            "repetition_penalty": 1.1,
                            "stop": ["\n"],
                        },
                    },
                    endpoint="llama",
                ),
                "CustomAttributes": "accept_eula=true",
            },
        )
        stub.add_response(
            "invoke_endpoint", body({"generated_text": "x", "details": {"finish_reason": "length"}}), None
        )
        completions = teacher.generate(PROMPT, 2, params)
    assert [(c.text, c.completion_tokens, c.finish_reason) for c in completions] == [
        ("play [1 jazz ]", 7, "stop"),
        ("x", None, "length"),
    ]


def test_batch_samples_needs_alexatm() -> None:
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name="x", region="us-east-1", alexatm=False, batch_samples=True)
    assert info.value.code == "E345"


def test_model_id_names_endpoint_and_convention() -> None:
    assert SageMakerTeacher("e", region="us-east-1").model_id == "e/alexatm"
    custom = SageMakerTeacher("e", region="us-east-1", newline=" ; ")
    assert custom.model_id != "e/alexatm" and custom.model_input("a\nb") == "[CLM] a ; b"


def test_registry_builds_it_from_options() -> None:
    teacher = make_teacher("sagemaker", endpoint_name=ENDPOINT, region="us-west-2", timeout_s=33)
    assert isinstance(teacher, SageMakerTeacher) and teacher.concurrent
    assert teacher.fingerprint() == f"sagemaker:{ENDPOINT}/alexatm" and teacher.region == "us-west-2"
    config = teacher.client.meta.config
    assert config.read_timeout == 33 and config.retries["total_max_attempts"] == 1


def test_agenerate_runs_the_call(teacher: SageMakerTeacher, stub: Stubber) -> None:
    stub.add_response("invoke_endpoint", body({"generated_texts": ["ok"]}), None)
    completions = asyncio.run(teacher.agenerate(PROMPT, 1, GenerationParams(stop=())))
    assert [c.text for c in completions] == ["ok"]


# -- errors -------------------------------------------------------------------------------------------
RETRYABLE = [
    ("ThrottlingException", 400, None, "rate_limited"),
    ("ModelNotReadyException", 429, None, "rate_limited"),
    ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "CUDA out of memory"}, "model_error"),
    ("ModelError", 424, {"OriginalStatusCode": 503, "OriginalMessage": "busy"}, "model_error"),
    ("InternalFailure", 500, None, "server_error"),
    ("ServiceUnavailable", 503, None, "server_error"),
    ("InternalDependencyException", 530, None, "server_error"),
]


@pytest.mark.parametrize(("code", "status", "fields", "reason"), RETRYABLE)
def test_transient_service_errors_are_retryable(
    teacher: SageMakerTeacher, stub: Stubber, code: str, status: int, fields: dict[str, Any] | None, reason: str
) -> None:
    stub.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message="try later",
        http_status_code=status,
        modeled_fields=fields,
        response_meta={"HTTPHeaders": {"Retry-After": "7"}},
    )
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.retryable and info.value.reason == reason
    assert info.value.retry_after == 7.0
    assert ENDPOINT in str(info.value)


FATAL = [
    ("ValidationError", 400, None, "Endpoint jumpstart-alexatm20b of account 123456789012 not found.", "E343"),
    ("ValidationError", 400, None, "Input text is too long", "E344"),
    ("AccessDeniedException", 403, None, "not authorized to perform: sagemaker:InvokeEndpoint", "E341"),
    ("UnrecognizedClientException", 400, None, "The security token included in the request is invalid.", "E341"),
    ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": "top_k must be positive"}, "bad", "E344"),
]


@pytest.mark.parametrize(("code", "status", "fields", "message", "expected_code"), FATAL)
def test_user_errors_stop_the_run_with_a_fix(
    teacher: SageMakerTeacher,
    stub: Stubber,
    code: str,
    status: int,
    fields: dict[str, Any] | None,
    message: str,
    expected_code: str,
) -> None:
    stub.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        modeled_fields=fields,
    )
    with pytest.raises(TvdError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.code == expected_code
    assert info.value.fix
    if expected_code == "E343":
        assert "list-endpoints" in info.value.fix


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"), "timeout"),
        (ConnectTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"), "timeout"),
        (EndpointConnectionError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"), "connection"),
    ],
)
def test_transport_failures_are_retryable(teacher: SageMakerTeacher, error: Exception, reason: str) -> None:
    def fail(**_: Any) -> None:
        raise error

    teacher.client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", fail)
    with pytest.raises(TeacherError) as info:
        teacher.generate(PROMPT, 1, GenerationParams())
    assert info.value.retryable and info.value.reason == reason


def test_missing_credentials_is_e341(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name=ENDPOINT, region="us-east-1")
    assert info.value.code == "E341" and "AWS_ACCESS_KEY_ID" in (info.value.fix or "")


def test_missing_region_is_e342() -> None:
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name=ENDPOINT)
    assert info.value.code == "E342" and "region" in (info.value.fix or "")


def test_unknown_profile_is_e341() -> None:
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name=ENDPOINT, region="us-east-1", profile="nobody")
    assert info.value.code == "E341"


def test_missing_boto3_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name=ENDPOINT, region="us-east-1")
    assert info.value.code == "E340" and "teaching-via-data[aws]" in (info.value.fix or "")


def test_empty_endpoint_name_is_e345() -> None:
    with pytest.raises(TvdError) as info:
        SageMakerTeacher(endpoint_name=" ", region="us-east-1")
    assert info.value.code == "E345"
