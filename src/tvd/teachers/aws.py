"""What the AWS teachers (SageMaker endpoints, Bedrock) share: building a boto3 client, and turning
botocore's exceptions into the two kinds of failure the engine knows.

* :class:`~tvd.teachers.base.TeacherError` (retried by the engine with backoff): throttling (429,
  ``ThrottlingException``, ``ModelNotReadyException``), server-side failures (5xx, a model container's 5xx
  behind ``ModelError``), timeouts and dropped connections.
* :class:`~tvd.errors.TvdError` (stops the run at once, with a fix): boto3 not installed (E340), no or
  invalid credentials and denied access (E341), no region (E342), an endpoint or model that does not exist
  (E343), a request the service or the model rejects as invalid (E344), bad teacher options (E345).

botocore's own retries are switched off by default (``max_attempts=1``) so that retries, their count and
their backoff are the engine's alone and are counted in its summary.

An ``endpoint_url`` is not part of any fingerprint; should it carry credentials (a proxy's userinfo, a
secret query parameter), they are masked in every message (:mod:`tvd.teachers.urls`).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from tvd.errors import (
    E_AWS_ACCESS,
    E_AWS_INVALID_REQUEST,
    E_AWS_NO_REGION,
    E_AWS_NOT_FOUND,
    E_AWS_OPTIONS,
    E_NO_BOTO3,
    TvdError,
)
from tvd.teachers.base import Completion, GenerationParams, Teacher, TeacherError
from tvd.teachers.urls import mask_secrets, url_secrets

T = TypeVar("T")

INSTALL_FIX = "pip install 'teaching-via-data[aws]' (installs boto3)"

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceQuotaExceededException",
    "ModelNotReadyException",
    "SlowDown",
}
_AUTH = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
}
_TIMEOUT = {"ModelTimeoutException", "RequestTimeout", "RequestTimeoutException"}


def import_boto3() -> Any:
    """The ``boto3`` module, or a TvdError saying how to install it."""
    try:
        return importlib.import_module("boto3")
    except ImportError as exc:
        raise TvdError(
            E_NO_BOTO3, f"the AWS teachers need boto3, which is not importable ({exc})", fix=INSTALL_FIX
        ) from exc


@dataclass(frozen=True)
class Connection:
    """Where and how an AWS backend connects (its constructor's options of the same names)."""

    region: str | None
    profile: str | None
    endpoint_url: str | None
    connect_timeout: float
    read_timeout: float
    timeout_s: float | None
    max_attempts: int
    max_pool_connections: int


@dataclass(frozen=True)
class ServiceHints:
    """Service-specific wording for error messages: what is called, and how to fix a missing one."""

    what: str  # e.g. "SageMaker endpoint 'alexatm'"
    not_found_fix: str
    access_fix: str
    secrets: tuple[str, ...] = ()  # credentials of the endpoint URL, masked in messages


def make_client(
    service: str,
    *,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    max_pool_connections: int,
) -> Any:
    """A boto3 client for ``service``; missing credentials, profile or region raise a TvdError now, not
    hours later on the first request."""
    if max_attempts < 1 or connect_timeout <= 0 or read_timeout <= 0 or max_pool_connections < 1:
        raise TvdError(
            E_AWS_OPTIONS,
            f"bad AWS client settings: max_attempts={max_attempts}, connect_timeout={connect_timeout}, "
            f"read_timeout={read_timeout}, max_pool_connections={max_pool_connections}",
            fix="use max_attempts >= 1, positive timeouts and max_pool_connections >= 1",
        )
    boto3 = import_boto3()
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise TvdError(
            E_AWS_ACCESS, f"AWS profile {profile!r} not found", fix="fix teacher.options.profile or run `aws configure`"
        ) from exc
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )
    try:
        client = session.client(service, endpoint_url=endpoint_url, config=config)
    except NoRegionError as exc:
        raise TvdError(
            E_AWS_NO_REGION,
            f"no AWS region given for {service}",
            fix="set teacher.options.region (e.g. us-east-1), or AWS_REGION / AWS_DEFAULT_REGION",
        ) from exc
    except (BotoCoreError, ValueError) as exc:
        detail = mask_secrets(str(exc), url_secrets(endpoint_url))
        raise TvdError(
            E_AWS_OPTIONS, f"cannot create the {service} client: {detail}", fix="check region and endpoint_url"
        ) from exc
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise TvdError(E_AWS_ACCESS, f"cannot load AWS credentials: {exc}", fix=_CREDENTIALS_FIX) from exc
    if credentials is None:
        raise TvdError(E_AWS_ACCESS, "no AWS credentials found", fix=_CREDENTIALS_FIX)
    return client


_CREDENTIALS_FIX = (
    "set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE, or run `aws configure`"
)


def translate_error(exc: Exception, hints: ServiceHints) -> Exception:
    """The exception to raise instead of botocore's ``exc``: a retryable TeacherError or a TvdError.

    Exceptions that are not botocore's are returned unchanged; the others' messages have ``hints.secrets``
    masked.
    """
    translated = _translate(exc, hints)
    if translated is exc or not hints.secrets:
        return translated
    if isinstance(translated, TvdError):
        fix = mask_secrets(translated.fix, list(hints.secrets)) if translated.fix else None
        message = mask_secrets(translated.message, list(hints.secrets))
        return TvdError(translated.code, message, file=translated.file, line=translated.line, fix=fix)
    if isinstance(translated, TeacherError):
        return TeacherError(
            mask_secrets(str(translated), list(hints.secrets)),
            reason=translated.reason,
            retryable=translated.retryable,
            retry_after=translated.retry_after,
            status=translated.status,
        )
    return translated


def _translate(exc: Exception, hints: ServiceHints) -> Exception:
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        return _client_error(exc, hints)
    if isinstance(exc, bce.ConnectTimeoutError | bce.ReadTimeoutError):
        return TeacherError(f"{hints.what}: timed out ({exc})", reason="timeout")
    if isinstance(exc, bce.ConnectionError | bce.HTTPClientError):
        return TeacherError(f"{hints.what}: connection failed ({exc})", reason="connection")
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError):
        return TvdError(E_AWS_ACCESS, f"{hints.what}: AWS credentials problem: {exc}", fix=_CREDENTIALS_FIX)
    if isinstance(exc, bce.TokenRetrievalError | bce.SSOError):
        return TvdError(E_AWS_ACCESS, f"{hints.what}: AWS login expired or invalid: {exc}", fix="run `aws sso login`")
    if isinstance(exc, bce.NoRegionError):
        return TvdError(E_AWS_NO_REGION, f"{hints.what}: no AWS region", fix="set teacher.options.region")
    if isinstance(exc, bce.ParamValidationError):
        return TvdError(
            E_AWS_INVALID_REQUEST, f"{hints.what}: invalid request parameters: {exc}", fix="check the teacher options"
        )
    if isinstance(exc, bce.BotoCoreError):
        return TeacherError(f"{hints.what}: {exc}", reason="aws_error")
    return exc


def _client_error(exc: Any, hints: ServiceHints) -> Exception:
    response = exc.response or {}
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or str(exc)
    meta = response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    headers = {str(key).lower(): value for key, value in (meta.get("HTTPHeaders") or {}).items()}
    retry_after = _retry_after(headers.get("retry-after"))
    text = f"{hints.what}: {code or 'error'} ({status}): {message}"

    if code == "ModelError" or code == "ModelErrorException":  # the model (container) failed
        original = response.get("OriginalStatusCode", response.get("originalStatusCode"))
        detail = response.get("OriginalMessage") or ""
        if detail:
            text += f" | model said: {str(detail)[:500]}"
        if original is None or int(original) >= 500 or int(original) in (408, 429):
            reason = "rate_limited" if original is not None and int(original) == 429 else "model_error"
            return TeacherError(text, reason=reason, retry_after=retry_after, status=_int(original) or status)
        return TvdError(
            E_AWS_INVALID_REQUEST,
            f"{text} (the model rejected the request with status {original})",
            fix="check the teacher options (request format, generation parameters, prompt length)",
        )
    if code in _THROTTLING or status == 429:
        return TeacherError(text, reason="rate_limited", retry_after=retry_after, status=status)
    if code in _TIMEOUT or status == 408:
        return TeacherError(text, reason="timeout", retry_after=retry_after, status=status)
    if code in _AUTH or status in (401, 403):
        return TvdError(E_AWS_ACCESS, text, fix=hints.access_fix)
    lowered = message.lower()
    if (
        code == "ResourceNotFoundException"
        or status == 404
        or (code.startswith("Validation") and ("not found" in lowered or "identifier is invalid" in lowered))
    ):
        return TvdError(E_AWS_NOT_FOUND, text, fix=hints.not_found_fix)
    if status is not None and int(status) >= 500:
        return TeacherError(text, reason="server_error", retry_after=retry_after, status=status)
    return TvdError(E_AWS_INVALID_REQUEST, text, fix="check the teacher options and the prompt (length, parameters)")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP dates are ignored)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def truncate_at_stop(text: str, stops: list[str] | tuple[str, ...]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop string, and whether one was found."""
    cut = min((text.find(stop) for stop in stops if stop and stop in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class CallPool:
    """Threads for blocking boto3 calls made from asyncio (boto3 clients are thread-safe).

    asyncio's default pool has ``min(32, cores + 4)`` threads, six on a 2-core machine, which would cap a
    teacher's concurrency below the engine's setting; this pool has ``size`` threads, created on first use.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix=self.name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(function, *args))

    def close(self) -> None:
        """Stop the threads (calls already running finish in the background)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class AwsTeacher(Teacher):
    """The part of an AWS teacher that does not depend on the service: a boto3 client built from the
    connection options, this teacher's own call threads (:class:`CallPool`) and error hints.

    Subclasses call :meth:`_connect` from ``__init__`` and implement :meth:`generate` with
    :func:`translate_error` and ``self._hints``.
    """

    concurrent = True

    def _connect(self, service: str, c: Connection, *, hints: Callable[[str], ServiceHints]) -> None:
        """Build the client (``timeout_s``, the config's ``teacher.timeout_s``, overrides ``read_timeout``),
        the call pool, and ``self._hints = hints(region_name)`` (plus the endpoint URL's secrets, to mask)."""
        self.client = make_client(
            service,
            region=c.region,
            profile=c.profile,
            endpoint_url=c.endpoint_url,
            connect_timeout=c.connect_timeout,
            read_timeout=c.timeout_s if c.timeout_s is not None else c.read_timeout,
            max_attempts=c.max_attempts,
            max_pool_connections=c.max_pool_connections,
        )
        self.region = self.client.meta.region_name
        self._pool = CallPool(c.max_pool_connections, f"tvd-{self.backend}")
        self._hints = replace(hints(self.region), secrets=tuple(url_secrets(c.endpoint_url)))

    async def agenerate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """:meth:`generate` on this teacher's own threads (one per connection of the pool)."""
        return await self._pool.run(self.generate, prompt, n, params)

    def close(self) -> None:
        """Stop the call threads."""
        self._pool.close()
