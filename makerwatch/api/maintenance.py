"""A machine's maintenance over HTTP, for the machine page and the staff phone page:

GET  /machines/{device}/maintenance              its tasks: use since each was last
                                                 done, whether due, by whom and when
POST /machines/{device}/maintenance/{task}/done  record it done (a staff token: the
                                                 person it names is who did it)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

__all__ = ["MaintenanceService", "routes"]


class MaintenanceService(Protocol):
    def maintenance(self, device_id: str) -> list[dict[str, Any]]:
        """The device's tasks; KeyError for a device not in the site file."""
        ...

    async def maintenance_done(self, device_id: str, task: str, by: str) -> list[dict[str, Any]]:
        """Record the task done; its tasks after. KeyError (saying what) for no such task."""
        ...


def routes(
    service: MaintenanceService,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    def answer(device: str, tasks: list[dict[str, Any]]) -> web.Response:
        body = {"device": device, "tasks": tasks}
        return web.json_response(body, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def tasks(request: web.Request) -> web.Response:
        device = request.match_info["device"]
        try:
            return answer(device, service.maintenance(device))
        except KeyError:
            return error(404, f"no device {device!r}")

    async def done(request: web.Request) -> web.Response:
        by = staff(request)
        if isinstance(by, web.Response):
            return by
        device, task = request.match_info["device"], request.match_info["task"]
        try:
            return answer(device, await service.maintenance_done(device, task, by))
        except KeyError as exc:
            return error(404, str(exc.args[0]) if exc.args else f"no task {task!r}")

    return [
        web.get("/machines/{device}/maintenance", tasks),
        web.post("/machines/{device}/maintenance/{task}/done", done),
    ]
