"""A teacher on Amazon Bedrock, called through the Converse API (``bedrock-runtime`` ``converse``).

Request (botocore's ``bedrock-runtime`` service model, operation ``Converse``): ``modelId``; ``messages``
with one user message whose only content block is the prompt text; optional ``system`` text;
``inferenceConfig`` with ``maxTokens``, ``temperature``, ``topP`` and ``stopSequences``; optional
``additionalModelRequestFields`` for what Converse does not cover (e.g. ``{"top_k": 40}`` for Anthropic
models).  Response: ``output.message.content`` (the text blocks are joined; reasoning blocks are
skipped), ``stopReason`` (``end_turn`` and ``stop_sequence`` become ``stop``, ``max_tokens`` becomes
``length``, others such as ``content_filtered`` are passed on), and ``usage.inputTokens`` /
``usage.outputTokens``.

Converse has no seed and no top-k: ``n`` samples are ``n`` independent calls, not reproducible, and
``params.seed`` / ``params.top_k`` / ``params.repeat_penalty`` / ``params.grammar`` are not sent (the
engine's cache is what makes a run repeatable; the parser validates every output anyway).  Stop strings
made only of whitespace (the LINGUIST default ``"\\n"``) are not sent, because some providers (Anthropic)
reject them; every stop string is applied here by truncation instead.  ``send_top_p=False`` leaves
``topP`` out, for models that refuse both ``temperature`` and ``topP`` in one request.

Chat models answer a LINGUIST prompt more reliably with a ``system`` text saying to reply with one
annotated utterance only; the system text is part of :attr:`model_id` and so of every cache key.

Exercised here / not exercised against the real service.  The tests (``tests/test_teachers_bedrock.py``)
run against botocore's Stubber, which validates every request against the real service model: exact
request parameters, response parsing (text blocks, stop reasons, usage), truncation at stop strings, and
every error mapping (``ThrottlingException``, ``ServiceUnavailableException``, ``InternalServerException``,
``ModelTimeoutException``, ``ModelNotReadyException``, ``ModelErrorException``, ``ServiceQuotaExceeded``,
``ValidationException`` for an unknown model and for a bad request, ``ResourceNotFoundException``,
``AccessDeniedException``, timeouts, connection errors, missing credentials and region).  Nothing was
sent to Bedrock itself: no AWS account was reachable from where this was written, so real error texts,
which models accept which ``inferenceConfig`` fields, and quota behaviour are untested.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from tvd.errors import E_AWS_OPTIONS, TvdError
from tvd.teachers.aws import AwsTeacher, Connection, ServiceHints, translate_error, truncate_at_stop
from tvd.teachers.base import Completion, GenerationParams, TeacherError

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class BedrockTeacher(AwsTeacher):
    """A Bedrock model (foundation model id, inference profile or ARN) through the Converse API.

    ``model_id``: e.g. ``anthropic.claude-3-haiku-20240307-v1:0`` or ``us.amazon.nova-lite-v1:0``.
    ``region``, ``profile``, ``endpoint_url``: where and as whom (default: the AWS environment's).
    ``system``: optional system text.  ``additional_fields``: ``additionalModelRequestFields``.
    ``send_top_p``: include ``topP``.  ``connect_timeout`` / ``read_timeout``: seconds; ``timeout_s`` (the
    config's ``teacher.timeout_s``) overrides ``read_timeout``.  ``max_attempts``:
    botocore's own attempts per call (1: retries are left to the engine).  ``max_pool_connections``: HTTP
    connections and threads for concurrent calls (keep it at least the engine's ``teacher.concurrency``).
    """

    backend = "bedrock"

    def __init__(
        self,
        model_id: str,
        region: str | None = None,
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        system: str | None = None,
        additional_fields: dict[str, Any] | None = None,
        send_top_p: bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_attempts: int = 1,
        max_pool_connections: int = 16,
        timeout_s: float | None = None,
    ) -> None:
        if not isinstance(model_id, str) or not model_id.strip():
            raise TvdError(E_AWS_OPTIONS, "teacher.options.model_id is empty", fix="name a Bedrock model id or ARN")
        self.bedrock_model_id = model_id
        self.system = system
        self.additional_fields = dict(additional_fields) if additional_fields else None
        self.send_top_p = send_top_p
        connection = Connection(
            region, profile, endpoint_url, connect_timeout, read_timeout, timeout_s, max_attempts, max_pool_connections
        )
        self._connect(
            "bedrock-runtime",
            connection,
            hints=lambda region_name: ServiceHints(
                what=f"Bedrock model {model_id!r} ({region_name})",
                not_found_fix=(
                    "check teacher.options.model_id and region; "
                    f"`aws bedrock list-foundation-models --region {region_name}` lists the models "
                    "(some need an inference profile id such as us.<model id>)"
                ),
                access_fix=(
                    "enable access to this model in the Bedrock console (Model access) and give these credentials "
                    "bedrock:InvokeModel, or use another profile"
                ),
            ),
        )

    @property
    def model_id(self) -> str:
        """The Bedrock model id, plus a digest of the system text and extra fields when set."""
        extras = {"system": self.system, "additional_fields": self.additional_fields, "top_p": self.send_top_p}
        if extras == {"system": None, "additional_fields": None, "top_p": True}:
            return self.bedrock_model_id
        digest = hashlib.sha256(json.dumps(extras, sort_keys=True).encode("utf-8")).hexdigest()[:12]
        return f"{self.bedrock_model_id}#{digest}"

    def request(self, prompt: str, params: GenerationParams) -> dict[str, Any]:
        """The ``converse`` keyword arguments for one completion of ``prompt``."""
        inference: dict[str, Any] = {"maxTokens": params.max_tokens, "temperature": max(0.0, params.temperature)}
        if self.send_top_p:
            inference["topP"] = params.top_p
        stops = [stop for stop in params.stop if stop.strip()]
        if stops:
            inference["stopSequences"] = stops
        request: dict[str, Any] = {
            "modelId": self.bedrock_model_id,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": inference,
        }
        if self.system:
            request["system"] = [{"text": self.system}]
        if self.additional_fields:
            request["additionalModelRequestFields"] = self.additional_fields
        return request

    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions, one ``converse`` call each (Converse has no seed: samples are independent)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return [self._converse(prompt, params) for _ in range(n)]

    def _converse(self, prompt: str, params: GenerationParams) -> Completion:
        started = time.perf_counter()
        try:
            response = self.client.converse(**self.request(prompt, params))
        except Exception as exc:
            translated = translate_error(exc, self._hints)
            if translated is exc:
                raise
            raise translated from exc
        seconds = round(time.perf_counter() - started, 4)
        try:
            blocks = response["output"]["message"]["content"]
            text = "".join(block["text"] for block in blocks if isinstance(block, dict) and "text" in block)
        except (KeyError, TypeError) as exc:
            raise TeacherError(
                f"{self._hints.what}: no output message in the response ({str(response)[:200]})", reason="bad_response"
            ) from exc
        text, stopped = truncate_at_stop(text, params.stop)
        stop_reason = response.get("stopReason")
        usage = response.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=usage.get("inputTokens"),
            completion_tokens=usage.get("outputTokens"),
            finish_reason="stop" if stopped else _FINISH.get(str(stop_reason), stop_reason),
            extra={"seconds": seconds, "stop_reason": stop_reason},
        )
