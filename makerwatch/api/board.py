"""The floor board: the page, its live stream (server-sent events), the last hour of
power for its sparklines, and the staff actions on a machine.

The page is one HTML file with its script and style beside it, all served from the
package: no CDN, no build step. Reading is open; each action needs a staff token,
as every action of the HTTP API does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any, Protocol

from aiohttp import web

from makerwatch.api.board_texts import page_texts
from makerwatch.api.floor import Floor
from makerwatch.api.guards import Guard
from makerwatch.api.members import members_page
from makerwatch.core.relay import NoRelay
from makerwatch.core.site_config import LANGUAGES

__all__ = ["BoardService", "NoRelay", "routes"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # a comment line, so proxies keep the stream and a dead page is noticed
RETRY_MS = 2000  # how soon the browser reconnects a lost stream
# A page that stops reading is dropped once this much waits for it beyond what the
# kernel holds (its socket's send buffer is made small too), or when one write waits
# this long: a sleeping tablet or an attacker then costs a bounded few hundred KB.
STREAM_BACKLOG_BYTES = 32 * 1024
STREAM_SEND_BUFFER_BYTES = 32 * 1024
STREAM_WRITE_S = 30.0
RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s
STREAM_REFUSED = {
    "address": (429, "too many floor-board streams from {address} (at most {cap}); close a page"),
    "total": (503, "the server holds its most floor-board streams ({cap}); try again later"),
}
STATIC = files("makerwatch.api") / "static"
STATIC_TYPES = {"board.js": "application/javascript", "board.css": "text/css"}
Handler = Callable[[web.Request], Awaitable[web.Response]]
NEEDS_TOKEN = "a staff token is needed: Authorization: Bearer <token>"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="makerwatch"'}


# Inside a <script> element the HTML parser, not JSON, decides where the element ends:
# "</script" closes it and "<!--<script" makes it swallow the rest of the page. JSON
# may spell any character as \uXXXX, so these are written that way; U+2028/2029 too,
# which older JavaScript parsers take for line ends.
INLINE_ESCAPES = {ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def inline_json(value: object) -> str:
    """JSON safe to place inside an HTML <script> element, whatever its strings hold."""
    return _dumps(value).translate(INLINE_ESCAPES)


class BoardService(Protocol):
    """What the board reads from, and asks of, the running service."""

    floor: Floor

    def wall_ms(self) -> int: ...
    def page_settings(self) -> dict[str, Any]: ...
    async def power_history(self) -> dict[str, list[list[float]]]: ...
    async def identify(self, device: str, by: str) -> None: ...
    async def switch_off(self, device: str, by: str) -> None: ...


def routes(  # noqa: C901 (wall owns api/board.py this session: split it after merging)
    service: BoardService,
    guard: Guard,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    """The board's routes; `staff` names the token's holder or answers the refusal,
    `error` makes an error answer, `guard` caps the streams."""

    async def page(request: web.Request) -> web.Response:
        settings = {**service.page_settings(), "texts": page_texts()}
        html = (STATIC / "board.html").read_text(encoding="utf-8")
        # The settings go in last, so that nothing in them is taken for a placeholder.
        text = html.replace("{{lang}}", settings["language"])
        return web.Response(
            text=text.replace("{{settings}}", inline_json(settings)),
            content_type="text/html",
            charset="utf-8",
        )

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_TYPES:
            raise web.HTTPNotFound()
        return web.Response(
            text=(STATIC / name).read_text(encoding="utf-8"),
            content_type=STATIC_TYPES[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def events(request: web.Request) -> web.StreamResponse:
        address = request.remote or "?"
        refused = guard.streams.take(address)
        if refused is not None:
            guard.streams_refused[refused] += 1
            status, reason = STREAM_REFUSED[refused]
            cap = guard.streams.per_address if refused == "address" else guard.streams.total
            response = error(
                status, reason.format(address=address, cap=cap), **{"Retry-After": "10"}
            )
            response.force_close()  # the connection goes back to the listener's pool
            return response
        try:
            return await stream(request)
        finally:
            guard.streams.release(address)

    async def stream(request: web.Request) -> web.StreamResponse:  # noqa: C901 (wall owns api/board.py this session: split it after merging)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold the stream back
        })  # fmt: skip
        transport = request.transport
        raw = transport.get_extra_info("socket") if transport is not None else None
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER_BYTES)

        async def send(text: str) -> bool:
            """Write to the page; False, the connection reset, if it stopped reading."""
            try:
                await asyncio.wait_for(response.write(text.encode()), STREAM_WRITE_S)
                if transport is None or transport.get_write_buffer_size() <= STREAM_BACKLOG_BYTES:
                    return True
            except TimeoutError:
                pass
            guard.streams_dropped += 1
            log.info("board: dropped the stream to %s, which stopped reading", request.remote)
            if raw is not None:  # reset: closing would leave the unsent rest to the kernel
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            if transport is not None:
                transport.abort()
            return False

        await response.prepare(request)
        queue = service.floor.subscribe()
        try:
            event = f"retry: {RETRY_MS}\n" + service.floor.snapshot(service.wall_ms())
            while await send(event):
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    event = ": still here\n\n"
                if not event:
                    break  # the page fell too far behind: end, it reconnects and resyncs
        except ConnectionResetError:
            pass  # the page went away
        finally:
            service.floor.unsubscribe(queue)
        return response

    async def machines(request: web.Request) -> web.Response:
        """Each machine's tile, as JSON (`makerwatch status`, scripts)."""
        now_ms = service.wall_ms()
        tiles = service.floor.machines(now_ms)
        settings = service.page_settings()  # the site's language and time zone, to show them in
        body = {"now_ms": now_ms, "language": settings["language"],
                "timezone": settings["timezone"], "machines": tiles}  # fmt: skip
        return web.json_response(body, dumps=_dumps)

    async def members(request: web.Request) -> web.Response:
        """The members' page: public, read-only, no person's name (members.py)."""
        settings = service.page_settings()
        language = request.query.get("lang", settings["language"])
        if language not in LANGUAGES:
            language = settings["language"]
        now_ms = service.wall_ms()
        page = members_page(service.floor.machines(now_ms), settings["layout"], settings["site"],
                            settings["timezone"], language, now_ms)  # fmt: skip
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    async def history(request: web.Request) -> web.Response:
        return web.json_response(await service.power_history())

    async def me(request: web.Request) -> web.Response:
        who = staff(request)
        if isinstance(who, web.Response):
            return who
        return web.json_response({"name": who})

    def action(perform: Callable[[str, str], Awaitable[None]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            who = staff(request)
            if isinstance(who, web.Response):
                return who
            device = request.match_info["device"]
            try:
                await perform(device, who)
            except KeyError:
                return error(404, f"no device {device!r}")
            except NoRelay:
                return error(409, f"{device} has no relay to switch it off with")
            return web.json_response({"device": device, "by": who}, status=202)

        return handler

    return [
        web.get("/", page),
        web.get("/board/{name}", static),
        web.get("/board-events", events),
        web.get("/board-history", history),
        web.get("/machines", machines),
        web.get("/members", members),
        web.get("/staff/me", me),
        web.post("/devices/{device}/identify", action(service.identify)),
        web.post("/devices/{device}/off", action(service.switch_off)),
    ]
