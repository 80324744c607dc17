"""The ingest service's HTTP API: active alerts and their acknowledgement, health, metrics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from makerwatch.api.metrics import render

if TYPE_CHECKING:
    from makerwatch.ingest.service import IngestService

__all__ = ["serve"]


def _app(service: IngestService) -> web.Application:
    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    async def list_alerts(request: web.Request) -> web.Response:
        return web.json_response({"alerts": service.alerts.active()}, dumps=dumps)

    async def acknowledge(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        by = str(body.get("by", "staff"))[:64] if isinstance(body, dict) else "staff"
        try:
            alert = await service.alerts.acknowledge(alert_id, by)
        except KeyError:
            return web.json_response({"error": f"no active alert {alert_id!r}"}, status=404)
        return web.json_response({"alert": alert.to_json()}, dumps=dumps)

    async def healthz(request: web.Request) -> web.Response:
        health = await service.health()
        healthy = health["mqtt_connected"] and health["influxdb_reachable"]
        return web.json_response(health, status=200 if healthy else 503)

    async def metrics(request: web.Request) -> web.Response:
        notifier = service.notifier
        text = render(
            service.config.site.id,
            service.counters,
            mqtt_connected=service.subscribed.is_set(),
            unacknowledged=service.unacknowledged,
            spool_bytes=service.spool.bytes_pending if service.spool else 0,
            active_alerts=len(service.alerts.engine.alerts),
            notifications={
                "sent": notifier.sent,
                "retried": notifier.retried,
                "failed": notifier.failed,
                "dropped": notifier.dropped,
            },
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.add_routes([
        web.get("/alerts", list_alerts),
        web.post("/alerts/{alert_id}/ack", acknowledge),
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
    ])  # fmt: skip
    return app


async def serve(service: IngestService, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(_app(service), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
