"""Tried as someone with one board's password would: nothing a message carries stops
ingest, loses an acknowledged reading, or writes a point for another machine."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import (
    DeadLetters,
    RunningIngest,
    count_points,
    make_config,
    publish,
    start_ingest,
    stored,
    wait_until,
)


def topic(config: SiteConfig, kind: str, device: str = "solder-1") -> str:
    return f"makerspace/{config.site.id}/{device}/{kind}"


async def test_no_message_stops_ingest(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
    dead_letters: DeadLetters,
) -> None:
    """Test that deep nesting, junk on every topic kind and a malformed retained alert are
    dead-lettered or ignored, and the next reading is stored."""
    site = site_config.site.id
    deep = b"[" * 5000 + b"]" * 5000
    attacks: list[tuple[str, bytes | str]] = [
        (topic(site_config, "telemetry"), deep),
        (topic(site_config, "telemetry"), b'{"v":1,"seq":1,"power_w":1,"x":' + deep + b"}"),
        (topic(site_config, "state"), b"\xff\xfe\x00"),
        (topic(site_config, "status"), b"[1]"),
        (topic(site_config, "event"), b"null"),
        (f"makerspace/{site}/alerts/x", b"[1]"),
        (f"makerspace/{site}/alerts/x/ack", b"\xff"),
    ]
    await publish(mosquitto.port, attacks)
    await publish(mosquitto.port, [(f"makerspace/{site}/alerts/y", b'{"v":1}')], retain=True)
    good = json.dumps({"v": 1, "ts": time.time(), "seq": 1, "power_w": 5.0})
    await publish(mosquitto.port, [(topic(site_config, "telemetry"), good)])
    await wait_until(_count_one(influx), "the reading after the attacks")
    assert not ingest.task.done()
    assert dead_letters.reasons() == [
        "too_deep",
        "too_deep",
        "not_utf8",
        "not_object",
        "not_object",
    ]


async def test_a_restart_does_not_crash_on_a_retained_malformed_alert(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that retained junk on the alert topics, redelivered at every start, is ignored."""
    site = site_config.site.id
    await publish(mosquitto.port, [(f"makerspace/{site}/alerts/x", b"[1]"),
                                   (f"makerspace/{site}/alerts/y", b'{"v":1,"alert_id":7}')],
                  retain=True)  # fmt: skip
    for run in range(2):
        ingest = await start_ingest(site_config)
        good = json.dumps({"v": 1, "ts": time.time(), "seq": run, "power_w": 5.0})
        await publish(mosquitto.port, [(topic(site_config, "telemetry"), good)])

        async def stored_run(expected: int = run + 1) -> bool:
            return await count_points(influx) == expected

        await wait_until(stored_run, f"the reading of run {run}")
        assert ingest.service.active_alerts() == []
        await ingest.shutdown()


async def test_readings_without_ts_are_each_stored_once(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, ingest: RunningIngest,
    influx: InfluxClient,
) -> None:  # fmt: skip
    """Test that 300 ts-less readings sent as fast as possible are 300 points, and that the
    same readings delivered again add none."""
    readings = [(topic(site_config, "telemetry"), json.dumps({"v": 1, "seq": s, "power_w": 1.0}))
                for s in range(300)]  # fmt: skip
    await publish(mosquitto.port, readings)

    async def all_stored() -> bool:
        return await count_points(influx) == 300

    await wait_until(all_stored, "300 distinct points")
    await publish(mosquitto.port, readings[:50])  # what a redelivery looks like to ingest
    await wait_until(lambda: ingest.service.counters.messages_stored == 350, "the second copies")
    assert await count_points(influx) == 300


async def test_one_bad_reading_does_not_refuse_its_batch(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, ingest: RunningIngest,
    influx: InfluxClient, dead_letters: DeadLetters,
) -> None:  # fmt: skip
    """Test that a batch of 2,000 with one impossible reading stores 1,999 and dead-letters
    that one reading, whole, with its reason."""
    now = time.time()
    readings: list[dict[str, object]] = [
        {"ts": now - 2000 + i, "seq": i, "power_w": 10.0} for i in range(2000)
    ]
    readings[1234]["power_w"] = 20001
    await publish(mosquitto.port, [(topic(site_config, "telemetry"),
                                    json.dumps({"v": 1, "readings": readings}))])  # fmt: skip

    async def stored_rest() -> bool:
        return await count_points(influx) == 1999

    await wait_until(stored_rest, "1,999 readings")
    [letter] = dead_letters.records
    assert letter["reason"] == "schema"
    assert json.loads(letter["payload"]) == readings[1234]
    assert "readings.1234: power_w" in letter["error"]


async def test_retained_readings_without_ts_are_stored_once(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that retained ts-less telemetry and a last will are stored once, not at every start."""
    await publish(mosquitto.port, [
        (topic(site_config, "telemetry"), json.dumps({"v": 1, "seq": 1, "power_w": 3.0})),
        (topic(site_config, "status", "printer-1"), json.dumps({"v": 1, "online": False})),
    ], retain=True)  # fmt: skip
    for run in range(3):
        ingest = await start_ingest(site_config)
        live = json.dumps({"v": 1, "ts": time.time(), "seq": 10 + run, "power_w": 9.0})
        await publish(mosquitto.port, [(topic(site_config, "telemetry", "printer-1"), live)])

        async def live_stored(expected: int = run + 1) -> bool:
            rows = await stored(
                influx, "SELECT count(seq) FROM telemetry WHERE device = 'printer-1'"
            )
            return bool(rows) and rows[0]["count"] == expected

        await wait_until(live_stored, f"run {run}'s live reading")
        await ingest.shutdown()
    rows = await stored(influx, "SELECT count(seq) FROM telemetry WHERE device = 'solder-1'")
    assert rows == [] or rows[0]["count"] == 0, "retained before any ingest saw it live: not stored"
    statuses = await stored(influx, "SELECT count(online) FROM device_status")
    assert statuses == [] or statuses[0]["count"] == 0


async def test_an_event_cannot_forge_a_point_for_another_machine(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, ingest: RunningIngest,
    influx: InfluxClient, dead_letters: DeadLetters,
) -> None:  # fmt: skip
    """Test that an event detail carrying line breaks and a line for another device is refused,
    and no point for that device exists."""
    site = site_config.site.id
    forged = f"x\n\ntelemetry,device=printer-1,site={site} power_w=999.0 {time.time_ns()}\n\n"
    await publish(mosquitto.port, [
        (topic(site_config, "event"), json.dumps({"v": 1, "event": "button", "detail": forged})),
        (topic(site_config, "event"), json.dumps({"v": 1, "event": "relay", "reason": "a\rb"})),
    ])  # fmt: skip
    await wait_until(lambda: len(dead_letters.records) == 2, "both refused")
    assert dead_letters.reasons() == ["schema", "schema"]
    assert await stored(influx, "SELECT * FROM telemetry") == []


async def test_a_fault_of_ours_is_a_dead_letter_not_a_crash(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, ingest: RunningIngest,
    influx: InfluxClient, dead_letters: DeadLetters, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Test that an unexpected exception while handling one message becomes an internal_error
    dead letter naming the exception, and the next message is stored."""
    decoder = ingest.service.decoder
    real = decoder.decode

    def faulty(topic_: str, payload: bytes, retained: bool = False):  # type: ignore[no-untyped-def]
        if b"boom" in payload:
            raise RuntimeError("a bug")
        return real(topic_, payload, retained)

    monkeypatch.setattr(decoder, "decode", faulty)
    now = time.time()
    await publish(mosquitto.port, [
        (topic(site_config, "telemetry"), json.dumps({"v": 1, "seq": 1, "power_w": 1, "boom": 1})),
        (topic(site_config, "telemetry"), json.dumps({"v": 1, "ts": now, "seq": 2, "power_w": 2.0})),
    ])  # fmt: skip
    await wait_until(_count_one(influx), "the next reading")
    [letter] = dead_letters.records
    assert letter["reason"] == "internal_error"
    assert "RuntimeError: a bug" in letter["error"]
    # Counted once acknowledged, a moment after InfluxDB has the point.
    await wait_until(lambda: ingest.service.counters.messages_stored == 1, "the reading counted")


def _count_one(influx: InfluxClient) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await count_points(influx) == 1

    return check


@pytest.fixture
async def influxdb_refusing_writes(influxdb: EmbeddedInfluxDB) -> AsyncIterator[str]:
    """InfluxDB that answers ping and queries but 500 to every write: a sick database."""

    async def forward(request: web.Request) -> web.Response:
        if request.path == "/write":
            return web.json_response({"error": "engine: disk is sick"}, status=500)
        async with httpx.AsyncClient(base_url=influxdb.url) as http:
            answer = await http.request(request.method, request.path, params=dict(request.query),
                                        content=await request.read(),
                                        headers={"Content-Type": request.content_type})  # fmt: skip
        return web.Response(status=answer.status_code, body=answer.content,
                            content_type=answer.headers.get("Content-Type", "").split(";")[0] or None)  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_healthz_says_unhealthy_while_influxdb_refuses_writes(
    mosquitto: EmbeddedMosquitto, influxdb_refusing_writes: str
) -> None:
    """Test that /healthz answers 503 and names the error while InfluxDB answers ping but fails writes."""
    http_port = free_port()
    config = make_config(mosquitto.port, influxdb_refusing_writes, http_port=http_port)
    ingest = await start_ingest(config)
    try:
        reading = json.dumps({"v": 1, "ts": time.time(), "seq": 1, "power_w": 1.0})
        await publish(mosquitto.port, [(topic(config, "telemetry"), reading)])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:

            async def unhealthy() -> bool:
                response = await http.get("/healthz")
                return response.status_code == 503 and "disk is sick" in response.json().get(
                    "influxdb_error", ""
                )

            await wait_until(unhealthy, "/healthz to report the failing writes")
            health = (await http.get("/healthz")).json()
        assert health["influxdb_reachable"] is True
        assert health["influxdb_writable"] is False
        assert ingest.service.counters.messages_stored == 0
    finally:
        await ingest.shutdown()
