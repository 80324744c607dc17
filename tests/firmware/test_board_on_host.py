"""The whole firmware main loop on the host: real Mosquitto, real ingest, real InfluxDB.

Only `machine`, `network`, `ntptime` and the sensor signals are stand-ins.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import pytest

from firmware.core import mqtt
from makerwatch.ingest.influx import InfluxClient
from tests.firmware.board import (
    BrokerTap,
    board_settings,
    recording,
    running_board,
    saved_ns,
    stored_in_order,
)
from tests.firmware.conftest import Site
from tests.support import RunningIngest, TcpProxy, publish, start_ingest, stored, wait_until


async def test_board_readings_land_in_influxdb(tmp_path: Path, site: Site) -> None:
    """Test that the board's readings, state and birth reach InfluxDB, all valid protocol."""
    async with recording(site.mosquitto.port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, site.mosquitto.port), tmp_path) as run:
            run.signals.current_a = 0.2  # 44 W at 220 V: soldering
            run.signals.thermocouple_c = 350.0
            await wait_until(lambda: len(recorder.readings()) >= 3, "three readings from the board")
            await wait_until(lambda: recorder.of("state"), "a state message")
        sent = len(recorder.readings())
        await wait_until(lambda: _count(site.influx, sent), "every reading stored")
    rows = await stored(site.influx, "SELECT power_w, temp_c, seq FROM telemetry ORDER BY time")
    assert recorder.invalid == []
    assert [r["seq"] for r in rows] == list(range(sent))
    assert all(abs(r["power_w"] - 44.0) / 44.0 < 0.03 for r in rows[1:]), rows
    assert all(r["temp_c"] == 350.0 for r in rows)
    assert recorder.of("state")[-1]["state"] == "active"
    birth = recorder.of("status")[0]
    assert (birth["online"], birth["sensors"], birth["rssi_dbm"]) == (True, ["ct", "max6675"], -58)
    assert run.signals.watchdog_feeds > 0


async def test_relay_command_switches_the_relay_and_is_confirmed(
    tmp_path: Path, site: Site
) -> None:
    """Test that cmd/relay reaches the relay pin and the board confirms it in an event (on a
    board whose site file allows switching on remotely)."""
    topic = f"makerspace/{site.id}/solder-1/cmd/relay"
    port = site.mosquitto.port
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, port, allow_remote_on=True), tmp_path) as run:
            await wait_until(lambda: recorder.of("status"), "the birth message")
            await publish(port, [(topic, '{"v":1,"on":true}')])
            await wait_until(lambda: run.signals.pins.get(26) == 1, "relay pin high")
            await publish(port, [(topic, '{"v":1,"on":false,"reason":"left_on"}')])
            await wait_until(lambda: run.signals.pins.get(26) == 0, "relay pin low")
            await wait_until(
                lambda: len([e for e in recorder.of("event") if e["event"] == "relay"]) == 2,
                "relay events",
            )
    relay_events = [e for e in recorder.of("event") if e["event"] == "relay"]
    assert [(e["relay_on"], e["reason"]) for e in relay_events] == [
        (True, "command"),
        (False, "left_on"),
    ]
    assert recorder.invalid == []


async def test_identify_blinks_the_led_and_the_board_says_so(tmp_path: Path, site: Site) -> None:
    """Test that cmd/identify blinks the LED pin and the board answers with an identify
    event (what staff see confirmed on their phone)."""
    port = site.mosquitto.port
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path) as run:
            await wait_until(lambda: recorder.of("status"), "the birth message")
            await publish(
                port, [(f"makerspace/{site.id}/solder-1/cmd/identify", '{"v":1,"seconds":5}')]
            )
            await wait_until(
                lambda: [e for e in recorder.of("event") if e["event"] == "identify"],
                "the identify event",
            )
            seen = set()
            await wait_until(
                lambda: seen.add(run.signals.pins.get(2)) or seen >= {0, 1}, "the LED blinking"
            )
    answer = [e for e in recorder.of("event") if e["event"] == "identify"]
    assert [e["detail"] for e in answer] == ["blinking 5 s"]
    assert recorder.invalid == []


async def test_a_switch_off_sent_while_the_board_is_offline_reaches_it_when_it_is_back(
    tmp_path: Path, site: Site
) -> None:
    """Test that a relay command published while the board's link is down (the broker has
    published its last will) reaches the board once it reconnects, and that a switch-on
    queued with it is refused."""
    port, topic = site.mosquitto.port, f"makerspace/{site.id}/solder-1/cmd/relay"
    settings = board_settings(site.id, 0, allow_remote_on=True)
    async with recording(port, site.id, "recorder") as recorder, TcpProxy(port) as link:
        with running_board({**settings, "mqtt_port": link.port}, tmp_path) as run:
            await wait_until(lambda: recorder.of("status"), "the birth message")
            await publish(port, [(topic, '{"v":1,"on":true}')])
            await wait_until(lambda: run.signals.pins.get(26) == 1, "the relay on")
            link.up = False
            link.cut()
            await wait_until(lambda: not recorder.of("status")[-1]["online"], "the last will")
            await publish(port, [(topic, '{"v":1,"on":false,"reason":"left_on"}'),
                                 (topic, '{"v":1,"on":true}')])  # fmt: skip
            link.up = True
            await wait_until(lambda: run.signals.pins.get(26) == 0, "the relay off")
            await wait_until(lambda: recorder.of("status")[-1]["online"], "back online")
            await wait_until(lambda: _rejections(recorder.of("event")), "the switch-on refused")
    assert run.signals.pins.get(26) == 0
    assert _rejections(recorder.of("event")) == [
        "cmd/relay: a switch-on sent while offline is stale"
    ]


async def test_a_command_lost_in_flight_with_the_link_reaches_the_board(
    tmp_path: Path, site: Site
) -> None:
    """Test that a switch-off the link loses on its way to the board (the connection cut as
    it passes) is delivered again by the broker once the board reconnects."""
    port, topic = site.mosquitto.port, f"makerspace/{site.id}/solder-1/cmd/relay"
    settings = board_settings(site.id, 0, telemetry_period_s=3600)  # no traffic but the command
    async with recording(port, site.id, "recorder") as recorder, TcpProxy(port) as link:
        with running_board({**settings, "mqtt_port": link.port}, tmp_path) as run:
            agent = run.board.agent
            await wait_until(
                lambda: recorder.readings() and not (len(agent.readings) + len(agent.events)
                                                     + len(agent.states)),
                "everything the board had acknowledged",
            )  # fmt: skip
            link.responses_to_lose = 1
            await publish(port, [(topic, '{"v":1,"on":false,"reason":"in_flight"}')])
            await wait_until(lambda: link.lost == 1, "the command lost with the link")
            await wait_until(
                lambda: any(e.get("reason") == "in_flight" for e in recorder.of("event")),
                "the command delivered again and confirmed",
            )


async def test_a_command_sent_at_the_boards_birth_reaches_it(tmp_path: Path, site: Site) -> None:
    """Test that a command published the moment the board says it is online reaches it, with
    the broker slow to take its subscriptions (held 0.4 s on the way)."""
    port, topic = site.mosquitto.port, f"makerspace/{site.id}/solder-1/cmd/relay"
    async with (
        recording(port, site.id, "recorder") as recorder,
        TcpProxy(port, hold=b"\x82", hold_s=0.4) as link,  # SUBSCRIBE
    ):
        with running_board(board_settings(site.id, link.port), tmp_path):
            await wait_until(lambda: recorder.of("status"), "the birth message")
            await publish(port, [(topic, '{"v":1,"on":false,"reason":"at_birth"}')])
            await wait_until(
                lambda: any(e.get("reason") == "at_birth" for e in recorder.of("event")),
                "the command confirmed",
            )
    assert link.held == 3, "every subscription (commands, config, updates) was slow"


async def test_a_remote_switch_on_is_refused_unless_the_site_allows_it(
    tmp_path: Path, site: Site
) -> None:
    """Test that by default a board refuses cmd/relay on (and says so) but obeys off."""
    topic = f"makerspace/{site.id}/solder-1/cmd/relay"
    port = site.mosquitto.port
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path) as run:
            await wait_until(lambda: recorder.of("status"), "the birth message")
            run.signals.pins[26] = 0
            await publish(port, [(topic, '{"v":1,"on":true}'), (topic, '{"v":1,"on":false}')])
            await wait_until(
                lambda: [e for e in recorder.of("event") if e["event"] == "relay"], "the off"
            )
            assert run.signals.pins.get(26) == 0, "never switched on"
    rejected = [e["detail"] for e in recorder.of("event") if e["event"] == "config_rejected"]
    assert rejected == ["cmd/relay: switching on remotely is not allowed here"]


async def test_retained_config_is_applied_without_reboot(tmp_path: Path, site: Site) -> None:
    """Test that a retained config message changes thresholds live and is reported."""
    port = site.mosquitto.port
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path) as run:
            run.signals.current_a = 0.2  # 44 W: active with the default 15 W threshold
            await wait_until(
                lambda: [s["state"] for s in recorder.of("state")] == ["active"], "active"
            )
            config = json.dumps({"v": 1, "active_above_w": 100, "telemetry_period_s": "often"})
            await publish(port, [(f"makerspace/{site.id}/solder-1/config", config)])
            await wait_until(
                lambda: "idle" in [s["state"] for s in recorder.of("state")], "idle at 44 W"
            )
    events = {e["event"]: e.get("detail", "") for e in recorder.of("event")}
    assert events["config_applied"] == "active_above_w"
    assert events["config_rejected"].startswith("telemetry_period_s: must be a number")


async def test_clearing_the_retained_config_brings_back_the_boards_own(
    tmp_path: Path, site: Site
) -> None:
    """Test that clearing the retained config (an empty retained message) is taken as a
    clear, not refused as a bad config: the board's own thresholds come back."""
    port, config = site.mosquitto.port, f"makerspace/{site.id}/solder-1/config"
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path) as run:
            await wait_until(lambda: recorder.of("status"), "the birth message")
            await publish(port, [(config, '{"v":1,"active_above_w":100}')], retain=True)
            await wait_until(lambda: run.board.agent.settings["active_above_w"] == 100, "applied")
            await publish(port, [(config, b"")], retain=True)
            await wait_until(lambda: run.board.agent.settings["active_above_w"] == 15, "cleared")
            await wait_until(lambda: len(recorder.of("event")) >= 3, "the clear reported")
    events = [(e["event"], e.get("detail")) for e in recorder.of("event")][1:]  # after boot
    assert events == [
        ("config_applied", "active_above_w"),
        ("config_applied", "config cleared: back to own active_above_w"),
    ]


async def test_bad_settings_are_reported_and_the_board_runs_on_defaults(
    tmp_path: Path, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that bad settings.json values print a message, publish an event and fall back to defaults."""
    port = site.mosquitto.port
    settings = board_settings(site.id, port, temp_sensor="thermometer", telemetry_period_s=0)
    async with recording(port, site.id, "recorder") as recorder:
        with running_board(settings, tmp_path) as run:
            run.signals.current_a = 0.1
            await wait_until(lambda: recorder.readings(), "a reading on default settings")
            await wait_until(lambda: len(_rejections(recorder.of("event"))) == 2, "two rejections")
    console = capsys.readouterr().out
    assert (
        "makerwatch: settings: temp_sensor: must be one of ds18b20, max6675, max31855, none (got 'thermometer')"
        in console
    )
    assert (
        "makerwatch: settings: telemetry_period_s: must be a number from 1 to 3600 (got 0)"
        in console
    )
    assert sorted(d.split(":")[0] for d in _rejections(recorder.of("event"))) == [
        "telemetry_period_s",
        "temp_sensor",
    ]
    assert "temp_c" not in recorder.readings()[0], "no temperature sensor on the default"


async def test_unreadable_settings_file_runs_on_defaults(tmp_path: Path) -> None:
    """Test that a settings.json that is not JSON gives a clear message and a running board."""
    with running_board({}, tmp_path, raw_settings="{ wifi: oops") as run:
        await wait_until(lambda: run.signals.watchdog_feeds > 3, "the loop running")
        assert run.board.settings["device"] == "unconfigured"
    assert "settings.json: not valid JSON" in "\n".join(run.board.agent.events.peek(20))


async def test_broker_outage_loses_no_reading(tmp_path: Path, site: Site) -> None:
    """Test that readings taken while Mosquitto is down arrive once, in order, with their own times."""
    broker = site.mosquitto
    async with recording(broker.port, site.id, "recorder") as recorder:
        with running_board(board_settings(site.id, broker.port), tmp_path) as run:
            run.signals.current_a = 0.1  # 22 W, well clear of the clamp's 0.05 A noise floor
            await wait_until(lambda: len(recorder.readings()) >= 2, "readings before the outage")
            broker.stop()
            stopped_at = time.time()
            await wait_until(
                lambda: len(run.board.agent.readings) >= 3, "readings buffered during the outage"
            )
            restarted_at = time.time()
            broker.start()
            await wait_until(
                lambda: len(run.board.agent.readings) == 0, "the buffer delivered", within_s=40
            )
            taken = run.board.agent.seq  # every reading so far is sent: wait until it is in
            await wait_until(
                lambda: max(r["seq"] for r in recorder.readings()) >= taken - 1,
                "the delivered buffer received",
            )
        # The board has stopped; what it sent last may still be on its way.
        await wait_until(
            lambda: _count(site.influx, len(recorder.readings())),
            "every reading received also in InfluxDB",
            within_s=30,
        )
    rows = await stored(site.influx, "SELECT seq FROM telemetry ORDER BY time")

    readings = recorder.readings()
    last_seq = max(r["seq"] for r in readings)
    assert [r["seq"] for r in readings] == list(range(last_seq + 1)), "each reading, in order"
    assert [r["seq"] for r in rows] == list(range(last_seq + 1))
    during = [r for r in readings if stopped_at <= r["ts"] <= restarted_at]
    assert len(during) >= 3, "readings taken during the outage kept their original times"
    assert all(b["ts"] - a["ts"] >= 0.9 for a, b in itertools.pairwise(during)), during
    assert any("readings" in body for body in recorder.of("telemetry")), "delivered as a batch"
    assert recorder.invalid == []


# What a broker may send that the board never asked for: (what, bytes, reconnects after it).
JUNK_FROM_A_BROKER = [
    ("a retained $SYS topic", mqtt.publish_packet("$SYS/broker/uptime", "60 seconds", 0, True), 0),
    ("a QoS 1 topic of one level", mqtt.publish_packet("makerspace", "x", 1, False, 7), 0),
    ("a truncated PUBLISH", b"\x30\x01\x00", 1),
    ("a topic that is not UTF-8", b"\x30\x05\x00\x02\xff\xfex", 1),
]


async def test_nothing_a_broker_sends_stops_the_board(tmp_path: Path, site: Site) -> None:
    """Test that a PUBLISH outside the board's topics (a broker's retained $SYS, a topic of
    fewer than four levels) is ignored, and that a malformed one drops the connection, after
    which the board reconnects: its loop goes on through all of them."""
    port = site.mosquitto.port
    async with recording(port, site.id, "recorder") as recorder, BrokerTap(port) as tap:
        with running_board(board_settings(site.id, tap.port), tmp_path) as run:
            run.signals.current_a = 0.1
            await wait_until(lambda: recorder.readings(), "a first reading")
            for what, junk, reconnects in JUNK_FROM_A_BROKER:
                seen, connections = len(recorder.readings()), tap.connections + reconnects
                tap.inject(junk)
                await wait_until(
                    lambda n=seen, c=connections: (
                        tap.connections == c and len(recorder.readings()) >= n + 2
                    ),
                    f"readings after {what}",
                )
                assert tap.connections == connections, what
            assert run.thread.is_alive()
    assert recorder.invalid == []


async def test_readings_a_killed_broker_had_acknowledged_are_stored_once(
    tmp_path: Path, site: Site, ingest: RunningIngest
) -> None:
    """Test that readings Mosquitto acknowledged 0.5 s before it was killed, inside its
    autosave interval (so its store never had them), reach InfluxDB once it is back, each
    once: the board sends its last acknowledged readings again after losing the broker."""
    broker, store = site.mosquitto, site.mosquitto.data_dir / "mosquitto.db"
    with running_board(board_settings(site.id, broker.port), tmp_path) as run:
        run.signals.current_a = 0.1
        await wait_until(lambda: _count(site.influx, 2), "readings stored")
        await ingest.shutdown()  # its session now queues the readings at the broker
        run.signals.wifi_up = False
        await wait_until(lambda: len(run.board.agent.readings) >= 5, "readings buffered")
        last_save = saved_ns(store)
        await wait_until(lambda: saved_ns(store) > last_save, "the broker's next save")
        last_save = saved_ns(store)
        run.signals.wifi_up = True
        await wait_until(lambda: len(run.board.agent.readings) == 0, "the buffer acknowledged")
        acknowledged = run.board.agent.seq
        await asyncio.sleep(0.5)  # the fault itself: killed half a second after the acks
        assert saved_ns(store) == last_save, "no save between the acks and the kill"
        broker.kill()
        broker.start()
        again = await start_ingest(site.config)
        try:
            await wait_until(lambda: stored_in_order(site.influx, acknowledged), "all stored")
        finally:
            await again.shutdown()


def _rejections(events: list[dict[str, str]]) -> list[str]:
    return [e["detail"] for e in events if e["event"] == "config_rejected"]


async def _count(influx: InfluxClient, expected: int) -> bool:
    rows = await stored(influx, "SELECT count(seq) FROM telemetry")
    return bool(rows) and rows[0]["count"] == expected
