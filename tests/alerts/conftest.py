"""A local HTTP endpoint standing in for the notification services (webhook, ntfy)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from makerwatch.ops.embedded import free_port


@dataclass
class Receiver:
    """A local HTTP endpoint standing in for webhook and ntfy services."""

    port: int
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: list[tuple[str, float]] = field(default_factory=list)  # (path, monotonic time)
    hang: asyncio.Event = field(default_factory=asyncio.Event)  # /hang waits until this is set
    failures: dict[str, int] = field(default_factory=dict)  # path -> 500s still to give

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}?cto=5&rto=30"

    def times(self, path: str) -> list[float]:
        return [at for p, at in self.arrived if p == f"/{path}"]

    def on(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == f"/{path}"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received = Receiver(free_port())

    async def handle(request: web.Request) -> web.Response:
        received.requests.append((request.path, await request.json()))
        received.arrived.append((request.path, time.monotonic()))
        if request.path == "/hang":
            await received.hang.wait()
        if received.failures.get(request.path, 0) > 0:
            received.failures[request.path] -= 1
            return web.Response(status=500)
        return web.Response(status=200)

    app = web.Application()
    app.add_routes([web.post("/{path}", handle)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", received.port).start()
    yield received
    received.hang.set()
    await runner.cleanup()
