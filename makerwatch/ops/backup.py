"""`makerwatch backup` and `makerwatch restore`: a running site's InfluxDB (InfluxDB's own
online, portable backup), its broker's passwords and ACLs, and the spool of batches
not yet written, into a folder; and back into a fresh data folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from makerwatch import __version__
from makerwatch.core.errors import ToolError
from makerwatch.ops.embedded import EmbeddedInfluxDB, free_port
from makerwatch.ops.system_tools import system_tool

__all__ = ["backup", "restore"]

KEPT_AS_FILES = ("broker", "spool")  # copied as they are, next to the database
SITE_FILE = "makerspace.yaml"
TIMEOUT_S = 3600.0


def _rpc_address(influx_dir: Path) -> str:
    """Where the running InfluxDB of `makerwatch up --data` takes backups."""
    try:
        config = (influx_dir / "influxdb.conf").read_text(encoding="utf-8")
    except OSError:
        raise ToolError(f"no InfluxDB of `makerwatch up` in {influx_dir.parent}") from None
    match = re.search(r'^bind-address = "([^"]+)"', config, re.M)
    if match is None or match[1].endswith(":0"):
        raise ToolError(f"{influx_dir}/influxdb.conf names no backup port: restart `makerwatch up`")
    return match[1]


def _influxd(*args: str) -> None:
    result = subprocess.run(
        [system_tool("influxd", "influxdb"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        raise ToolError(f"influxd {args[0]} failed: {' '.join(last) or result.returncode}")


def backup(data: Path, out: Path, site_file: Path | None = None) -> list[str]:
    """Back up the site running from `data` (and its site file) into `out` (new or
    empty); what was saved."""
    address = _rpc_address(data / "influxdb")
    if out.exists() and any(out.iterdir()):
        raise ToolError(f"{out} is not empty: back up into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    try:
        _influxd("backup", "-portable", "-host", address, str(out / "influxdb"))
    except ToolError as exc:
        raise ToolError(f"{exc} (is `makerwatch up --data {data}` running?)") from None
    saved = ["InfluxDB (every database, portable format)"]
    for name in KEPT_AS_FILES:
        if (data / name).is_dir():
            shutil.copytree(data / name, out / name)
            saved.append(f"{name}/")
    if site_file is not None:
        shutil.copy2(site_file, out / SITE_FILE)
        saved.append(f"the site file ({site_file})")
    manifest = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "makerwatch": __version__,
        "data": str(data.resolve()),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return saved


def restore(source: Path, data: Path) -> None:
    """Restore a backup into `data`, a folder with no site in it yet."""
    if not (source / "manifest.json").is_file() or not (source / "influxdb").is_dir():
        raise ToolError(f"{source} is not a backup made by `makerwatch backup`")
    if (data / "influxdb").exists():
        raise ToolError(f"{data} already holds a site: restore into a new folder")
    with EmbeddedInfluxDB(free_port(), data / "influxdb") as influxdb:
        _influxd(
            "restore",
            "-portable",
            "-host",
            f"127.0.0.1:{influxdb.rpc_port}",
            str(source / "influxdb"),
        )
    for name in KEPT_AS_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, data / name)
    if (source / SITE_FILE).is_file():
        shutil.copy2(source / SITE_FILE, data / SITE_FILE)
