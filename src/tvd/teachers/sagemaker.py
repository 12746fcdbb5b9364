"""A teacher behind an Amazon SageMaker real-time endpoint, by default AlexaTM 20B from SageMaker JumpStart.

AlexaTM 20B conventions (``alexatm=True``, the default), from the JumpStart example notebook
"In-context learning with AlexaTM 20B in SageMaker JumpStart" (aws/amazon-sagemaker-examples,
``introduction_to_amazon_algorithms/jumpstart_alexatm20b/Amazon_Jumpstart_AlexaTM_20B.ipynb``, JumpStart
model id ``pytorch-textgeneration1-alexa20b``) and the CLASP notes in ``docs/methods.md``:

* Request: ``invoke_endpoint`` with ``ContentType`` and ``Accept`` ``application/json`` and the body
  ``{"text_inputs": <prompt>, <generation arguments>}``.  The notebook lists ten optional arguments:
  ``max_length``, ``num_return_sequences``, ``num_beams``, ``no_repeat_ngram_size``, ``temperature``
  (positive), ``early_stopping``, ``do_sample``, ``top_k`` (positive), ``top_p`` (0..1) and ``seed``.
  This teacher sends ``max_length``, ``num_return_sequences``, ``do_sample`` and, when sampling,
  ``temperature``, ``top_k``, ``top_p`` and ``seed``; greedy decoding (``temperature <= 0``) sends
  ``do_sample: false`` and no sampling arguments.
* Response: ``{"generated_texts": [...]}``, one text per returned sequence.  The notebook's examples cut
  the first generated text at the shot delimiter and take the part before it as the answer, so the
  generated text is the continuation alone (AlexaTM is an encoder-decoder: the prompt is not echoed).
* ``[CLM] `` before the prompt switches the model from its default denoising mode to causal language
  modelling, "best for in-context learning".
* The AlexaTM tokenizer drops ``\\n``; the notebook recommends ``<br>``, ``;`` or ``\\\\n`` as delimiters.
  So every newline of the prompt becomes ``<br>`` (option ``newline``), stop strings are translated the
  same way, and ``<br>`` in the answer (after cutting at the stop strings) becomes ``\\n`` again.

Assumed, not documented: ``max_length`` counts generated tokens only (the notebook's summarisation
example sends ``max_length: 50`` with a prompt of several hundred tokens and gets a summary back, which a
limit that counted the prompt would not allow; its parameter list says the limit "includes the input
context length", which reads as copied from decoder-only models); ``seed`` makes a sampled answer
reproducible on the same endpoint (the notebook: "set a seed to get the same result each time").  The
endpoint reports no token counts, so completions carry none and the engine estimates them.  AlexaTM
knows no repetition penalty, stop strings or grammar: ``repeat_penalty`` and ``grammar`` are ignored and
stop strings are applied here by truncation (the parser validates every output anyway).

Samples.  By default each of the ``n`` samples is its own request with ``num_return_sequences: 1`` and
``seed: params.seed + i``, so sample ``i`` is the same whatever ``n`` is (the engine's cache keys depend
on it).  ``batch_samples=True`` asks for all ``n`` in one request (``num_return_sequences: n``, ``seed:
params.seed``): fewer calls, but then sample ``i`` depends on ``n``.

Other containers (``alexatm=False``): the Hugging Face text-generation-inference (TGI) convention that
most JumpStart LLM containers use: ``{"inputs": <prompt>, "parameters": {"max_new_tokens", "do_sample",
"temperature", "top_p", "top_k", "seed", "repetition_penalty", "stop", "return_full_text": false,
"details": true}}``, answered by ``[{"generated_text": ..., "details": {"finish_reason",
"generated_tokens"}}]`` (a single object is accepted too).  The prompt is sent unchanged.

Exercised here / not exercised against the real service.  The tests (``tests/test_teachers_sagemaker.py``)
run against botocore's Stubber: exact request bodies (``[CLM] `` prefix, ``<br>``, every parameter, greedy
vs sampled, per-sample seeds, batched samples, TGI bodies), response parsing, stop-string truncation and
``<br>`` restoration, and every error mapping (throttling, ``ModelNotReadyException``, ``ModelError``
with 5xx and 4xx, ``InternalFailure``, ``ServiceUnavailable``, missing endpoint, access denied, timeouts,
connection errors, missing credentials and region, malformed responses).  Nothing was sent to a real
endpoint: no AWS account was reachable from where this was written, so the AlexaTM request and response
formats rest on the JumpStart notebook cited above, and its real error texts, throttling behaviour and
latency are untested.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tvd.errors import E_AWS_OPTIONS, TvdError
from tvd.teachers.aws import AwsTeacher, Connection, ServiceHints, translate_error, truncate_at_stop
from tvd.teachers.base import Completion, GenerationParams, TeacherError

#: Prefix that puts AlexaTM 20B into causal-language-modelling (in-context) mode.
CLM_PREFIX = "[CLM] "
#: What AlexaTM 20B sees instead of a newline (its tokenizer drops ``\n``).
BR = "<br>"


class SageMakerTeacher(AwsTeacher):
    """A model behind a SageMaker real-time endpoint, called with boto3's ``sagemaker-runtime`` client.

    ``endpoint_name``: the endpoint.  ``region``, ``profile``, ``endpoint_url``: where and as whom (default:
    the AWS environment's).  ``alexatm``: AlexaTM 20B JumpStart conventions (see the module docstring);
    ``False`` for TGI-style containers.  ``prefix`` and ``newline``: the AlexaTM prompt rewriting.
    ``batch_samples``: all ``n`` samples in one request (AlexaTM only).  ``extra_parameters``: more
    request fields (AlexaTM: top level, e.g. ``no_repeat_ngram_size``; TGI: inside ``parameters``).
    ``custom_attributes``: sent as ``CustomAttributes`` (e.g. ``accept_eula=true``).  ``connect_timeout`` /
    ``read_timeout``: seconds (SageMaker ends an invocation after 60 s itself); ``timeout_s`` (the config's
    ``teacher.timeout_s``) overrides ``read_timeout``.  ``max_attempts``: botocore's
    own attempts per call (1: retries are left to the engine).  ``max_pool_connections``: HTTP connections
    and threads for concurrent calls (keep it at least the engine's ``teacher.concurrency``).
    """

    backend = "sagemaker"

    def __init__(
        self,
        endpoint_name: str,
        region: str | None = None,
        alexatm: bool = True,
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        prefix: str = CLM_PREFIX,
        newline: str = BR,
        batch_samples: bool = False,
        extra_parameters: dict[str, Any] | None = None,
        custom_attributes: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 70.0,
        max_attempts: int = 1,
        max_pool_connections: int = 16,
        timeout_s: float | None = None,
    ) -> None:
        if not isinstance(endpoint_name, str) or not endpoint_name.strip():
            raise TvdError(E_AWS_OPTIONS, "teacher.options.endpoint_name is empty", fix="name the SageMaker endpoint")
        if batch_samples and not alexatm:
            raise TvdError(
                E_AWS_OPTIONS,
                "batch_samples needs the AlexaTM request format (num_return_sequences)",
                fix="set alexatm: true or batch_samples: false",
            )
        self.endpoint_name = endpoint_name
        self.alexatm = alexatm
        self.prefix = prefix
        self.newline = newline
        self.batch_samples = batch_samples
        self.extra_parameters = dict(extra_parameters or {})
        self.custom_attributes = custom_attributes
        connection = Connection(
            region, profile, endpoint_url, connect_timeout, read_timeout, timeout_s, max_attempts, max_pool_connections
        )
        self._connect(
            "sagemaker-runtime",
            connection,
            hints=lambda region_name: ServiceHints(
                what=f"SageMaker endpoint {endpoint_name!r} ({region_name})",
                not_found_fix=(
                    "check teacher.options.endpoint_name and region; "
                    f"`aws sagemaker list-endpoints --region {region_name}` lists the endpoints that exist "
                    "(an endpoint must be InService)"
                ),
                access_fix="give these credentials sagemaker:InvokeEndpoint on the endpoint, or use another profile",
            ),
        )

    @property
    def model_id(self) -> str:
        """Endpoint name and request convention (the prompt rewriting changes what the model sees)."""
        if not self.alexatm:
            return f"{self.endpoint_name}/tgi"
        if (self.prefix, self.newline) == (CLM_PREFIX, BR):
            return f"{self.endpoint_name}/alexatm"
        return f"{self.endpoint_name}/alexatm(prefix={self.prefix!r},newline={self.newline!r})"

    # -- request bodies ----------------------------------------------------------------------------
    def model_input(self, prompt: str) -> str:
        """The text the endpoint receives for ``prompt``."""
        if not self.alexatm:
            return prompt
        return self.prefix + prompt.replace("\n", self.newline)

    def request_body(self, prompt: str, params: GenerationParams, seed: int, count: int) -> dict[str, Any]:
        """The JSON body asking for ``count`` sequences of ``prompt`` sampled with ``seed``."""
        sampling = params.temperature > 0
        if self.alexatm:
            body: dict[str, Any] = {
                "text_inputs": self.model_input(prompt),
                "max_length": params.max_tokens,
                "num_return_sequences": count,
                "do_sample": sampling,
            }
            if sampling:
                body["temperature"] = params.temperature
                if params.top_k > 0:
                    body["top_k"] = params.top_k
                if 0 < params.top_p <= 1:
                    body["top_p"] = params.top_p
                body["seed"] = seed
            body.update(self.extra_parameters)
            return body
        parameters: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "do_sample": sampling,
            "return_full_text": False,
            "details": True,
        }
        if sampling:
            parameters["temperature"] = params.temperature
            if params.top_k > 0:
                parameters["top_k"] = params.top_k
            if 0 < params.top_p < 1:
                parameters["top_p"] = params.top_p
            parameters["seed"] = seed
        if params.repeat_penalty != 1.0:
            parameters["repetition_penalty"] = params.repeat_penalty
        stops = [stop for stop in params.stop if stop]
        if stops:
            parameters["stop"] = stops
        parameters.update(self.extra_parameters)
        return {"inputs": prompt, "parameters": parameters}

    # -- calls -------------------------------------------------------------------------------------
    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions; sample ``i`` uses seed ``params.seed + i`` (one request each by default)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return []
        if self.batch_samples:
            return self._invoke(prompt, params, params.seed, n)
        return [self._invoke(prompt, params, params.seed + i, 1)[0] for i in range(n)]

    def _invoke(self, prompt: str, params: GenerationParams, seed: int, count: int) -> list[Completion]:
        body = self.request_body(prompt, params, seed, count)
        request: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": json.dumps(body, ensure_ascii=False).encode("utf-8"),
            "ContentType": "application/json",
            "Accept": "application/json",
        }
        if self.custom_attributes:
            request["CustomAttributes"] = self.custom_attributes
        started = time.perf_counter()
        try:
            response = self.client.invoke_endpoint(**request)
            raw = response["Body"].read()
        except Exception as exc:
            translated = translate_error(exc, self._hints)
            if translated is exc:
                raise
            raise translated from exc
        seconds = round(time.perf_counter() - started, 4)
        texts, details = self._parse(raw)
        if len(texts) != count:
            raise TeacherError(
                f"{self._hints.what}: asked for {count} sequence(s), got {len(texts)}", reason="bad_response"
            )
        return [
            self._completion(text, detail, params, seed, seconds) for text, detail in zip(texts, details, strict=True)
        ]

    def _parse(self, raw: bytes) -> tuple[list[str], list[dict[str, Any]]]:
        """Generated texts (and TGI details) from a response body; malformed bodies are retryable errors."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise TeacherError(
                f"{self._hints.what}: response is not JSON: {raw[:200]!r}", reason="bad_response"
            ) from exc
        if self.alexatm:
            texts = data.get("generated_texts") if isinstance(data, dict) else None
            if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
                raise TeacherError(
                    f"{self._hints.what}: no 'generated_texts' list of strings in {str(data)[:200]}",
                    reason="bad_response",
                )
            return texts, [{} for _ in texts]
        items = data if isinstance(data, list) else [data]
        texts, details = [], []
        for item in items:
            text = item.get("generated_text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise TeacherError(
                    f"{self._hints.what}: no 'generated_text' string in {str(data)[:200]}", reason="bad_response"
                )
            texts.append(text)
            detail = item.get("details")
            details.append(detail if isinstance(detail, dict) else {})
        return texts, details

    def _completion(
        self, text: str, detail: dict[str, Any], params: GenerationParams, seed: int, seconds: float
    ) -> Completion:
        stops = list(params.stop)
        if self.alexatm:
            stops = [stop.replace("\n", self.newline) for stop in stops]
        text, stopped = truncate_at_stop(text, stops)
        if self.alexatm and self.newline:
            text = text.replace(self.newline, "\n")
        finish = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}.get(
            str(detail.get("finish_reason")), "stop" if stopped else None
        )
        tokens = detail.get("generated_tokens")
        return Completion(
            text=text,
            prompt_tokens=None,
            completion_tokens=tokens if isinstance(tokens, int) else None,
            finish_reason="stop" if stopped else finish,
            extra={"seed": seed, "seconds": seconds},
        )
