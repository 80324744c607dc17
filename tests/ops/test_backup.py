"""Backup of a running site and restore into a fresh folder, with the real InfluxDB."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from makerwatch.ops.embedded import EmbeddedInfluxDB, free_port
from tests.ops.test_up import EXAMPLE, influx_cli, run_up, wait_for
from tests.support import WAIT_TIMEOUT_S

QUERIES = (
    "SELECT * FROM telemetry",
    "SELECT * FROM state",
    "SELECT * FROM usage",
    "SHOW MEASUREMENTS",
    'SHOW TAG VALUES FROM telemetry WITH KEY = "device"',
)


def makerwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "makerwatch.cli", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_backup_of_a_running_site_restores_to_identical_results(tmp_path: Path) -> None:
    """Test that `backup` of `up` while it runs, restored with `restore` into a new folder,
    answers every query exactly as the running site did."""
    stack = run_up(tmp_path, free_port(), free_port(), "--no-sim")
    try:
        wait_for(lambda: "subscribed to" in stack.text() or stack.process.poll() is not None, "up")
        now = time.time()
        messages = [("telemetry", {"v": 1, "ts": now - 60 + i, "seq": i, "power_w": 40.0 + i, "temp_c": 300.5})
                    for i in range(1, 6)]  # fmt: skip
        messages.append(
            (
                "state",
                {
                    "v": 1,
                    "ts": now,
                    "seq": 9,
                    "state": "off",
                    "previous": "active",
                    "previous_duration_s": 1800,
                },
            )
        )
        for kind, body in messages:
            subprocess.run(["mosquitto_pub", "-p", str(stack.mqtt_port), "-q", "1", "-t",
                            f"makerspace/aktobe/solder-1/{kind}", "-m", json.dumps(body)],
                           check=True, timeout=10)  # fmt: skip
        wait_for(
            lambda: len(influx_cli(stack, "SELECT * FROM usage")) >= 2,
            "the readings and usage stored",
        )
        before = {query: influx_cli(stack, query) for query in QUERIES}

        made = makerwatch("backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "backup"),
                          "--config", str(EXAMPLE))  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "saved InfluxDB" in made.stdout
        assert (tmp_path / "backup" / "spool").is_dir()
        again = makerwatch(
            "backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "backup")
        )
        assert again.returncode == 1
        assert "not empty" in again.stderr
    finally:
        stack.process.send_signal(signal.SIGTERM)
        stack.process.wait(WAIT_TIMEOUT_S)

    restored = makerwatch(
        "restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "new")
    )
    assert restored.returncode == 0, restored.stderr
    with EmbeddedInfluxDB(free_port(), tmp_path / "new" / "influxdb") as influxdb:
        stack.influx_port = influxdb.port
        after = {query: influx_cli(stack, query) for query in QUERIES}
    assert after == before
    assert len(after["SELECT * FROM telemetry"]) == 5
    assert (tmp_path / "new" / "makerspace.yaml").read_text() == EXAMPLE.read_text()
    twice = makerwatch(
        "restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "new")
    )
    assert twice.returncode == 1
    assert "already holds a site" in twice.stderr


def test_backup_without_a_running_site_is_one_line(tmp_path: Path) -> None:
    """Test that backing up a folder with no site, or restoring a non-backup, says so."""
    result = makerwatch("backup", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "b"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"makerwatch: no InfluxDB of `makerwatch up` in {tmp_path / 'nothing'}"
    )
    result = makerwatch("restore", "--from", str(tmp_path), "--data", str(tmp_path / "new"))
    assert result.returncode == 1
    assert "is not a backup made by `makerwatch backup`" in result.stderr
