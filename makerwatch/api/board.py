"""The floor board: the page, its live stream (server-sent events), the last hour of
power for its sparklines, and the staff actions on a machine.

The page is one HTML file with its script and style beside it, all served from the
package: no CDN, no build step. Reading is open; each action needs a staff token,
as every action of the HTTP API does.

About 430 lines: the board's routes and their handlers; its texts are in
board_texts.py, a machine's page in machine_page.py, the boards' answers in
confirmations.py.
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
from pydantic import ValidationError

from makerwatch.api.board_texts import page_texts
from makerwatch.api.calibration_words import calibration_words
from makerwatch.api.confirmations import BoardAnswer
from makerwatch.api.floor import Floor
from makerwatch.api.guards import Guard
from makerwatch.api.invites import InviteRefused
from makerwatch.api.members import members_page
from makerwatch.core.protocol import CalibrateCommand
from makerwatch.core.relay import NoRelay
from makerwatch.core.site_config import LANGUAGES

__all__ = ["BoardService", "NoRelay", "Refused", "routes"]

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
STATIC_TYPES = {"board.js": "application/javascript", "board.css": "text/css",
                "enrol.js": "application/javascript", "favicon.svg": "image/svg+xml"}  # fmt: skip
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
    def redeem_invite(self, code: str, agent: str) -> tuple[str, str]:
        """(staff name, the phone's own token) for an invite link's code; InviteRefused."""
        ...

    async def identify(self, device: str, by: str) -> BoardAnswer:
        """Blink the board's LED; the board's answer (KeyError: no such device)."""
        ...

    async def switch_off(self, device: str, by: str) -> BoardAnswer:
        """Switch the machine off; the board's answer (KeyError, NoRelay, Refused)."""
        ...

    async def calibrate(self, device: str, by: str, command: CalibrateCommand) -> BoardAnswer:
        """Correct the board's measurement against a known reference (`makerwatch board
        calibrate`); the board's answer (KeyError; Refused where it cannot be)."""
        ...

    async def machine(self, device: str, named: bool = False) -> dict[str, Any]:
        """One machine's page: its tile (the member named when `named`: staff asked),
        today's history, what may be done (KeyError)."""
        ...

    async def snooze(self, alert_id: str, by: str) -> dict[str, Any]:
        """Acknowledge with the chat's "Snooze 1 h"; the alert (KeyError: not active;
        Refused: someone is on it already)."""
        ...

    async def cancel_switch_off(self, alert_id: str, by: str) -> dict[str, Any]:
        """Keep the machine on: its pending remote switch-off will not happen; the alert."""
        ...


class Refused(Exception):
    """The action may not be done on this machine; the message says why, in a line."""


async def _calibration(request: web.Request) -> CalibrateCommand | str:
    """The calibration a request asks for, or why it is not one (a line)."""
    try:
        body = json.loads(await request.read() or b"{}")
        command = CalibrateCommand.model_validate({"v": 1, **body})
    except (ValueError, TypeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(part) for part in first["loc"]) if first else "the body"
        return f"{where}: {first['msg'] if first else exc}"
    if (command.known_w is None) == (command.reference_c is None):
        return 'give one of "known_w" (watts of a load on now) or "reference_c" (degrees)'
    return command


def routes(
    service: BoardService,
    guard: Guard,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    """The board's routes; `staff` names the token's holder or answers the refusal,
    `error` makes an error answer, `guard` caps the streams."""
    board = _Handlers(service, guard, staff, error)
    return [
        web.get("/", board.page),
        web.get("/board/{name}", board.static),
        # Browsers ask for /favicon.ico whatever the page links; an SVG answers them all.
        web.get("/favicon.ico", board.favicon),
        web.get("/board-events", board.events),
        web.get("/board-history", board.history),
        web.get("/machines", board.machines),
        web.get("/machines/{device}", board.machine),
        web.get("/members", board.members),
        web.get("/staff/me", board.me),
        web.post("/staff/sign-in", board.sign_in),
        web.post("/devices/{device}/identify", board.action(service.identify)),
        web.post("/devices/{device}/off", board.action(service.switch_off)),
        web.post("/devices/{device}/calibrate", board.calibrate),
        web.post("/alerts/{alert_id}/snooze", board.alert_action(service.snooze)),
        web.post("/alerts/{alert_id}/cancel-switch-off",
                 board.alert_action(service.cancel_switch_off)),
    ]  # fmt: skip


class _Handlers:
    """The board's request handlers, over the service they read and ask."""

    def __init__(
        self,
        service: BoardService,
        guard: Guard,
        staff: Callable[[web.Request], str | web.Response],
        error: Callable[..., web.Response],
    ) -> None:
        self.service, self.guard, self.staff, self.error = service, guard, staff, error

    async def page(self, request: web.Request) -> web.Response:
        settings = {**self.service.page_settings(), "texts": page_texts()}
        html = (STATIC / "board.html").read_text(encoding="utf-8")
        # The settings go in last, so that nothing in them is taken for a placeholder.
        text = html.replace("{{lang}}", settings["language"])
        return web.Response(
            text=text.replace("{{settings}}", inline_json(settings)),
            content_type="text/html",
            charset="utf-8",
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_TYPES:
            raise web.HTTPNotFound()
        return web.Response(
            text=(STATIC / name).read_text(encoding="utf-8"),
            content_type=STATIC_TYPES[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def favicon(self, request: web.Request) -> web.Response:
        return web.Response(
            text=(STATIC / "favicon.svg").read_text(encoding="utf-8"),
            content_type=STATIC_TYPES["favicon.svg"],
            headers={"Cache-Control": "max-age=86400"},
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        address, guard = request.remote or "?", self.guard
        refused = guard.streams.take(address)
        if refused is not None:
            guard.streams_refused[refused] += 1
            status, reason = STREAM_REFUSED[refused]
            cap = guard.streams.per_address if refused == "address" else guard.streams.total
            response = self.error(
                status, reason.format(address=address, cap=cap), **{"Retry-After": "10"}
            )
            response.force_close()  # the connection goes back to the listener's pool
            return response
        try:
            return await self.stream(request)
        finally:
            guard.streams.release(address)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        page = _PageStream(request, self.guard)
        await page.response.prepare(request)
        floor = self.service.floor
        queue = floor.subscribe()
        try:
            event = f"retry: {RETRY_MS}\n" + floor.snapshot(self.service.wall_ms())
            while await page.send(event):
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    event = ": still here\n\n"
                if not event:
                    break  # the page fell too far behind: end, it reconnects and resyncs
        except ConnectionResetError:
            pass  # the page went away
        finally:
            floor.unsubscribe(queue)
        return page.response

    async def machines(self, request: web.Request) -> web.Response:
        """Each machine's tile, as JSON (`makerwatch status`, scripts)."""
        named = self.named(request)
        if isinstance(named, web.Response):
            return named
        now_ms = self.service.wall_ms()
        tiles = self.service.floor.machines(now_ms, named)
        settings = self.service.page_settings()  # the site's language and time zone
        body = {"now_ms": now_ms, "language": settings["language"],
                "timezone": settings["timezone"], "machines": tiles}  # fmt: skip
        return web.json_response(body, dumps=_dumps)

    async def machine(self, request: web.Request) -> web.Response:
        """One machine's page, as JSON: the board's script draws it."""
        named = self.named(request)
        if isinstance(named, web.Response):
            return named
        device = request.match_info["device"]
        try:
            body = await self.service.machine(device, named)
        except KeyError:
            return self.error(404, f"no device {device!r}")
        return web.json_response(body, dumps=_dumps)

    def named(self, request: web.Request) -> bool | web.Response:
        """Whether to name the members at the machines: only for a staff token (a wrong
        one is refused and spends the address's guesses, as on every staff route)."""
        if "Authorization" not in request.headers:
            return False
        who = self.staff(request)
        return who if isinstance(who, web.Response) else True

    async def members(self, request: web.Request) -> web.Response:
        """The members' page: public, read-only, no person's name (members.py)."""
        settings = self.service.page_settings()
        language = request.query.get("lang", settings["language"])
        if language not in LANGUAGES:
            language = settings["language"]
        now_ms = self.service.wall_ms()
        page = members_page(self.service.floor.machines(now_ms), settings["layout"],
                            settings["site"], settings["timezone"], language, now_ms)  # fmt: skip
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    async def history(self, request: web.Request) -> web.Response:
        return web.json_response(await self.service.power_history())

    async def me(self, request: web.Request) -> web.Response:
        who = self.staff(request)
        if isinstance(who, web.Response):
            return who
        return web.json_response({"name": who})

    async def sign_in(self, request: web.Request) -> web.Response:
        """A phone opened an invite link: its code becomes the phone's own token. A wrong
        code spends the address's budget of guesses, as a wrong token does."""
        address, guard = request.remote or "?", self.guard
        wait_s = guard.guesses.wait_s(address)
        if wait_s:
            guard.tokens_refused += 1
            return web.json_response(  # the page says how long to wait
                {"error": f"too many wrong codes from {address}; try again in {wait_s} s",
                 "retry_after_s": wait_s}, status=429, headers={"Retry-After": str(wait_s)},
            )  # fmt: skip
        code = await _invite_code(request)
        if code is None:
            return self.error(400, 'the body must be {"code": "<the invite link\'s code>"}')
        try:
            name, token = self.service.redeem_invite(code, request.headers.get("User-Agent", ""))
        except InviteRefused as refused:
            guard.wrong_tokens += 1
            guard.guesses.failed(address)
            return self.error(410, str(refused))
        except OSError as exc:  # the phones' file cannot be written (a full disk)
            log.error("board: a phone could not sign in: %s: %s", exc.filename, exc.strerror)
            return self.error(503, f"the server cannot sign a phone in now ({exc.strerror}); "
                                   "the link stays valid: try it again later")  # fmt: skip
        log.info("board: %s signed a phone in from %s with an invite", name, address)
        return web.json_response({"name": name, "token": token}, dumps=_dumps)

    def action(self, perform: Callable[[str, str], Awaitable[BoardAnswer]]) -> Handler:
        """An action on a machine, answered once its board confirmed it (200) or did not
        within ANSWER_WITHIN_S (202: sent, not confirmed)."""

        async def handler(request: web.Request) -> web.Response:
            who = self.staff(request)
            if isinstance(who, web.Response):
                return who
            device = request.match_info["device"]
            try:
                answer = await perform(device, who)
            except KeyError:
                return self.error(404, f"no device {device!r}")
            except NoRelay:
                return self.error(409, f"{device} has no relay to switch it off with")
            except Refused as refused:
                return self.error(409, str(refused))
            return _answered(device, who, answer)

        return handler

    async def calibrate(self, request: web.Request) -> web.Response:
        """Staff calibrate a board from its machine's page: {"known_w": 60} or
        {"reference_c": 25}; 200 applied, 422 refused by the board (its reason), 202
        no answer."""
        who = self.staff(request)
        if isinstance(who, web.Response):
            return who
        device = request.match_info["device"]
        command = await _calibration(request)
        if isinstance(command, str):
            return self.error(400, command)
        try:
            answer = await self.service.calibrate(device, who, command)
        except KeyError:
            return self.error(404, f"no device {device!r}")
        except Refused as refused:
            return self.error(409, str(refused))
        return _answered(device, who, answer)

    def alert_action(self, perform: Callable[[str, str], Awaitable[dict[str, Any]]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            who = self.staff(request)
            if isinstance(who, web.Response):
                return who
            alert_id = request.match_info["alert_id"]
            try:
                alert = await perform(alert_id, who)
            except KeyError:
                return self.error(404, f"no active alert {alert_id!r}")
            except Refused as refused:
                return self.error(409, str(refused))
            return web.json_response({"alert": alert}, dumps=_dumps)

        return handler


def _answered(device: str, by: str, answer: BoardAnswer) -> web.Response:
    """200 when the board confirmed, 422 when it refused (its reason), 202 no answer."""
    status = 200 if answer.confirmed else 422 if answer.refused else 202
    body = {"device": device, "by": by, "confirmed": answer.confirmed, "detail": answer.detail}
    words = calibration_words(answer.detail)
    if words is not None:  # the board's English, said in the page's languages
        body["words"] = words
    return web.json_response(body, status=status, dumps=_dumps)


async def _invite_code(request: web.Request) -> str | None:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code else None


class _PageStream:
    """One page's event stream, dropped (the connection reset) once the page stops
    reading: more than STREAM_BACKLOG_BYTES wait for it, or one write waits
    STREAM_WRITE_S."""

    def __init__(self, request: web.Request, guard: Guard) -> None:
        self.response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold the stream back
        })  # fmt: skip
        self.guard, self.remote = guard, request.remote
        self.transport = request.transport
        transport = self.transport
        self.raw = transport.get_extra_info("socket") if transport is not None else None
        if self.raw is not None:
            self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER_BYTES)

    async def send(self, text: str) -> bool:
        """Write to the page; False, the connection reset, if it stopped reading."""
        transport = self.transport
        try:
            await asyncio.wait_for(self.response.write(text.encode()), STREAM_WRITE_S)
            if transport is None or transport.get_write_buffer_size() <= STREAM_BACKLOG_BYTES:
                return True
        except TimeoutError:
            pass
        self.guard.streams_dropped += 1
        log.info("board: dropped the stream to %s, which stopped reading", self.remote)
        if self.raw is not None:  # reset: closing would leave the unsent rest to the kernel
            self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        if transport is not None:
            transport.abort()
        return False
