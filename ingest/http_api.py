"""The ingest service's HTTP API: active alerts and their acknowledgement."""

from __future__ import annotations

import json

from aiohttp import web

from ingest.alerts import AlertService

__all__ = ["serve"]


def _app(alerts: AlertService) -> web.Application:
    async def list_alerts(request: web.Request) -> web.Response:
        return web.json_response(
            {"alerts": alerts.active()}, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def acknowledge(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        by = str(body.get("by", "staff"))[:64] if isinstance(body, dict) else "staff"
        try:
            alert = await alerts.acknowledge(alert_id, by)
        except KeyError:
            return web.json_response({"error": f"no active alert {alert_id!r}"}, status=404)
        return web.json_response({"alert": alert.to_json()})

    app = web.Application()
    app.add_routes(
        [web.get("/alerts", list_alerts), web.post("/alerts/{alert_id}/ack", acknowledge)]
    )
    return app


async def serve(alerts: AlertService, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(_app(alerts), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
