"""Broker settings every Makerwatch Mosquitto uses, whoever writes its configuration
(`makerwatch up`, `makerwatch broker provision`; broker/mosquitto.conf is checked
against it by tests/test_deployment.py)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tuning"]


def tuning(data_dir: Path) -> str:
    return f"""persistence true
persistence_location {data_dir}/
autosave_interval 30
# Messages kept for a persistent session (ingest) while it is away; Mosquitto's
# default of 1000 is under an hour of one site's telemetry.
max_queued_messages 200000
# Ingest acknowledges a message only after writing it, so its TCP ACKs are
# delayed; with Nagle's algorithm on, every next message to it would wait ~40 ms.
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
log_type notice
"""
