"""The HTTP API: active alerts and their acknowledgement, health, metrics, the floor
board (makerwatch/api/board.py) and the read-only sponsor page (usage figures and
charts, nothing operational).

Reading is open; every action needs a staff token from the site file
(`Authorization: Bearer <token>`), and the person it names is who acted. Wrong tokens
are logged with the address they came from, counted, and limited per address
(makerwatch/api/guards.py). It sees the running service only through `Status`, so it
imports no other feature.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler as Next

from makerwatch.api.board import CHALLENGE, NEEDS_TOKEN, BoardService, routes
from makerwatch.api.enrol import Enrolment
from makerwatch.api.enrol import routes as enrol_routes
from makerwatch.api.guards import Guard
from makerwatch.api.listener import Limits, listen
from makerwatch.api.maintenance import MaintenanceService
from makerwatch.api.maintenance import routes as maintenance_routes
from makerwatch.api.metric_source import MetricSource
from makerwatch.core.errors import ConfigError

__all__ = ["Conflict", "Status", "serve"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]
# Who a request's staff token names, or the answer refusing it.
Staff = Callable[[web.Request], "str | web.Response"]


class Conflict(Exception):
    """The action cannot be done as asked (409); the message says why, for people."""

    def __init__(self, message: str, alert: dict[str, Any]) -> None:
        super().__init__(message)
        self.alert = alert


class Reply(Protocol):
    """An answer made elsewhere (the sponsor page): sent as it is."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]
    error: str  # an error's one-line reason ("" when none), for a client asking for JSON


class Status(MetricSource, MaintenanceService, Protocol):
    """What the HTTP API reads from, and asks of, the running service."""

    @property
    def board(self) -> BoardService: ...
    @property
    def enrolment(self) -> Enrolment | None: ...

    async def health(self) -> dict[str, object]: ...
    async def acknowledge(
        self, alert_id: str, by: str, cancel_auto_off: bool
    ) -> dict[str, Any]: ...
    def staff_named_by(self, token: str) -> str | None: ...
    async def sponsor_page(self, query: Mapping[str, str], accept_language: str) -> Reply:
        """/sponsors for these query parameters: the page, a download or an error page."""
        ...


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _staff(service: Status, guard: Guard, request: web.Request) -> str | web.Response:
    """The staff member the request's bearer token names, or the answer refusing it: 401
    without a token or with a wrong one, 429 while its address has guessed too often
    (the token is then not even compared, so guessing on cannot find one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, NEEDS_TOKEN, **CHALLENGE)
    address = request.remote or "?"
    wait_s = guard.guesses.wait_s(address)
    if wait_s:
        guard.tokens_refused += 1
        return web.json_response(
            {"error": f"too many wrong staff tokens from {address}; try again in {wait_s} s",
             "retry_after_s": wait_s},
            status=429, headers={"Retry-After": str(wait_s)},
        )  # fmt: skip
    name = service.staff_named_by(token.strip())
    if name is None:
        guard.wrong_tokens += 1
        left = guard.guesses.failed(address)
        log.warning("HTTP: wrong staff token from %s (%s %r); %d more before a pause",
                    address, request.method, request.raw_path[:100], left)  # fmt: skip
        return _error(401, "this staff token is not known", **CHALLENGE)
    return name


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object (empty when there is no body), or a 400 saying why."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "the body is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return _error(400, f"the body is not JSON: {exc.msg} at character {exc.pos}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    return body


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


# The most any request's body may be (aiohttp's own default, said here to be named in
# the refusal): every body the API takes is a small JSON object.
MAX_BODY_BYTES = 1024 * 1024


@web.middleware
async def _body_too_large(request: web.Request, handler: Next) -> web.StreamResponse:
    """A body over MAX_BODY_BYTES is refused as every error is: a one-line JSON reason."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"the body is over {MAX_BODY_BYTES} bytes; the API takes small JSON")


def _acknowledge(service: Status, staff: Staff) -> Handler:
    """POST /alerts/{alert_id}/ack: who is on it (a staff token), and whether the remote
    switch-off it would send is cancelled."""

    async def acknowledge(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        by = staff(request)
        if isinstance(by, web.Response):
            return by
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        cancel = body.get("cancel_auto_off", False)
        if not isinstance(cancel, bool):
            return _error(400, "cancel_auto_off must be true or false")
        try:
            alert = await service.acknowledge(alert_id, by, cancel)
        except KeyError:
            return web.json_response({"error": f"no active alert {alert_id!r}"}, status=404)
        except Conflict as conflict:
            return web.json_response(
                {"error": str(conflict), "alert": conflict.alert}, status=409, dumps=_dumps
            )
        return web.json_response({"alert": alert}, dumps=_dumps)

    return acknowledge


def _sponsors(service: Status) -> Handler:
    """GET /sponsors: the page, a download, or an error page (JSON to a script)."""

    async def sponsors(request: web.Request) -> web.Response:
        reply = await service.sponsor_page(
            request.query, request.headers.get("Accept-Language", "")
        )
        if reply.error and "text/html" not in request.headers.get("Accept", ""):
            return _error(reply.status, reply.error)  # a script asked: the reason as JSON
        return web.Response(
            body=reply.body,
            status=reply.status,
            content_type=reply.content_type,
            charset="utf-8" if reply.content_type.startswith("text/") else None,
            headers=reply.headers,
        )

    return sponsors


def _app(service: Status, guard: Guard, connections: Limits) -> web.Application:
    def staff(request: web.Request) -> str | web.Response:
        return _staff(service, guard, request)

    async def list_alerts(request: web.Request) -> web.Response:
        return web.json_response({"alerts": service.active_alerts()}, dumps=_dumps)

    async def healthz(request: web.Request) -> web.Response:
        health = await service.health()
        return web.json_response(health, status=200 if health["healthy"] else 503)

    async def metrics(request: web.Request) -> web.Response:
        # prometheus_client (1.5 MB) is loaded at the first scrape: many sites never scrape.
        from makerwatch.api.metrics import CONTENT_TYPE_LATEST, render

        response = web.Response(body=render(service, guard, connections))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def end_streams(app: web.Application) -> None:
        service.board.floor.close()  # open board streams would hold the shutdown for a minute

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_body_too_large])
    app.on_shutdown.append(end_streams)
    app.add_routes([
        web.get("/alerts", list_alerts),
        web.post("/alerts/{alert_id}/ack", _acknowledge(service, staff)),
        web.get("/sponsors", _sponsors(service)),
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
        *routes(service.board, guard, staff, _error),
        *enrol_routes(service.enrolment, staff, _error),
        *maintenance_routes(service, staff, _error),
    ])  # fmt: skip
    return app


def server_tls(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """HTTPS with this certificate (PEM, with its chain) and key, None for neither; one
    line if only one is set or they do not load."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise ConfigError("ingest.http_certfile and ingest.http_keyfile go together: set both")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"ingest.http_certfile {certfile}, http_keyfile {keyfile}: cannot load: {exc}"
        ) from exc
    return context


async def serve(
    service: Status, host: str, port: int, tls: ssl.SSLContext | None = None
) -> Callable[[], Awaitable[None]]:
    """Serve the API (HTTPS only, with `tls`); returns how to stop it."""
    guard, connections = Guard(), Limits()
    return await listen(_app(service, guard, connections), host, port, connections, tls)
