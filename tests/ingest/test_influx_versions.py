"""The InfluxDB a site already runs: every request the client makes, against stand-ins
for the v1 compatibility API of InfluxDB 2.x and 3.x as their documentation describes
it (token authentication, no CREATE DATABASE, /ping's answer), over real HTTP.

These are recorded-request stand-ins, not the servers: docs/configuration.md says what
is not tested against a real 2.x or 3.x.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from makerwatch.core.site_config import InfluxSettings
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient, MissingDatabaseError
from makerwatch.ops.embedded import EmbeddedMosquitto, free_port
from tests.support import make_config, start_ingest

TOKEN = "s3cr3t-T0ken=="


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: str


@dataclass
class StandIn:
    """InfluxDB `version` ("2" or "3") with `databases` (2.x: mapped buckets)."""

    version: str
    databases: set[str]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        form = (
            dict(await request.post()) if request.content_type.endswith("form-urlencoded") else {}
        )
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      {k: str(v) for k, v in form.items()}, dict(request.headers), body))  # fmt: skip
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return web.json_response(
                {"code": "unauthorized", "message": "unauthorized access"}, status=401
            )
        if request.path == "/ping":
            if self.version == "3":  # 3.x: 200 with its version
                return web.json_response({"version": "3.0.0", "revision": "stand-in"})
            return web.Response(status=204)
        if request.path == "/write":
            db = request.query.get("db", "")
            if db not in self.databases:
                if self.version == "3":  # 3.x creates a database on its first write
                    self.databases.add(db)
                else:
                    message = f'bucket "{db}/autogen" not found'
                    return web.json_response({"code": "not found", "message": message}, status=404)
            return web.Response(status=204)
        if request.path == "/query":
            q = form.get("q") or request.query.get("q", "")
            if q.upper().startswith("CREATE DATABASE"):
                # Neither serves CREATE DATABASE: 2.x maps buckets, 3.x has its own command.
                return web.json_response(
                    {"results": [{"statement_id": 0, "error": "not implemented: CREATE DATABASE"}]}
                )
            if q == "SHOW DATABASES":
                values = [[name] for name in sorted(self.databases)]
                series = [{"name": "databases", "columns": ["name"], "values": values}]
                return web.json_response({"results": [{"statement_id": 0, "series": series}]})
            return web.json_response({"results": [{"statement_id": 0}]})
        return web.json_response({"code": "not found", "message": "path not found"}, status=404)


@pytest.fixture(params=["2", "3"], ids=["influxdb-2", "influxdb-3"])
async def stand_in(request: pytest.FixtureRequest) -> AsyncIterator[StandIn]:
    server = StandIn(request.param, {"makerwatch"})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


def settings(server: StandIn, **changes: object) -> InfluxSettings:
    return InfluxSettings(url=server.url, token=TOKEN).model_copy(update=changes)


async def test_every_request_carries_the_token_in_the_shape_the_v1_api_takes(
    stand_in: StandIn,
) -> None:
    """Test ping, the database check, a write and a query: each with `Authorization: Token`,
    nothing secret in the URL, the write as line protocol with db and ns precision, the
    query with db, q and epoch=ms."""
    async with InfluxClient(settings(stand_in)) as influx:
        assert await influx.ping_error() is None
        await influx.ensure_database()
        await influx.write(["telemetry,device=solder-1 power_w=5 1700000000000000000"])
        assert await influx.query("SELECT power_w FROM telemetry") == []
    assert all(r.headers["Authorization"] == f"Token {TOKEN}" for r in stand_in.requests)
    assert all(
        not {"u", "p"} & set(r.query) and TOKEN not in json.dumps(r.query)
        for r in stand_in.requests
    )
    shapes = [(r.method, r.path) for r in stand_in.requests]
    assert shapes == [
        ("GET", "/ping"),
        ("POST", "/query"),
        ("GET", "/query"),
        ("POST", "/write"),
        ("GET", "/query"),
    ]
    create, show, write, select = stand_in.requests[1:]
    assert create.form == {"db": "makerwatch", "q": 'CREATE DATABASE "makerwatch"', "epoch": "ms"}
    assert show.query == {"db": "makerwatch", "q": "SHOW DATABASES", "epoch": "ms"}
    assert write.query == {"db": "makerwatch", "precision": "ns"}
    assert write.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert write.body == "telemetry,device=solder-1 power_w=5 1700000000000000000"
    assert select.query == {"db": "makerwatch", "q": "SELECT power_w FROM telemetry", "epoch": "ms"}


async def test_a_1x_user_and_password_go_as_basic_auth_in_a_header(stand_in: StandIn) -> None:
    """Test that a 1.x user and password reach the server as `Authorization: Basic`, never
    as the v1 API's `u` and `p` URL parameters, which proxies and logs keep."""
    with_user = InfluxSettings(url=stand_in.url, username="ingest", password="pä ss:wörd")
    async with InfluxClient(with_user) as influx:
        await influx.ping_error()
        with pytest.raises(SinkError):
            await influx.write(["m f=1i 1"])
    basic = "Basic " + base64.b64encode("ingest:pä ss:wörd".encode()).decode()
    assert [r.headers["Authorization"] for r in stand_in.requests] == [basic, basic]
    assert all(not {"u", "p"} & set(r.query) for r in stand_in.requests)


async def test_a_missing_database_says_in_one_line_how_to_create_it(stand_in: StandIn) -> None:
    """Test that a database the server lacks (and cannot create by InfluxQL) is one line
    naming it and the commands for 2.x (bucket and DBRP mapping) and 3.x."""
    stand_in.databases.clear()
    async with InfluxClient(settings(stand_in)) as influx:
        with pytest.raises(MissingDatabaseError) as caught:
            await influx.ensure_database()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"InfluxDB at {stand_in.url} has no database 'makerwatch'")
    assert "`influx bucket create -n makerwatch`" in message
    assert (
        "`influx v1 dbrp create --db makerwatch --rp autogen --bucket-id BUCKET_ID --default`"
        in message
    )
    assert "`influxdb3 create database makerwatch`" in message


async def test_a_wrong_token_is_a_sink_error_naming_the_answer(stand_in: StandIn) -> None:
    """Test that a refused token reads as InfluxDB's 401, and the ping names it too."""
    async with InfluxClient(settings(stand_in, token="wrong")) as influx:
        with pytest.raises(SinkError, match="answered 401: unauthorized access"):
            await influx.write(["m f=1i 1"])
        assert await influx.ping_error() == "/ping answered 401"


async def test_ingest_says_at_start_how_to_create_the_database(
    stand_in: StandIn, mosquitto: EmbeddedMosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that ingest started against a server without its database logs the how-to line."""
    stand_in.databases.clear()
    config = make_config(mosquitto.port, stand_in.url)
    config = config.model_copy(
        update={"influxdb": config.influxdb.model_copy(update={"token": TOKEN})}
    )
    caplog.set_level(logging.ERROR)
    running = await start_ingest(config)
    await running.shutdown()
    database = config.influxdb.database
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"InfluxDB at {stand_in.url} has no database {database!r}" in "\n".join(lines)
