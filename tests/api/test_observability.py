"""/metrics counts exactly what a test sent and broke; /healthz says when a dependency is gone."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time

import httpx

from makerwatch.alerts.texts import local_time
from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.core.vocabulary import STATE_NAMES
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import make_config, publish, start_ingest, wait_until


def metrics(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from Prometheus' text format."""
    values = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if match and not line.startswith("#"):
            values[match.group(1)] = float(match.group(2))
    return values


async def test_metrics_match_what_was_sent_and_health_follows_influxdb(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test the counters after 5 valid and 3 bad messages, then /healthz before and after InfluxDB stops."""
    port = free_port()
    config = make_config(mosquitto.port, own_influxdb.url, http_port=port)
    site = config.site.id
    topic = f"makerspace/{site}/solder-1/telemetry"
    valid = [(topic, json.dumps({"v": 1, "seq": i, "power_w": 10.0 + i})) for i in range(5)]
    bad = [(topic, b'{"v":1,"seq":"x"}'), (topic, b'{"v":1}'), (topic, b"nonsense")]
    ingest = await start_ingest(config)
    try:
        await publish(mosquitto.port, [*valid, *bad])
        await wait_until(
            lambda: ingest.service.counters.messages_stored == 5,
            "the valid messages stored",
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def settled() -> bool:
                got = metrics((await http.get("/metrics")).text)
                return got.get(f'makerwatch_unacknowledged_messages{{site="{site}"}}') == 0

            await wait_until(settled, "every message acknowledged")
            got = metrics((await http.get("/metrics")).text)
            label = f'{{site="{site}"}}'
            assert got[f"makerwatch_messages_received_total{label}"] == 8
            assert got[f"makerwatch_messages_stored_total{label}"] == 5
            assert got[f"makerwatch_points_written_total{label}"] == 5
            assert got[f'makerwatch_dead_lettered_total{{reason="schema",site="{site}"}}'] == 2
            assert got[f'makerwatch_dead_lettered_total{{reason="not_json",site="{site}"}}'] == 1
            assert got[f"makerwatch_mqtt_connected{label}"] == 1
            assert got[f"makerwatch_write_seconds_count{label}"] >= 1

            health = await http.get("/healthz")
            assert health.status_code == 200
            assert health.json()["influxdb_reachable"] is True
            own_influxdb.stop()

            async def unhealthy() -> bool:
                response = await http.get("/healthz")
                return (
                    response.status_code == 503 and response.json()["influxdb_reachable"] is False
                )

            await wait_until(unhealthy, "/healthz to report InfluxDB gone")
    finally:
        await ingest.shutdown()


async def test_the_sponsor_page_says_when_influxdb_cannot_be_read(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test that /sponsors answers 503 with a one-line reason, not a traceback, while
    InfluxDB is away."""
    port = free_port()
    config = make_config(mosquitto.port, f"http://127.0.0.1:{free_port()}", http_port=port)
    running = await start_ingest(config)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            page = await http.get(f"http://127.0.0.1:{port}/sponsors")
        assert page.status_code == 503
        assert "cannot be read from InfluxDB" in page.json()["error"]
        assert "\n" not in page.json()["error"]
    finally:
        await running.shutdown()


async def test_status_says_whether_the_site_works(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test `makerwatch status` against a running ingest: healthy, exit 0; with InfluxDB
    stopped, not healthy, exit 1, naming what fails."""
    port = free_port()
    config = make_config(mosquitto.port, own_influxdb.url, http_port=port)
    running = await start_ingest(config)

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "makerwatch.cli", "status", "--http", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    try:
        healthy = await asyncio.to_thread(status)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert f"Makerwatch at http://127.0.0.1:{port}: healthy" in healthy.stdout
        assert "0 active alert(s)" in healthy.stdout
        language, zone = config.alerts.language, config.site.timezone
        solder, printer = config.devices[0], config.devices[1]
        never = STATE_NAMES["never_heard"][language]
        assert re.search(rf"^  solder-1 +{re.escape(solder.name_in(language))} +{never}$",
                         healthy.stdout, re.M), healthy.stdout  # fmt: skip
        # A machine switched on a while ago: its state and "on since", in site time.
        on_since = time.time() - 3600
        idle = {"v": 1, "ts": time.time() - 600, "state": "idle", "on_since": on_since}
        await publish(
            mosquitto.port, [(f"makerspace/{config.site.id}/solder-1/state", json.dumps(idle))]
        )
        await wait_until(lambda: running.service.floor.tiles["solder-1"].state == "idle", "idle")
        healthy = await asyncio.to_thread(status)
        at = local_time(int(on_since * 1000), zone, int(time.time() * 1000))
        on = BOARD_TEXTS["on_since"][language].format(at=at)
        assert re.search(rf"^  solder-1 +.+ +{STATE_NAMES['idle'][language]} +{on} · ",
                         healthy.stdout, re.M), healthy.stdout  # fmt: skip
        assert re.search(rf"^  printer-1 +{re.escape(printer.name_in(language))} +{never}$",
                         healthy.stdout, re.M), healthy.stdout  # fmt: skip
        own_influxdb.stop()
        broken = await asyncio.to_thread(status)
        assert broken.returncode == 1
        assert "NOT HEALTHY" in broken.stdout
        assert "NO  InfluxDB reachable" in broken.stdout
    finally:
        await running.shutdown()
