"""The HTTP API: active alerts and their acknowledgement, health, metrics.

It sees the running service only through `Status`, so it imports no other feature.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from makerwatch.api.metrics import MetricSource, render

__all__ = ["Status", "serve"]


class Status(MetricSource, Protocol):
    """What the HTTP API reads from, and asks of, the running service."""

    async def health(self) -> dict[str, object]: ...
    async def acknowledge(self, alert_id: str, by: str) -> dict[str, Any]: ...


def _app(service: Status) -> web.Application:
    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    async def list_alerts(request: web.Request) -> web.Response:
        return web.json_response({"alerts": service.active_alerts()}, dumps=dumps)

    async def acknowledge(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        by = str(body.get("by", "staff"))[:64] if isinstance(body, dict) else "staff"
        try:
            alert = await service.acknowledge(alert_id, by)
        except KeyError:
            return web.json_response({"error": f"no active alert {alert_id!r}"}, status=404)
        return web.json_response({"alert": alert}, dumps=dumps)

    async def healthz(request: web.Request) -> web.Response:
        health = await service.health()
        return web.json_response(health, status=200 if health["healthy"] else 503)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=render(service))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.add_routes([
        web.get("/alerts", list_alerts),
        web.post("/alerts/{alert_id}/ack", acknowledge),
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
    ])  # fmt: skip
    return app


async def serve(service: Status, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(_app(service), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
