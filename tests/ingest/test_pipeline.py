"""End to end: MQTT client -> real Mosquitto -> ingest -> real InfluxDB, read with InfluxQL."""

from __future__ import annotations

import json
import time

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.support import (
    KAZAKH_NAME,
    DeadLetters,
    RunningIngest,
    count_points,
    make_config,
    publish,
    start_ingest,
    stored,
    wait_until,
)


def telemetry_topic(config: SiteConfig, device: str = "solder-1") -> str:
    return f"makerspace/{config.site.id}/{device}/telemetry"


def reading(seq: int, ts: float | None = None, **fields: float) -> str:
    body: dict[str, object] = {"v": 1, "seq": seq, "power_w": 10.0 + seq, **fields}
    if ts is not None:
        body["ts"] = ts
    return json.dumps(body)


async def test_published_reading_is_stored_exactly(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that one reading lands as one point with exact tags, fields and timestamp."""
    ts = round(time.time() - 5, 3)
    payload = json.dumps({"v": 1, "ts": ts, "seq": 41, "power_w": 12, "temp_c": 341.5})
    await publish(mosquitto.port, [(telemetry_topic(site_config), payload)])
    await wait_until(lambda: count_points(influx), "the point in InfluxDB")

    rows = await stored(influx, "SELECT * FROM telemetry")
    assert rows == [
        {
            "time": round(ts * 1000),
            "site": site_config.site.id,
            "device": "solder-1",
            "kind": "soldering_station",
            "name": KAZAKH_NAME,
            "power_w": 12.0,
            "temp_c": 341.5,
            "seq": 41,
        }
    ]
    tag_rows = await stored(influx, 'SHOW TAG VALUES FROM telemetry WITH KEY = "name"')
    assert [r["value"] for r in tag_rows] == [KAZAKH_NAME]


async def test_batch_arrives_in_order_with_original_timestamps(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that a buffered batch is stored oldest first at the boards' own timestamps."""
    start = round(time.time() - 3600)
    readings = [{"ts": start + 10 * i, "seq": i, "power_w": float(i)} for i in range(50)]
    batch = json.dumps({"v": 1, "readings": readings})
    await publish(mosquitto.port, [(telemetry_topic(site_config), batch)])
    await wait_until(lambda: _has(influx, 50), "50 points")

    rows = await stored(influx, "SELECT seq, power_w FROM telemetry ORDER BY time")
    assert [(r["time"], r["seq"]) for r in rows] == [
        ((start + 10 * i) * 1000, i) for i in range(50)
    ]


async def test_duplicate_delivery_changes_nothing(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that the same reading delivered twice is stored as one point."""
    payload = reading(7, ts=round(time.time() - 1, 3))
    marker = reading(8, ts=round(time.time(), 3))
    topic = telemetry_topic(site_config)
    await publish(mosquitto.port, [(topic, payload), (topic, payload), (topic, marker)])
    await wait_until(lambda: ingest.service.counters.messages_stored == 3, "3 messages stored")
    assert await count_points(influx) == 2


async def test_status_birth_and_last_will_are_stored(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> None:
    """Test that birth and last-will status messages become device_status points."""
    topic = f"makerspace/{site_config.site.id}/printer-1/status"
    birth = json.dumps(
        {"v": 1, "online": True, "fw": "0.1.0", "rssi_dbm": -67, "ts": time.time() - 1}
    )
    will = json.dumps({"v": 1, "online": False})
    await publish(mosquitto.port, [(topic, birth), (topic, will)])
    await wait_until(lambda: _has(influx, 2, "device_status", "online"), "two status points")

    rows = await stored(
        influx, 'SELECT online, fw, rssi_dbm, "name" FROM device_status ORDER BY time'
    )
    assert [(r["online"], r["fw"], r["rssi_dbm"]) for r in rows] == [
        (True, "0.1.0", -67),
        (False, None, None),
    ]
    assert rows[0]["name"] == 'Prusa "MK4" = #1\\b'


async def test_bad_input_is_dead_lettered_and_neighbours_are_stored(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
    dead_letters: DeadLetters,
) -> None:
    """Test that each bad input is dead-lettered with its reason and no valid reading is lost."""
    site = site_config.site.id
    topic = telemetry_topic(site_config)
    now = time.time()
    bad: list[tuple[str, bytes | str, str]] = [
        (topic, b"not json at all", "not_json"),
        (topic, b'{"v":1,"seq":1,"power_w":NaN}', "not_json"),
        (topic, b'{"v":1,"seq":1,"power_w":Infinity}', "not_json"),
        (topic, b"[1,2,3]", "not_object"),
        (topic, b'{"v":1,"seq":"3","power_w":1}', "schema"),
        (topic, b'{"v":1,"power_w":1}', "schema"),
        (topic, b'{"v":1,"seq":1,"power_w":-1}', "schema"),
        (f"makerspace/{site}/ghost/telemetry", reading(1), "unknown_device"),
        ("makerspace/no-such-site/solder-1/telemetry", reading(1), "unknown_site"),
        (
            topic,
            json.dumps({"v": 1, "device": "printer-1", "seq": 1, "power_w": 1}),
            "topic_mismatch",
        ),
        (topic, json.dumps({"v": 1, "seq": 1, "power_w": 1, "pad": "x" * 270_000}), "too_large"),
        (topic, reading(1, ts=now + 86400), "ts_in_future"),
        (topic, reading(1, ts=now - 400 * 86400), "ts_too_old"),
        (topic, b"[" * 3000 + b"]" * 3000, "too_deep"),
        (topic, b"\xff\xfe{}", "not_utf8"),
    ]
    messages: list[tuple[str, bytes | str]] = []
    for i, (bad_topic, bad_payload, _) in enumerate(bad):
        messages.append((topic, reading(i, ts=round(now - 100 + i, 3))))
        messages.append((bad_topic, bad_payload))
    messages.append((topic, reading(len(bad), ts=round(now, 3))))

    await publish(mosquitto.port, messages)
    await wait_until(lambda: len(dead_letters.records) == len(bad), f"{len(bad)} dead letters")
    await wait_until(lambda: _has(influx, len(bad) + 1), "every valid reading")

    assert dead_letters.reasons() == [reason for _, _, reason in bad]
    assert [r["topic"] for r in dead_letters.records] == [t for t, _, _ in bad]
    assert all(r["error"].startswith(r["topic"]) for r in dead_letters.records)
    rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
    assert [r["seq"] for r in rows] == list(range(len(bad) + 1))
    counters = ingest.service.counters
    assert sum(counters.dead_lettered.values()) == len(bad)
    assert counters.messages_received == len(messages)


async def test_messages_sent_while_ingest_is_down_are_stored(
    site_config: SiteConfig, mosquitto: EmbeddedMosquitto, influx: InfluxClient
) -> None:
    """Test that the persistent session keeps readings at the broker while ingest is stopped."""
    first = await start_ingest(site_config)
    await first.shutdown()
    now = time.time()
    await publish(
        mosquitto.port,
        [(telemetry_topic(site_config), reading(i, ts=now - 10 + i)) for i in range(5)],
    )

    second = await start_ingest(site_config)
    try:
        await wait_until(lambda: _has(influx, 5), "the 5 readings sent while ingest was down")
    finally:
        await second.shutdown()


async def test_held_batch_is_written_on_shutdown(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that stopping ingest writes the batch it holds instead of dropping it."""
    config = make_config(mosquitto.port, influxdb.url, batch_max_age_s=60, batch_max_points=10_000)
    running = await start_ingest(config)
    now = time.time()
    messages = [(telemetry_topic(config), reading(i, ts=now + i)) for i in range(3)]
    await publish(mosquitto.port, messages)
    await wait_until(lambda: running.service.counters.messages_received == 3, "3 messages received")
    async with InfluxClient(config.influxdb) as influx:
        assert await count_points(influx) == 0, "still held: the batch is 60 s from its deadline"
        await running.shutdown()
        assert await count_points(influx) == 3


async def test_influxdb_outage_loses_nothing(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that readings sent while InfluxDB is down are written once it is back."""
    config = make_config(mosquitto.port, own_influxdb.url)
    running = await start_ingest(config)
    try:
        topic = telemetry_topic(config)
        await publish(mosquitto.port, [(topic, reading(0, ts=time.time()))])
        await wait_until(
            lambda: running.service.counters.messages_stored == 1, "the first reading stored"
        )

        own_influxdb.stop()
        now = time.time()
        await publish(
            mosquitto.port, [(topic, reading(i, ts=now + i * 0.01)) for i in range(1, 21)]
        )
        await wait_until(
            lambda: running.service.counters.write_retries >= 2, "failed writes being retried"
        )
        own_influxdb.start()

        async with InfluxClient(config.influxdb) as influx:
            await wait_until(
                lambda: _has(influx, 21), "all 21 readings after InfluxDB came back", within_s=40
            )
            rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
            assert [r["seq"] for r in rows] == list(range(21))
    finally:
        await running.shutdown()


async def _has(
    influx: InfluxClient, expected: int, measurement: str = "telemetry", field: str = "seq"
) -> bool:
    return await count_points(influx, measurement, field) == expected


async def test_a_point_influxdb_refuses_is_dead_lettered_alone(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
    dead_letters: DeadLetters,
) -> None:
    """Test that InfluxDB's 400 for one point of a batch dead-letters that point with its error and writes the rest."""
    # Someone wrote temp_c as text an hour ago: InfluxDB 1.x checks field types per
    # shard (a week), so any float temp_c near it now conflicts.
    now = time.time()
    hour_ago_ns = round((now - 3600) * 1e9)
    await influx.write(
        [f'telemetry,device=solder-1,site={site_config.site.id} temp_c="hot" {hour_ago_ns}']
    )
    readings = [{"ts": round(now - 30 + i, 3), "seq": i, "power_w": 10.0 + i} for i in range(5)]
    readings[2]["temp_c"] = 350.0  # only this one carries the conflicting field
    await publish(
        mosquitto.port, [(telemetry_topic(site_config), json.dumps({"v": 1, "readings": readings}))]
    )
    await wait_until(lambda: len(dead_letters.records) == 1, "one dead letter")
    [letter] = dead_letters.records
    assert letter["reason"] == "influx_rejected"
    assert "field type conflict" in letter["error"]
    assert f"{round((now - 28) * 1000)} ms" in letter["error"], "names the refused point"
    await wait_until(lambda: ingest.service.counters.messages_stored == 1, "the message settled")
    rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
    assert [r["seq"] for r in rows] == [0, 1, 3, 4]
