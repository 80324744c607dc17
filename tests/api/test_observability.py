"""/metrics counts exactly what a test sent and broke; /healthz says when a dependency is gone."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.cli.status_texts import HEALTH_CHECKS, STATUS_TEXTS
from makerwatch.core.time_words import local_time
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
        language, zone = config.alerts.language, config.site.timezone
        said = {key: words[language] for key, words in STATUS_TEXTS.items()}
        site = said["site"].format(base=f"http://127.0.0.1:{port}", state=said["healthy"])
        assert site in healthy.stdout, healthy.stdout
        assert said["no_alerts"] in healthy.stdout
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
        assert said["not_healthy"] in broken.stdout
        assert re.search(rf"^  {said['no']} +{HEALTH_CHECKS['influxdb_reachable'][language]}$",
                         broken.stdout, re.M), broken.stdout  # fmt: skip
    finally:
        await running.shutdown()


async def test_healthz_answers_with_the_reason_while_influxdb_hangs(
    mosquitto: EmbeddedMosquitto,
    own_influxdb: EmbeddedInfluxDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that with InfluxDB frozen (SIGSTOP: it accepts connections and never answers)
    /healthz answers on the ping's own short timeout with the reason, though writes would
    wait an hour; and that a log line says when InfluxDB is back."""
    port = free_port()
    config = make_config(mosquitto.port, own_influxdb.url, http_port=port)
    config = config.model_copy(
        update={"influxdb": config.influxdb.model_copy(update={"timeout_s": 3600})}
    )
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    caplog.set_level(logging.INFO)
    running = await start_ingest(config)
    assert own_influxdb.pid is not None
    try:
        os.kill(own_influxdb.pid, signal.SIGSTOP)
        await publish(
            mosquitto.port,
            [(topic, json.dumps({"v": 1, "ts": time.time(), "seq": 1, "power_w": 5.0}))],
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3600) as http:
            health = await http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["influxdb_reachable"] is False
        assert health.json()["influxdb_ping_error"] == "not reachable: timeout"
    finally:
        os.kill(own_influxdb.pid, signal.SIGCONT)
    try:
        await wait_until(
            lambda: running.service.counters.messages_stored == 1, "the reading stored"
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/healthz")
        assert "influxdb_ping_error" not in health.json()
    finally:
        await running.shutdown()


async def test_replayed_batches_count_batches_and_influxdb_back_is_logged(
    tmp_path: Path,
    mosquitto: EmbeddedMosquitto,
    own_influxdb: EmbeddedInfluxDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that every spooled batch counts as replayed once written (one large write
    replays many: it counted 1 of 44), and that a log line says InfluxDB is back."""
    config = make_config(mosquitto.port, own_influxdb.url, spool_dir=str(tmp_path / "spool"))
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    caplog.set_level(logging.INFO)
    running = await start_ingest(config)
    counters = running.service.counters
    try:
        own_influxdb.stop()
        for seq in range(6):  # one at a time: a batch each
            reading = {"v": 1, "ts": time.time(), "seq": seq, "power_w": 5.0}
            await publish(mosquitto.port, [(topic, json.dumps(reading))])
            await wait_until(lambda s=seq: counters.messages_stored == s + 1, "the reading spooled")
        spooled = counters.spooled_batches
        assert spooled >= 2
        own_influxdb.start()
        await wait_until(lambda: counters.replayed_batches == spooled, "every batch replayed")
        assert running.service.spool is not None
        assert not running.service.spool.pending
        back = [r.getMessage() for r in caplog.records if "is back" in r.getMessage()]
        assert back == [f"InfluxDB at {own_influxdb.url} is back: writes work again"]
    finally:
        await running.shutdown()
