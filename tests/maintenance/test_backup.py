"""The maintenance record and the use counted since survive a backup and a restore into
a new data folder: `makerwatch up` and the commands as staff run them, real daemons."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

from makerwatch.ops.embedded import free_port
from tests.ops.test_backup import makerwatch
from tests.ops.test_up import EXAMPLE, Stack, spawn, wait_for
from tests.support import WAIT_TIMEOUT_S

TIP = {"kk": "Ұшын тексеру", "ru": "Проверить жало", "en": "Check the tip"}


def up(tmp_path: Path, site_file: Path, data: Path, http_port: int = 0) -> Stack:
    mqtt_port, influx_port = free_port(), free_port()
    output = tmp_path / f"up-{data.name}.out"
    process = spawn(
        output, "up", "--config", str(site_file), "--data", str(data), "--no-sim",
        "--mqtt", f"127.0.0.1:{mqtt_port}", "--influx", f"http://127.0.0.1:{influx_port}",
        "--http", f"127.0.0.1:{http_port or free_port()}",
    )  # fmt: skip
    stack = Stack(process, output, mqtt_port, influx_port)
    wait_for(lambda: "subscribed to" in stack.text() or process.poll() is not None, "up")
    assert process.poll() is None, stack.text()
    return stack


def stop(stack: Stack) -> None:
    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(WAIT_TIMEOUT_S)


def state(stack: Stack, at_s: float, active_s: float) -> None:
    """solder-1 switched off at `at_s` after `active_s` in use."""
    body = {
        "v": 1,
        "ts": at_s,
        "state": "off",
        "previous": "active",
        "previous_duration_s": active_s,
    }
    subprocess.run(["mosquitto_pub", "-p", str(stack.mqtt_port), "-q", "1", "-t",
                    "makerspace/aktobe/solder-1/state", "-m", json.dumps(body)],
                   check=True, timeout=10)  # fmt: skip


def listed(data: Path) -> list[str]:
    """`makerwatch maintenance list` of the running `up` in `data`: solder-1's line."""
    result = makerwatch("maintenance", "list", "--data", str(data), "--device", "solder-1")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_record_and_the_count_survive_a_backup_and_a_restore(tmp_path: Path) -> None:
    """Test solder-1's tip (every machine-hour) due after 1.5 h of use, recorded done two
    hours ago with `maintenance done --at`, half an hour of use since: the same line in
    `maintenance list` before the backup and after the restore, started anew."""
    site = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    site["maintenance"] = [{"id": "tip", "name": TIP, "devices": ["solder-1"], "every_active_h": 1}]
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    stack = up(tmp_path, site_file, tmp_path / "var")
    now = time.time()
    try:
        state(stack, now - 3 * 3600, 5400)
        due = "solder-1\ttip\tDUE\t1.5 of 1 machine-hours\tnever done\tCheck the tip"
        wait_for(lambda: listed(tmp_path / "var") == [due], "the tip due")

        at = datetime.fromtimestamp(now - 2 * 3600, ZoneInfo("Asia/Aqtobe"))
        done = makerwatch("maintenance", "done", "solder-1", "tip", "--by", "Aigerim",
                          "--at", f"{at:%Y-%m-%d %H:%M}", "--data", str(tmp_path / "var"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        state(stack, now - 60, 1800)
        since = f"solder-1\ttip\tok\t0.5 of 1 machine-hours\tlast done {at:%Y-%m-%d %H:%M} by Aigerim\tCheck the tip"
        wait_for(lambda: listed(tmp_path / "var") == [since], "half an hour since it was done")

        made = makerwatch(
            "backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "backup")
        )
        assert made.returncode == 0, made.stderr
        assert "saved maintenance/" in made.stdout
    finally:
        stop(stack)

    restored = makerwatch(
        "restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "new")
    )
    assert restored.returncode == 0, restored.stderr
    http_port = free_port()
    stack = up(tmp_path, site_file, tmp_path / "new", http_port)
    try:
        assert listed(tmp_path / "new") == [since]
        # The restored site's ingest counts the same from its InfluxDB and record.
        wait_for(
            lambda: machine_page(http_port)[:3] == [0.5, False, "Aigerim"], "the count in ingest"
        )
    finally:
        stop(stack)


def staff_report(tmp_path: Path, done_at: datetime) -> None:
    """`report --staff` has the appendix with the task done, in the report's language; the
    sponsors' report has none of it."""
    month = f"{done_at:%Y-%m}"
    common = ["report", "--month", month, "--data", str(tmp_path / "var"), "--lang", "ru"]
    staff = makerwatch(*common, "--staff", "--out", str(tmp_path / "staff.html"))
    assert staff.returncode == 0, staff.stderr
    page = (tmp_path / "staff.html").read_text(encoding="utf-8")
    assert "Для сотрудников: обслуживание" in page
    assert (f"<tr><td>{done_at:%Y-%m-%d %H:%M}</td><td>Дәнекерлеу станциясы 1, үстел А</td>"
            "<td>Проверить жало</td><td>Aigerim</td></tr>") in page  # fmt: skip
    sponsors = makerwatch(*common, "--out", str(tmp_path / "sponsors.html"))
    assert sponsors.returncode == 0, sponsors.stderr
    assert "Aigerim" not in (tmp_path / "sponsors.html").read_text(encoding="utf-8")


def machine_page(http_port: int) -> list[object]:
    """(used, due, last done by) of solder-1's tip, as the machine page reads them."""
    answer = httpx.get(f"http://127.0.0.1:{http_port}/machines/solder-1/maintenance", timeout=10)
    [tip] = answer.json()["tasks"]
    return [tip["used"], tip["due"], tip["last_done_by"]]
