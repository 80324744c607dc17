"""Enrolling a card from the staff phone page (docs/members.md, "Enrolling"): "the next
unknown card tapped at board X is member Y's". Staff only (a staff token), for a site
whose devices read cards. The card is attached by ingest when the tap arrives
(makerwatch/members/access.py); this only says which member and board, for a few
minutes. The page's control is static/enrol.js, beside the board's own script.

    GET  /members/enrol  -> {"members": [{"id", "short"}], "devices": [{"id", "name"}]}
    POST /members/enrol  {"device": "laser-1", "member": 12} -> {"device", "member", "until_ms"}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

__all__ = ["Enrolment", "routes"]


class Enrolment(Protocol):
    def choices(self) -> dict[str, list[dict[str, Any]]]:
        """The members (number, short name) and the devices that read cards."""
        ...

    def enrol_next(self, device: str, member: int, by: str) -> int:
        """Wait for the next unknown card at `device` for `member`; until when (epoch ms).
        KeyError names a device or member that is not there."""
        ...


def routes(
    enrolment: Enrolment | None,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    async def choices(request: web.Request) -> web.Response:
        who = staff(request)
        if isinstance(who, web.Response):
            return who
        if enrolment is None:
            return error(404, "no device of this site reads cards (access: log or enforce)")
        return web.json_response(
            enrolment.choices(), dumps=lambda v: json.dumps(v, ensure_ascii=False)
        )

    async def enrol(request: web.Request) -> web.Response:
        who = staff(request)
        if isinstance(who, web.Response):
            return who
        if enrolment is None:
            return error(404, "no device of this site reads cards (access: log or enforce)")
        try:
            body = json.loads((await request.read()).decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return error(400, 'the body must be JSON: {"device": ID, "member": NUMBER}')
        device, member = (
            (body.get("device"), body.get("member")) if isinstance(body, dict) else (None, None)
        )
        if not isinstance(device, str) or type(member) is not int:
            return error(
                400,
                'give the device\'s id and the member\'s number: {"device": ID, "member": NUMBER}',
            )
        try:
            until_ms = enrolment.enrol_next(device, member, who)
        except KeyError as exc:
            return error(404, str(exc.args[0]))
        return web.json_response({"device": device, "member": member, "until_ms": until_ms})

    return [web.get("/members/enrol", choices), web.post("/members/enrol", enrol)]
