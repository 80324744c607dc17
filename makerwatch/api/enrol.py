"""Enrolling a card from the staff phone page (docs/members.md, "Enrolling"): "the next
unknown card tapped at board X is member Y's". Staff only (a staff token), for a site
whose devices read cards. The card is attached by ingest when the tap arrives
(makerwatch/members/access.py); this only says which member and board, for a few
minutes. The page's control is static/enrol.js, beside the board's own script.

    GET  /members/enrol  -> {"members": [{"id", "short"}], "devices": [{"id", "name"}]}
    POST /members/enrol  {"device": "laser-1", "member": 12} -> {"device", "member", "until_ms"}
    GET  /members/enrol/laser-1/12 -> {"state": "waiting" | "enrolled" | "expired", "until_ms"}

The page asks the last every few seconds after its POST, to say "attached" once the tap
enrolled the card, or that the time ran out.
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

    def progress(self, device: str, member: int) -> tuple[str, int]:
        """The enrolment's state (waiting, enrolled, expired) and until when it waits.
        KeyError: no enrolment asked here for that member (or ingest restarted since)."""
        ...


NO_READERS = "no device of this site reads cards (access: log or enforce)"


def routes(
    enrolment: Enrolment | None,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    handlers = _Handlers(enrolment, staff, error)
    return [
        web.get("/members/enrol", handlers.choices),
        web.post("/members/enrol", handlers.enrol),
        web.get("/members/enrol/{device}/{member}", handlers.progress),
    ]


class _Handlers:
    def __init__(
        self,
        enrolment: Enrolment | None,
        staff: Callable[[web.Request], str | web.Response],
        error: Callable[..., web.Response],
    ) -> None:
        self._enrolment = enrolment
        self._staff = staff
        self._error = error

    def _allowed(self, request: web.Request) -> tuple[str, Enrolment] | web.Response:
        """Staff, on a site whose devices read cards: who, and the enrolment."""
        who = self._staff(request)
        if isinstance(who, web.Response):
            return who
        if self._enrolment is None:
            return self._error(404, NO_READERS)
        return who, self._enrolment

    async def choices(self, request: web.Request) -> web.Response:
        allowed = self._allowed(request)
        if isinstance(allowed, web.Response):
            return allowed
        return web.json_response(
            allowed[1].choices(), dumps=lambda v: json.dumps(v, ensure_ascii=False)
        )

    async def enrol(self, request: web.Request) -> web.Response:
        allowed = self._allowed(request)
        if isinstance(allowed, web.Response):
            return allowed
        who, enrolment = allowed
        try:
            body = json.loads((await request.read()).decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._error(400, 'the body must be JSON: {"device": ID, "member": NUMBER}')
        device, member = (
            (body.get("device"), body.get("member")) if isinstance(body, dict) else (None, None)
        )
        if not isinstance(device, str) or type(member) is not int:
            return self._error(
                400,
                'give the device\'s id and the member\'s number: {"device": ID, "member": NUMBER}',
            )
        try:
            until_ms = enrolment.enrol_next(device, member, who)
        except KeyError as exc:
            return self._error(404, str(exc.args[0]))
        return web.json_response({"device": device, "member": member, "until_ms": until_ms})

    async def progress(self, request: web.Request) -> web.Response:
        allowed = self._allowed(request)
        if isinstance(allowed, web.Response):
            return allowed
        member = request.match_info["member"]
        if not member.isdigit():
            return self._error(404, f"no member {member!r}: a member's number")
        try:
            state, until_ms = allowed[1].progress(request.match_info["device"], int(member))
        except KeyError as exc:
            return self._error(404, str(exc.args[0]))
        return web.json_response({"state": state, "until_ms": until_ms})
