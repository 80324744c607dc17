"""Alerts end to end: simulated or real boards -> Mosquitto -> ingest -> alert engine ->
apprise -> a local webhook, with InfluxDB and the retained alert topics checked."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from makerwatch.alerts.texts import local_time
from makerwatch.core.opening_hours import open_ranges
from makerwatch.core.site_config import SiteConfig, StaffMember, load_site_config
from makerwatch.core.usage import sessions_from
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.sim.commands import backfill, run_scenario
from makerwatch.sim.publisher import MqttPublisher
from makerwatch.sim.runner import Simulation
from makerwatch.sim.scenarios import SCENARIOS, build_boards
from tests.alerts.conftest import Receiver
from tests.firmware.board import board_settings, running_board
from tests.support import (
    ROOT,
    RunningIngest,
    make_config,
    publish,
    start_ingest,
    stored,
    wait_until,
)

MIN_MS = 60_000
SOLDER_NAME = "Дәнекерлеу станциясы 1, үстел А"


def alert_config(
    base: SiteConfig, receiver: Receiver, rules: list[dict[str, Any]], **alerts: Any
) -> SiteConfig:
    settings = {
        "language": "ru",
        "rules": rules,
        "channels": [{"name": "staff", "url": receiver.url("staff")}],
        **alerts,
    }
    ingest = base.ingest.model_copy(update={"http_port": free_port()})
    return base.model_copy(
        update={"alerts": type(base.alerts).model_validate(settings), "ingest": ingest}
    )


async def alert_points(influx: InfluxClient, alert_id: str) -> list[tuple[str, int]]:
    rows = await stored(
        influx, f"SELECT message, status FROM alert WHERE alert_id = '{alert_id}' ORDER BY time"
    )
    return [(r["status"], r["time"]) for r in rows]


def monday_before(days: int) -> int:
    """00:00 UTC of the Monday at least `days` ago: a past week that ingest still accepts."""
    day = datetime.now(UTC).date() - timedelta(days=days)
    day -= timedelta(days=day.weekday())
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


async def test_left_on_overnight_fires_once_repeats_and_resolves(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, receiver: Receiver
) -> None:
    """Test the left-on-overnight scenario delivered a week late, in two parts: while the
    station is still on at the end of what was delivered, staff are told once, with
    "on since" the switch-on; once the morning's switch-off arrives, they are told it is
    resolved; the history has one firing, the repeats and the resolution at their own times."""
    example = load_site_config(ROOT / "makerspace.example.yaml")
    base = make_config(mosquitto.port, influxdb.url)
    site = example.model_copy(
        update={"mqtt": base.mqtt, "influxdb": base.influxdb, "ingest": base.ingest}
    )
    config = alert_config(site, receiver, [{"rule": "left_on", "devices": ["solder-1"]}])
    start = monday_before(7)
    closing = open_ranges(config.site, start, start + 24 * 60 * MIN_MS)[-1][1]
    night = closing + 3 * 60 * MIN_MS
    ingest = await start_ingest(config)
    try:
        boards = build_boards(SCENARIOS["left-on-overnight"], config, start, seed=1)
        publisher = MqttPublisher("127.0.0.1", mosquitto.port, "sim-left-on")
        evening = await asyncio.to_thread(
            Simulation(boards, publisher, start, night, speed=None, step_ms=MIN_MS).run,
            final=False,  # the night goes on in the second part
        )
        # Everything the evening sent is delivered and settled first (a backlog to drain).
        await wait_until(lambda: receiver.on("staff"), "the firing's message", within_s=120)
        end = start + 2 * 24 * 60 * MIN_MS
        morning = await asyncio.to_thread(
            Simulation(boards, publisher, night, end, speed=None, step_ms=MIN_MS).run
        )
        publisher.close()
        async with InfluxClient(config.influxdb) as influx:
            await wait_until(
                lambda: _has_status(influx, "left_on-solder-1", "resolved"),
                "the morning's resolution",
                within_s=60,
            )
            points = await alert_points(influx, "left_on-solder-1")
        await wait_until(
            lambda: any(b["message"].startswith("Решено") for b in receiver.on("staff")),
            "the resolution's message",
            within_s=60,
        )
    finally:
        await ingest.shutdown()

    states = [s for s in evening.tally.states + morning.tally.states if s["device"] == "solder-1"]
    idle_since = max(
        round(s["ts"] * 1000)
        for s in states
        if s["state"] == "idle" and s["ts"] * 1000 < closing + 15 * MIN_MS
    )
    switched_on = max(
        round(s["ts"] * 1000)
        for s in states
        if s.get("previous") == "off" and s["ts"] * 1000 < closing
    )
    expected_fire = min(closing + 15 * MIN_MS, idle_since + 45 * MIN_MS)
    switched_off = min(
        round(s["ts"] * 1000) for s in states if s["state"] == "off" and s["ts"] * 1000 > closing
    )
    fired = [t for status, t in points if status == "fired"]
    repeated = [t for status, t in points if status == "repeated"]
    assert fired == [expected_fire], "exactly one alert, at the moment the rule became true"
    assert repeated == list(range(expected_fire + 30 * MIN_MS, switched_off, 30 * MIN_MS))
    assert [t for status, t in points if status == "resolved"] == [switched_off]
    assert switched_off - expected_fire > 10 * 60 * MIN_MS, "it stayed on all night"

    # Caught up a week later, the repeats are history: staff get the firing (with when the
    # station was switched on) and the resolution, not a burst of a dozen repeats.
    messages = [b["message"] for b in receiver.on("staff")]
    assert len(messages) == 2, messages
    first = receiver.on("staff")[0]
    assert set(first) == {"version", "title", "message", "attachments", "type"}, (
        "apprise's json:// body"
    )
    assert first["title"] == f"Makerwatch: {SOLDER_NAME}"
    assert first["message"].startswith(f"«{SOLDER_NAME}» (Makerspace Aktobe): ")
    assert "простаивает" in first["message"] or "после закрытия" in first["message"]
    on_at = local_time(switched_on, "Asia/Aqtobe", int(time.time() * 1000))
    assert f"\nВключено с {on_at}, " in first["message"], "on since the switch-on, site time"
    assert "/alerts/" not in first["message"], "no API path a person cannot click"
    assert (
        receiver.on("staff")[-1]["message"]
        == f"Решено: «{SOLDER_NAME}» (Makerspace Aktobe) снова в норме."
    )


async def test_catching_up_on_the_past_tells_staff_nothing_that_is_not_true_now(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, receiver: Receiver
) -> None:
    """Test the example site with its own rules: the board-offline scenario (a station idle,
    its board offline for an hour, the station switched off meanwhile, then the buffer
    delivered) and then a day's backfill, each ending with its boards offline, send staff
    nothing; what the history holds is stamped at its own times, inside the runs."""
    example = load_site_config(ROOT / "makerspace.example.yaml")
    base = make_config(mosquitto.port, influxdb.url)
    site = example.model_copy(
        update={"mqtt": base.mqtt, "influxdb": base.influxdb, "ingest": base.ingest}
    )
    rules = [r.model_dump(mode="json", exclude_none=True) for r in example.alerts.rules]
    config = alert_config(site, receiver, rules)
    start = (
        monday_before(7) + 2 * 24 * 60 * MIN_MS + 8 * 60 * MIN_MS
    )  # a Wednesday, 13:00 site time
    ingest = await start_ingest(config)
    try:
        scenario = await asyncio.to_thread(
            run_scenario, config, "board-offline", None, 1, "127.0.0.1", mosquitto.port,
            start_ms=start,
        )  # fmt: skip
        day = await asyncio.to_thread(backfill, config, 86_400, 2, "127.0.0.1", mosquitto.port)
        readings = sum(scenario.tally.readings.values()) + sum(day.tally.readings.values())
        async with InfluxClient(config.influxdb) as influx:

            async def all_stored() -> bool:
                rows = await stored(influx, "SELECT count(seq) FROM telemetry")
                return bool(rows) and rows[0]["count"] == readings

            await wait_until(all_stored, f"{readings} readings stored", within_s=90)
            alerts = ingest.service.alerts
            assert alerts is not None
            await wait_until(alerts.caught_up, "every machine caught up")
            await wait_until(lambda: not any(ingest.service.notifier.waiting().values()),
                             "nothing waiting to be sent")  # fmt: skip
            history = await stored(influx, "SELECT status, alert_id FROM alert")
    finally:
        await ingest.shutdown()
    assert receiver.on("staff") == [], "nothing that is not true now"
    runs = [(start, scenario.ended_ms), (day.ended_ms - 86_400_000 - 60_000, day.ended_ms)]
    for row in history:
        assert any(a <= row["time"] <= b for a, b in runs), f"at its own time: {row}"


async def test_acknowledging_silences_repeats_and_a_restart_neither_loses_nor_refires(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient, receiver: Receiver
) -> None:
    """Test HTTP acknowledgement, then an ingest restart with the alert active, then MQTT acknowledgement."""
    always_open = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    site_config = site_config.model_copy(
        update={"site": site_config.site.model_copy(update={"opening_hours": always_open})}
    )
    config = alert_config(site_config, receiver, [
        {"rule": "left_on", "devices": ["solder-1"], "idle_longer_than_min": 45},
        {"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450},
    ], snooze_min=600)  # fmt: skip
    token = "aigerim-token-0123456789"
    config = config.model_copy(
        update={"staff": [StaffMember(name="Айгерім Сейітова", token=token)]}
    )
    site, api = config.site.id, f"http://127.0.0.1:{config.ingest.http_port}"
    t0 = time.time() - 5 * 3600
    state = f"makerspace/{site}/solder-1/state"
    telemetry = f"makerspace/{site}/solder-1/telemetry"

    def reading(minutes: float, seq: int, temp_c: float = 340.0) -> tuple[str, str]:
        return telemetry, json.dumps(
            {"v": 1, "ts": t0 + minutes * 60, "seq": seq, "power_w": 4.0, "temp_c": temp_c}
        )

    ingest = await start_ingest(config)
    idle = json.dumps({"v": 1, "ts": t0, "state": "idle", "previous": "off"})
    await publish(mosquitto.port, [(state, idle)], retain=True)  # boards retain their state
    await publish(mosquitto.port, [reading(50, 1)])
    await wait_until(lambda: len(receiver.on("staff")) == 1, "the alert's notification")
    ack = "/alerts/left_on-solder-1/ack"
    async with httpx.AsyncClient(base_url=api) as http:
        for refused in ({}, {"Authorization": "Bearer not-a-staff-token-at-all"},
                        {"Authorization": token}):  # fmt: skip
            response = await http.post(ack, json={"by": "anyone"}, headers=refused)
            assert response.status_code == 401, refused
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        staff = {"Authorization": f"Bearer {token}"}
        for body, says in ((b"\xff\xfe", "not UTF-8"), (b"{nope", "not JSON"), (b"[1]", "object")):
            response = await http.post(ack, content=body, headers=staff)
            assert response.status_code == 400
            assert says in response.json()["error"]
        [listed] = (await http.get("/alerts")).json()["alerts"]
        assert listed["acked_by"] is None
        assert listed["name"] == SOLDER_NAME
        assert listed["message"].startswith(
            f"«{SOLDER_NAME}» (Test space): включено и простаивает."
        )
        assert listed["held_s"] >= 50 * 60, "how long it has held, now"
        response = await http.post(ack, json={"by": "someone else"}, headers=staff)
        assert response.status_code == 200
        assert response.json()["alert"]["acked_by"] == "Айгерім Сейітова", "the token's name"
        assert (await http.post("/alerts/no_data-printer-1/ack", headers=staff)).status_code == 404
    await publish(
        mosquitto.port, [reading(200, 2)]
    )  # repeats would have fallen due at 75, 105, ...
    await wait_until(
        lambda: _has_status(influx, "left_on-solder-1", "acknowledged"),
        "the acknowledgement stored",
    )
    await ingest.shutdown()

    restarted: RunningIngest = await start_ingest(config)
    try:
        await publish(mosquitto.port, [reading(230, 3), reading(231, 4, temp_c=470.0)])
        await wait_until(
            lambda: _has_status(influx, "over_temperature-solder-1", "fired"),
            "a second alert after the restart",
        )
        async with httpx.AsyncClient(base_url=api) as http:
            active = {a["alert_id"]: a for a in (await http.get("/alerts")).json()["alerts"]}
        assert active["left_on-solder-1"]["acked_by"] == "Айгерім Сейітова", (
            "restored from its retained topic"
        )
        ack_topic = f"makerspace/{site}/alerts/over_temperature-solder-1/ack"
        await publish(mosquitto.port, [(ack_topic, json.dumps({"v": 1, "by": "Daulet"}))])
        await wait_until(
            lambda: _has_status(influx, "over_temperature-solder-1", "acknowledged"),
            "MQTT acknowledgement",
        )
        await publish(
            mosquitto.port,
            [
                (
                    state,
                    json.dumps({"v": 1, "ts": t0 + 240 * 60, "state": "off", "previous": "idle"}),
                )
            ],
        )
        await wait_until(lambda: _has_status(influx, "left_on-solder-1", "resolved"), "resolution")
    finally:
        await restarted.shutdown()
    statuses = [s for s, _ in await alert_points(influx, "left_on-solder-1")]
    assert statuses == ["fired", "acknowledged", "resolved"], (
        "no repeat after the ack, no second firing after the restart"
    )
    assert [body["message"] for body in receiver.on("staff")].count(
        receiver.on("staff")[0]["message"]
    ) == 1


async def test_auto_off_reaches_the_board_and_is_confirmed(
    tmp_path: Path,
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    influx: InfluxClient,
    receiver: Receiver,
) -> None:
    """Test that the engine switches a left-on station off through the real firmware loop, which confirms it."""
    solder = site_config.devices[0].model_copy(
        update={"board": {"relay_pin": 26, "relay_active_high": True, "allow_remote_on": True}}
    )
    base = site_config.model_copy(update={"devices": [solder, *site_config.devices[1:]]})
    config = alert_config(base, receiver, [{"rule": "left_on", "devices": ["solder-1"], "idle_longer_than_min": 0.05,
                                            "auto_off_after_min": 0.05}])  # fmt: skip
    site = config.site.id
    ingest = await start_ingest(config)
    try:
        with running_board(
            board_settings(site, mosquitto.port, allow_remote_on=True), tmp_path
        ) as run:
            run.signals.current_a = 0.06  # 13 W: on, idle in the stand
            await wait_until(
                lambda: run.board.client is not None, "the board connected and subscribed"
            )
            await publish(
                mosquitto.port, [(f"makerspace/{site}/solder-1/cmd/relay", '{"v":1,"on":true}')]
            )
            await wait_until(lambda: run.signals.pins.get(26) == 1, "staff switched the station on")
            await wait_until(
                lambda: run.signals.pins.get(26) == 0, "the engine switched it off", within_s=30
            )
            run.signals.current_a = 0.0  # the relay cut the power
            await wait_until(
                lambda: _has_status(influx, "left_on-solder-1", "auto_off_confirmed"),
                "the board's confirmation",
            )
            await wait_until(
                lambda: _has_status(influx, "left_on-solder-1", "resolved"),
                "resolved once off",
                within_s=30,
            )
    finally:
        await ingest.shutdown()
    statuses = [s for s, _ in await alert_points(influx, "left_on-solder-1")]
    assert statuses == ["fired", "auto_off_sent", "auto_off_confirmed", "resolved"]
    assert any("отключается удалённо" in b["message"] for b in receiver.on("staff"))


async def test_a_hanging_or_failing_channel_delays_nothing_else(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient, receiver: Receiver
) -> None:
    """Test that one channel hanging and one answering 500 neither delay the others nor ingestion, and the 500 is retried."""
    receiver.failures["/flaky"] = 1
    channels = [{"name": n, "url": receiver.url(n)} for n in ("hang", "flaky", "staff")]
    config = alert_config(
        site_config, receiver, [{"rule": "over_temperature", "above_c": 450}], channels=channels
    )
    site = config.site.id
    ingest = await start_ingest(config)
    ingest.service.notifier.retry_first_s = 0.2  # a short backoff keeps the test quick
    try:
        hot = json.dumps({"v": 1, "seq": 1, "power_w": 40.0, "temp_c": 480.0})
        await publish(mosquitto.port, [(f"makerspace/{site}/solder-1/telemetry", hot)])
        await wait_until(
            lambda: receiver.on("staff") and receiver.on("hang"), "both channels reached"
        )
        assert not receiver.hang.is_set(), (
            "the hanging request is still open while staff got theirs"
        )
        await wait_until(lambda: len(receiver.on("flaky")) == 2, "the failed delivery retried")
        assert ingest.service.notifier.retried["flaky"] == 1
        later = json.dumps({"v": 1, "seq": 2, "power_w": 41.0, "temp_c": 481.0})
        await publish(mosquitto.port, [(f"makerspace/{site}/solder-1/telemetry", later)])
        await wait_until(
            lambda: ingest.service.counters.messages_stored == 2,
            "ingestion going on meanwhile",
        )
    finally:
        receiver.hang.set()
        await ingest.shutdown()


async def test_sessions_and_energy_match_the_simulator(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that a week's sessions, their durations and energy match the simulator's ground truth within 1 %."""
    open_days = {d: ["10:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    config = site_config.model_copy(
        update={"site": site_config.site.model_copy(update={"opening_hours": open_days})}
    )
    start = monday_before(8)
    boards = build_boards(SCENARIOS["normal-week"], config, start, seed=3, telemetry_period_s=60)
    publisher = MqttPublisher("127.0.0.1", mosquitto.port, "sim-sessions")
    summary = await asyncio.to_thread(
        Simulation(
            boards, publisher, start, start + 7 * 86_400_000, speed=None, step_ms=600_000
        ).run
    )
    publisher.close()
    truth = sessions_from(summary.tally.states, summary.tally.power)
    assert len(truth) > 10

    async def all_sessions_stored() -> bool:
        rows = await stored(influx, "SELECT count(duration_s) FROM session")
        return bool(rows) and rows[0]["count"] == len(truth)

    await wait_until(all_sessions_stored, f"{len(truth)} sessions stored", within_s=60)
    for device in {s.device for s in truth}:
        rows = await stored(
            influx,
            f"SELECT sum(energy_wh), sum(duration_s), count(duration_s), max(peak_power_w) FROM session WHERE device = '{device}'",
        )
        # InfluxDB 1.x puts aggregates and selectors (max) in separate rows.
        row = {k: next((r[k] for r in rows if r[k] is not None), None) for k in rows[0]}
        mine = [s for s in truth if s.device == device]
        assert row["count"] == len(mine), device
        assert row["sum_1"] == pytest.approx(
            sum((s.end_ms - s.start_ms) / 1000 for s in mine), rel=1e-9
        ), device
        assert row["sum"] == pytest.approx(sum(s.energy_wh for s in mine), rel=0.01), device
        peak = max(
            p for s in mine for t, p in summary.tally.power[device] if s.start_ms <= t <= s.end_ms
        )
        assert row["max"] == peak, device


async def _has_status(influx: InfluxClient, alert_id: str, status: str) -> bool:
    return status in [s for s, _ in await alert_points(influx, alert_id)]
