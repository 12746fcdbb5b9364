"""Running the app under uvicorn with connection limits: :func:`run_server`, :class:`ConnectionLimits`.

uvicorn (0.54) bounds some things itself: ``limit_concurrency`` (open connections or running requests at or over
it get a plain-text 503), ``timeout_keep_alive`` (an idle connection *after a response* is closed) and
``backlog`` (connections waiting to be accepted).  It has no read timeout: a connection that never sends a byte,
or that drips a request one byte a second, stays open for ever (its keep-alive timer starts only after a
response, and every byte cancels it); and with the httptools parser it buffers a request head of any size.

:class:`ReadTimeoutHttpToolsProtocol` (what ``tvd serve`` runs; :class:`ReadTimeoutH11Protocol` is its h11 twin)
adds the two missing limits, in the protocol where the bytes arrive: a client must deliver a whole request, head
and body, within ``read_timeout`` seconds of connecting or of the request's first byte, or the server closes the
connection; and a request head over ``max_header_bytes`` gets a 431 and a closed connection (h11 enforces that
itself: ``h11_max_incomplete_event_size``, answered with a 400).  :class:`ServerConfig` carries both to the
protocols, and to ``--workers`` processes, which receive uvicorn's Config pickled.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, fields
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tvd.errors import E_BAD_SETTINGS, TvdError

logger = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start (port in use, app failed)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one server process allows its clients at the connection level.

    ``limit_concurrency``: open connections (idle ones included) or running requests at which new requests get
    uvicorn's 503; bounds the memory and queueing a flood of clients can cause.
    ``keep_alive_timeout``: seconds an idle connection is kept open after a response.
    ``read_timeout``: seconds a client has to send a whole request, from connecting or from the request's first
    byte; closes connections that send nothing and slow-drip clients (slowloris).
    ``max_header_bytes``: the largest request head (request line and headers); larger gets 431.
    ``backlog``: connections the kernel queues before uvicorn accepts them (capped by ``net.core.somaxconn``).
    """

    limit_concurrency: int = 1000
    keep_alive_timeout: float = 5.0
    read_timeout: float = 10.0
    max_header_bytes: int = 16_384
    backlog: int = 2048

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            kinds = (int, float) if isinstance(item.default, float) else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
                kind = "a positive number" if float in kinds else "a positive integer"
                raise TvdError(
                    E_BAD_SETTINGS,
                    f"connection limit {item.name} must be {kind}, got {value!r}",
                    fix=f"pass {kind} for {item.name}",
                )


class _ReadTimeout:
    """The read timer both protocol classes share: armed when a request may start, cancelled when it is whole."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    read_timeout: float
    _read_deadline: asyncio.TimerHandle | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_read_timeout()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_timeout()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_read_timeout(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm_read_timeout(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            logger.debug("closing a connection that sent no whole request within %s s", self.read_timeout)
            self.transport.close()


def _limits_of(config: uvicorn.Config) -> ConnectionLimits:
    limits = getattr(config, "connection_limits", None)
    return limits if isinstance(limits, ConnectionLimits) else ConnectionLimits()


class ReadTimeoutH11Protocol(_ReadTimeout, H11Protocol):
    """uvicorn's h11 protocol (the pure-Python parser) with the read timeout; h11 caps the head size itself."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.read_timeout = _limits_of(config).read_timeout
        self._read_deadline = None

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # a request begins (or goes on arriving)
            self._arm_read_timeout()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm_read_timeout()  # the whole request arrived (or the connection is done)


class ReadTimeoutHttpToolsProtocol(_ReadTimeout, HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser) with the read timeout and a cap on the request head."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = _limits_of(config)
        self.read_timeout = limits.read_timeout
        self.max_header_bytes = limits.max_header_bytes
        self._read_deadline = None
        self._in_message = False  # between a request's first byte and its end
        self._head_pending = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0
        self._completed_in_chunk = 0

    def data_received(self, data: bytes) -> None:
        head_at_start, idle_at_start = self._head_pending, not self._in_message
        self._completed_in_chunk = 0
        super().data_received(data)
        # Count a chunk towards the head when it is all head: it went on with one, or began one on an idle
        # connection and ended inside it.  A head that begins after a pipelined request in the same chunk
        # is counted from the next chunk on (one read, at most 256 KiB, of slack).
        if self._head_pending and (head_at_start or (idle_at_start and not self._completed_in_chunk)):
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._reject_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = self._head_pending = True
        self._head_bytes = 0
        self._arm_read_timeout()

    def on_headers_complete(self) -> None:
        self._head_pending = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        self._completed_in_chunk += 1
        self._disarm_read_timeout()
        super().on_message_complete()

    def _reject_head(self) -> None:
        self._head_pending = False
        logger.warning("a request head over %d bytes; answered 431 and closed", self.max_header_bytes)
        message = f"the request head is over {self.max_header_bytes} bytes".encode("ascii")
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(message)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + message
        )
        self.transport.close()


def http_protocol_class() -> type[asyncio.Protocol]:
    """The protocol ``tvd serve`` runs: httptools's (uvicorn's choice when it is installed, as the server extra
    has it) with the limits."""
    return ReadTimeoutHttpToolsProtocol


class ServerConfig(uvicorn.Config):
    """uvicorn's Config with :class:`ConnectionLimits` applied: uvicorn's own options set from them, and the
    limits kept as ``connection_limits`` for the protocol classes (pickled with the Config to each worker)."""

    def __init__(
        self,
        app: Any,
        *,
        limits: ConnectionLimits | None = None,
        http: type[asyncio.Protocol] | None = None,
        **options: Any,
    ) -> None:
        limits = limits or ConnectionLimits()
        super().__init__(
            app,
            http=http or http_protocol_class(),
            limit_concurrency=limits.limit_concurrency,
            timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]  # a float works: call_later
            backlog=limits.backlog,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            **options,
        )
        self.connection_limits = limits


def run_server(config: ServerConfig) -> None:
    """Serve until Ctrl-C / SIGTERM, in ``config.workers`` processes (what ``uvicorn.run`` does with a Config).

    Exits with status 3, as uvicorn does, when a single-process server could not start.
    """
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            from uvicorn.supervisors import Multiprocess

            sock = config.bind_socket()
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run()
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles the signal itself
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)
