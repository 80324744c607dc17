"""The HTTP listener in front of aiohttp: at most so many connections at once, and
from one address, and a deadline for a new connection's first request headers, so
that idle or trickling connections from the Wi-Fi cannot take the API (or the
process's file descriptors) away from staff. When a few addresses hold every
connection, an address with fewer than four still gets one from a reserve. aiohttp itself closes idle keep-alive
connections (`keepalive_timeout`)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from makerwatch.api.guards import Caps

__all__ = ["Limits", "listen"]

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT_S = 75.0
HEADERS_END = b"\r\n\r\n"


class Limits:
    """Connection limits and what they refused."""

    def __init__(
        self,
        total: int = 256,
        per_address: int = 32,
        headers_within_s: float = 10.0,
        reserve: int = 64,
        reserve_each: int = 4,
    ) -> None:
        self.open = Caps(total, per_address, reserve, reserve_each)
        self.headers_within_s = headers_within_s
        self.refused = 0

    def admit(self, address: str) -> bool:
        if self.open.take(address) is not None:
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                log.warning("HTTP: %d connections refused over the limits (%d in all, %d from %s)",
                            self.refused, self.open.total, self.open.per_address, address)  # fmt: skip
            return False
        return True

    def release(self, address: str) -> None:
        self.open.release(address)


class _GuardedConnection(asyncio.Protocol):
    """Passes everything to aiohttp's handler once admitted; closes the connection if
    the first request's headers have not all arrived within the deadline."""

    def __init__(self, make_handler: Callable[[], asyncio.Protocol], limits: Limits) -> None:
        self._make_handler = make_handler
        self._limits = limits
        self._handler: asyncio.Protocol | None = None
        self._address = ""
        self._seen = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if peer else ""
        if not self._limits.admit(self._address):
            transport.close()
            return
        # A trickle of header bytes does not move the deadline.
        self._timer = asyncio.get_running_loop().call_later(
            self._limits.headers_within_s, transport.close
        )
        self._handler = self._make_handler()
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._handler is None:
            return
        if self._timer is not None:
            self._seen = (self._seen[-3:] + data)[-(len(data) + 3) :]
            if HEADERS_END in self._seen:
                self._timer.cancel()
                self._timer = None
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._handler is not None:
            self._limits.release(self._address)
            self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()


async def listen(
    app: web.Application,
    host: str,
    port: int,
    limits: Limits | None = None,
    tls: ssl.SSLContext | None = None,
) -> Callable[[], Awaitable[None]]:
    """Serve `app` on host:port (HTTPS with `tls`); returns a coroutine function that stops
    serving."""
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT_S)
    await runner.setup()
    handlers = runner.server
    assert handlers is not None
    guard = limits or Limits()
    # A connection is counted once its handshake is done: the handshake gets the headers'
    # deadline, so one that never finishes cannot hold a socket long uncounted.
    handshake_s = guard.headers_within_s if tls is not None else None
    server = await asyncio.get_running_loop().create_server(
        lambda: _GuardedConnection(handlers, guard), host, port,
        ssl=tls, ssl_handshake_timeout=handshake_s,
    )  # fmt: skip

    async def stop() -> None:
        server.close()
        await runner.cleanup()

    return stop
