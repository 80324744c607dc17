"""The whole board program, unchanged, under real MicroPython 1.27 (the WebAssembly port on
Node), against the real Mosquitto, ingest and InfluxDB: tests/firmware/micropython_board.mjs
bridges its socket to a real TCP connection; only `machine`, `network` and `ntptime` are
stand-ins (tests/firmware/mp_host)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.core import mqtt
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.source import RECONNECT_MAX_MS
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.firmware.board import BrokerTap, board_settings, recording, saved_ns, stored_in_order
from tests.firmware.conftest import Site
from tests.firmware.test_day_under_micropython import ESP32_HEAP_BYTES
from tests.support import ROOT, RunningIngest, publish, start_ingest, stored, wait_until

RUNNER = ROOT / "tests" / "firmware" / "micropython_board.mjs"


@dataclass
class MicroPythonBoard:
    folder: Path
    process: asyncio.subprocess.Process
    result: dict[str, Any] | None = None
    output: str = ""  # what the board printed (its console)

    def world(self, **values: object) -> None:
        path = self.folder / "world.json"
        world = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**world, **values}))

    def agent(self) -> dict[str, int]:
        """Readings waiting in the board's buffer and taken so far, and taps waiting to be sent
        (empty before the first step)."""
        try:
            held: dict[str, int] = json.loads((self.folder / "agent.json").read_text())
        except (OSError, ValueError):
            return {}
        return held

    def pins(self) -> dict[str, int]:
        try:
            pins: dict[str, int] = json.loads((self.folder / "pins.json").read_text())
        except (OSError, ValueError):
            return {}
        return pins


@contextlib.asynccontextmanager
async def micropython_board(
    folder: Path, settings: dict[str, Any], seconds: int = 120
) -> AsyncIterator[MicroPythonBoard]:
    """The board program running under MicroPython until the block ends (then it loses power),
    or `seconds` have passed."""
    (folder / "settings.json").write_text(json.dumps(settings))
    process = await asyncio.create_subprocess_exec(
        "node", str(RUNNER), str(folder), str(seconds), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    board = MicroPythonBoard(folder, process)
    board.world(current_a=0.0)
    try:
        yield board
    finally:
        board.world(stop=True)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        board.output = output.decode()
        lines = [x for x in output.decode().splitlines() if x.startswith("RESULT:")]
        assert lines, output.decode()[-3000:]
        board.result = json.loads(lines[-1].removeprefix("RESULT:"))


def micropython_settings(site: Site, port: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The board's settings, for the site's broker or another port in front of it."""
    port = site.mosquitto.port if port is None else port
    return board_settings(site.id, port, temp_sensor="none", **overrides)


async def _count(influx: InfluxClient, expected: int) -> bool:
    rows = await stored(influx, "SELECT count(seq) FROM telemetry")
    return bool(rows) and rows[0]["count"] == expected


async def test_the_board_program_runs_under_micropython_end_to_end(
    tmp_path: Path, site: Site
) -> None:
    """Test birth and last will, readings and state stored through ingest, relay and identify
    commands reaching the pins, a retained config applied live, and a malformed command refused
    without stopping the loop; and what the board holds live against an ESP32's heap."""
    port = site.mosquitto.port
    settings = micropython_settings(site, allow_remote_on=True)
    async with recording(port, site.id, "mp-recorder") as recorder:
        async with micropython_board(tmp_path, settings) as board:
            board.world(current_a=0.2)  # 44 W: soldering
            await wait_until(lambda: recorder.of("status"), "the birth message", within_s=30)
            assert recorder.of("status")[0]["online"] is True
            await wait_until(lambda: len(recorder.readings()) >= 3, "readings", within_s=30)
            cmd = f"makerspace/{site.id}/solder-1/cmd/"
            await publish(port, [(cmd + "relay", '{"v":1,"on":true}'), (cmd + "relay", '{"v":1}'),
                                 (cmd + "identify", '{"v":1,"seconds":2}')])  # fmt: skip
            await wait_until(lambda: board.pins().get("26") == 1, "the relay pin on")
            await wait_until(lambda: board.pins().get("2") == 0 or board.pins().get("2") == 1,
                             "the LED driven")  # fmt: skip
            await publish(port, [(cmd + "relay", '{"v":1,"on":false,"reason":"left_on"}')])
            await wait_until(lambda: board.pins().get("26") == 0, "the relay pin off")
            config = f"makerspace/{site.id}/solder-1/config"
            await publish(port, [(config, '{"v":1,"telemetry_period_s":2}')], retain=True)
            await wait_until(
                lambda: any(e["event"] == "config_applied" for e in recorder.of("event")),
                "the config applied",
            )
            await publish(port, [(config, '{"v":1,"telemetry_period_s":0}')], retain=True)
            await wait_until(
                lambda: any("telemetry_period_s" in e.get("detail", "") for e in recorder.of("event")
                            if e["event"] == "config_rejected"),
                "the bad config refused",
            )  # fmt: skip
            seen = len(recorder.readings())
            await wait_until(lambda: len(recorder.readings()) >= seen + 2, "readings go on")
        await wait_until(lambda: recorder.of("status")[-1]["online"] is False, "the last will")
        sent = len(recorder.readings())
        await wait_until(lambda: _count(site.influx, sent), "every reading stored", within_s=30)
    events = recorder.of("event")
    assert [(e["relay_on"], e["reason"]) for e in events if e["event"] == "relay"] == [
        (True, "command"), (False, "left_on")]  # fmt: skip
    assert any(e["event"] == "config_rejected" and "cmd/relay" in e["detail"] for e in events)
    assert [e["detail"] for e in events if e["event"] == "identify"] == ["blinking 2 s"]
    rows = await stored(site.influx, "SELECT seq FROM telemetry ORDER BY time")
    assert [r["seq"] for r in rows] == list(range(sent))
    assert recorder.invalid == []
    assert board.result is not None
    assert str(board.result["implementation"]).startswith("micropython")
    assert board.result["peak_live_bytes"] < ESP32_HEAP_BYTES // 2, board.result
    assert board.result["feeds"] > 0, "the watchdog fed"


async def test_a_broker_restart_under_micropython_loses_no_reading(
    tmp_path: Path, site: Site
) -> None:
    """Test that readings taken while Mosquitto is down arrive once, in order, with their own
    times, from the board program under MicroPython."""
    broker: EmbeddedMosquitto = site.mosquitto
    async with recording(broker.port, site.id, "mp-recorder") as recorder:
        async with micropython_board(tmp_path, micropython_settings(site)) as board:
            board.world(current_a=0.1)  # 22 W
            await wait_until(lambda: len(recorder.readings()) >= 2, "readings before", within_s=30)
            broker.stop()
            stopped_at = time.time()
            await wait_until(lambda: time.time() - stopped_at > 4, "four seconds of outage")
            restarted_at = time.time()
            broker.start()
            await wait_until(
                lambda: any(r["ts"] > restarted_at + 1 for r in recorder.readings()),
                "readings after the outage", within_s=60,
            )  # fmt: skip
            last_seq = max(r["seq"] for r in recorder.readings())
        # Ingest reconnects on its own backoff (up to RECONNECT_MAX_MS): on a loaded
        # machine its next attempt can come well after the board's.
        await wait_until(lambda: _count(site.influx, last_seq + 1), "every reading stored",
                         within_s=RECONNECT_MAX_MS / 1000 + 30)  # fmt: skip
    readings = recorder.readings()
    assert [r["seq"] for r in readings][: last_seq + 1] == list(range(last_seq + 1))
    during = [r for r in readings if stopped_at <= r["ts"] <= restarted_at]
    assert len(during) >= 3, "readings taken during the outage kept their original times"
    assert all(b["ts"] - a["ts"] >= 0.9 for a, b in itertools.pairwise(during)), during
    assert recorder.invalid == []


async def test_a_topic_of_fewer_than_four_levels_does_not_stop_the_board_under_micropython(
    tmp_path: Path, site: Site
) -> None:
    """Test that a retained $SYS message a broker delivers outside the board's subscriptions
    is ignored by the board program under MicroPython, whose loop and connection go on."""
    port = site.mosquitto.port
    async with (
        recording(port, site.id, "mp-recorder") as recorder,
        BrokerTap(port) as tap,
        micropython_board(tmp_path, micropython_settings(site, tap.port)),
    ):
        await wait_until(lambda: recorder.readings(), "a first reading", within_s=30)
        seen = len(recorder.readings())
        tap.inject(mqtt.publish_packet("$SYS/broker/uptime", "60 seconds", 0, True))
        await wait_until(lambda: len(recorder.readings()) >= seen + 3, "readings after it")
    assert tap.connections == 1, "the same connection throughout"


async def test_readings_a_killed_broker_had_acknowledged_are_stored_once_under_micropython(
    tmp_path: Path, site: Site, ingest: RunningIngest
) -> None:
    """Test that readings Mosquitto acknowledged 0.5 s before it was killed, inside its
    autosave interval, reach InfluxDB once it is back, each once, from the board program
    under MicroPython."""
    broker, store = site.mosquitto, site.mosquitto.data_dir / "mosquitto.db"
    async with micropython_board(tmp_path, micropython_settings(site)) as board:
        board.world(current_a=0.1)
        await wait_until(lambda: _count(site.influx, 2), "readings stored", within_s=30)
        await ingest.shutdown()  # its session now queues the readings at the broker
        board.world(wifi_up=False)
        await wait_until(lambda: board.agent().get("waiting", 0) >= 5, "readings buffered")
        last_save = saved_ns(store)
        await wait_until(lambda: saved_ns(store) > last_save, "the broker's next save")
        last_save = saved_ns(store)
        board.world(wifi_up=True)
        await wait_until(lambda: board.agent()["waiting"] == 0, "the buffer acknowledged")
        acknowledged = board.agent()["taken"]
        await asyncio.sleep(0.5)  # the fault itself: killed half a second after the acks
        assert saved_ns(store) == last_save, "no save between the acks and the kill"
        broker.kill()
        broker.start()
        again = await start_ingest(site.config)
        try:
            await wait_until(lambda: stored_in_order(site.influx, acknowledged), "all stored")
        finally:
            await again.shutdown()
