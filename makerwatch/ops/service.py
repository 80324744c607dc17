"""`makerwatch service install`: a systemd unit that runs a site (`makerwatch up --lan`)
at boot and after a failure, on a mini-PC without Docker."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["UNIT_NAME", "unit_text"]

UNIT_NAME = "makerwatch.service"


def unit_text(config: Path, data: Path, user: str, site: str) -> str:
    """The unit; paths absolute, the Python that runs this command."""
    return f"""# Written by `makerwatch service install`.
[Unit]
Description=Makerwatch for site {site}: broker, InfluxDB, ingest, floor board
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={user}
WorkingDirectory={data}
ExecStart={sys.executable} -m makerwatch.cli up --lan --config {config} --data {data}
# `up` stops ingest (writing what it holds), then its daemons, on SIGTERM: signal it
# alone and give it time; whatever is left after that is killed.
KillMode=mixed
TimeoutStopSec=60
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"""
