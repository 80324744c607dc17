"""The HTTP listener holds under a flood: idle and trickling connections are cut, and one
address cannot take every connection from staff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
from aiohttp import web

from makerwatch.api.listener import Limits, listen
from makerwatch.ops.embedded import free_port


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def serving(limits: Limits) -> AsyncIterator[int]:
    app = web.Application()
    app.add_routes([web.get("/", hello)])
    port = free_port()
    stop = await listen(app, "127.0.0.1", port, limits)
    try:
        yield port
    finally:
        await stop()


async def connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader, within_s: float) -> bool:
    """Does the server close this connection within `within_s`? (reads until EOF)"""
    try:
        async with asyncio.timeout(within_s):
            while await reader.read(1024):
                pass
            return True
    except TimeoutError:
        return False


async def test_a_connection_that_never_finishes_its_headers_is_cut() -> None:
    """Test that headers trickled a byte at a time do not keep a connection past the deadline."""
    async with serving(Limits(headers_within_s=1.0)) as port:
        reader, writer = await connect(port, "127.0.0.2")
        started = time.monotonic()

        async def trickle() -> None:
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)  # the attacker's pace, not a wait in the test

        sending = asyncio.create_task(trickle())
        assert await closed_by_server(reader, within_s=10)
        assert time.monotonic() - started < 5
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()


async def test_one_address_cannot_take_every_connection() -> None:
    """Test that an address over its share is refused at once, while another address is served."""
    async with serving(Limits(total=50, per_address=5, headers_within_s=30)) as port:
        held = [await connect(port, "127.0.0.2") for _ in range(5)]
        reader, writer = await connect(port, "127.0.0.2")
        assert await closed_by_server(reader, within_s=5), "the sixth from one address"
        writer.close()
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
        async with httpx.AsyncClient(transport=transport) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
        for _, held_writer in held:
            held_writer.close()


async def test_a_finished_request_is_served_and_the_connection_kept() -> None:
    """Test that a normal keep-alive client gets several answers on one connection."""
    async with serving(Limits(headers_within_s=0.5)) as port:
        reader, writer = await connect(port, "127.0.0.4")
        for _ in range(3):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert await reader.readexactly(2) == b"ok"
        writer.close()


async def test_a_few_addresses_holding_every_connection_leave_room_for_a_phone() -> None:
    """Test that when a few addresses hold every connection, a new address is still
    served from the reserve, but a flooding address gets nothing from it."""
    async with serving(
        Limits(total=20, per_address=5, headers_within_s=30, reserve=4, reserve_each=2)
    ) as port:
        held = [await connect(port, f"127.0.0.{10 + n}") for n in range(4) for _ in range(5)]
        reader, writer = await connect(port, "127.0.0.10")
        assert await closed_by_server(reader, within_s=5), "over its own share"
        writer.close()
        phones = [await connect(port, "127.0.0.20") for _ in range(2)]
        for phone_reader, phone_writer in phones:
            phone_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await phone_reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        reader, writer = await connect(port, "127.0.0.20")
        assert await closed_by_server(reader, within_s=5), "a third from the reserve"
        writer.close()
        for _, held_writer in [*held, *phones]:
            held_writer.close()
