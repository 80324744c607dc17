"""No false alarms: ingest restarts and broker outages while every board reports send
nothing; a board that really falls silent sends exactly one message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import aiomqtt
import pytest

import makerwatch.alerts.service
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.alerts.conftest import Receiver
from tests.support import RunningIngest, make_config, publish, start_ingest, stored, wait_until

PERIOD_S = 1.0  # the printers' telemetry period: no_data after 3 s of silence


class Boards:
    """Two boards reporting every half period, until told to stop; reconnecting when the broker is away."""

    def __init__(self, config: SiteConfig, port: int) -> None:
        self.config, self.port = config, port
        self.silent: set[str] = set()
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        seq = 0
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                async with aiomqtt.Client("127.0.0.1", self.port, timeout=2,
                                          protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
                    while True:
                        for device in ("printer-1", "solder-1"):
                            if device in self.silent:
                                continue
                            body = {"v": 1, "ts": time.time(), "seq": seq, "power_w": 80.0}
                            topic = f"makerspace/{self.config.site.id}/{device}/telemetry"
                            await client.publish(topic, json.dumps(body), qos=1)
                            self.sent += 1
                        seq += 1
                        await asyncio.sleep(PERIOD_S / 2)  # the boards' own reporting pace
            await asyncio.sleep(0.2)  # a board's reconnect pause


def listened_for(ingest: RunningIngest, ms: int) -> bool:
    """Has ingest's alert clock been listening (caught up with the broker) for `ms`?"""
    alerts = ingest.service.alerts
    since = alerts.engine.listening_since_ms if alerts else None
    return since is not None and (alerts.engine.live_ms or 0) - since >= ms  # type: ignore[union-attr]


# Two restarts, an outage of three limits and three limits of silence, each waited for
# on real daemons: about 45 s alone, more beside another worker's stack.
@pytest.mark.timeout(300)
async def test_restarts_and_outages_send_nothing_and_real_silence_sends_one(
    tmp_path: Path, own_influxdb: EmbeddedInfluxDB, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Test two ingest restarts and a broker outage three times the no_data limit while both
    boards report: zero notifications; then a board really silent: exactly one."""
    monkeypatch.setattr(makerwatch.alerts.service, "TICK_S", 0.2)
    limit_ms = int(3 * PERIOD_S * 1000)
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto") as broker:
        base = make_config(broker.port, own_influxdb.url, alerts={
            "rules": [{"rule": "no_data", "devices": ["printer-1", "solder-1"], "after_periods": 3}],
            "channels": [{"name": "staff", "url": receiver.url("staff")}],
        })  # fmt: skip
        devices = [d.model_copy(update={"telemetry_period_s": PERIOD_S}) for d in base.devices]
        config = base.model_copy(update={"devices": devices})
        boards = Boards(config, broker.port)
        boards.start()
        try:
            ingest = await start_ingest(config)
            for restart in range(2):
                await wait_until(lambda: listened_for(ingest, 2 * limit_ms),  # noqa: B023
                                 f"two limits of listening before restart {restart}")  # fmt: skip
                await ingest.shutdown()
                ingest = await start_ingest(config)
            broker.stop()
            outage_from = time.monotonic()
            await wait_until(lambda: time.monotonic() - outage_from > 3 * limit_ms / 1000,
                             "an outage of three no_data limits")  # fmt: skip
            broker.start()
            await wait_until(lambda: listened_for(ingest, 2 * limit_ms),
                             "two limits of listening after the outage")  # fmt: skip
            assert receiver.on("staff") == [], "no false alarm"

            boards.silent.add("printer-1")
            await wait_until(lambda: len(receiver.on("staff")) == 1, "one no_data message")
            alerts = ingest.service.alerts
            assert alerts is not None
            silent_until = (alerts.engine.live_ms or 0) + 3 * limit_ms
            await wait_until(lambda: (alerts.engine.live_ms or 0) >= silent_until,
                             "three more limits of silence")  # fmt: skip
            [message] = receiver.on("staff")
            assert 'Prusa "MK4"' in message["message"]
            assert len(receiver.on("staff")) == 1, "exactly one"
            await ingest.shutdown()
        finally:
            await boards.stop()


async def test_a_board_that_died_while_ingest_was_away_is_known_offline_after_it_starts(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB, receiver: Receiver
) -> None:
    """Test that a retained last will (no board time) is not stored again at start, yet the
    alerts learn from it: a machine left on whose board went offline fires offline_while_on."""
    config = make_config(mosquitto.port, own_influxdb.url, alerts={
        "rules": [{"rule": "offline_while_on", "devices": ["solder-1"]}],
        "channels": [{"name": "staff", "url": receiver.url("staff")}],
    })  # fmt: skip
    site = config.site.id
    state = {"v": 1, "ts": time.time() - 300, "state": "active", "previous": "off"}
    await publish(mosquitto.port, [
        (f"makerspace/{site}/solder-1/state", json.dumps(state)),
        (f"makerspace/{site}/solder-1/status", json.dumps({"v": 1, "online": False})),
    ], retain=True)  # fmt: skip
    ingest = await start_ingest(config)
    try:
        await wait_until(lambda: len(receiver.on("staff")) == 1, "the offline alert")
        assert "связь потеряна" in receiver.on("staff")[0]["message"]
    finally:
        await ingest.shutdown()
    async with InfluxClient(config.influxdb) as influx:
        assert await stored(influx, "SELECT * FROM device_status") == []
