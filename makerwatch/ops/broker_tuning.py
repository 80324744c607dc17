"""Broker settings every Makerwatch Mosquitto uses, whoever writes its configuration
(`makerwatch up`, `makerwatch broker provision`, which Compose's broker-setup runs)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tuning"]


def tuning(data_dir: Path) -> str:
    return f"""persistence true
persistence_location {data_dir}/
# Mosquitto writes its whole store at each save: killed without warning (a power
# cut, SIGKILL), it loses what arrived since the last one, at most 5 s of queued
# messages. A clean stop (SIGTERM) saves everything.
autosave_interval 5
# A client with a persistent session that has not come back in two weeks is
# forgotten, with its subscriptions and queue (ingest's own session expiry is 7 days).
persistent_client_expiration 14d
# No board message comes near this; a 32 MB publish is refused at the door
# (ingest's own limit for a payload is 256 KiB; this is the whole MQTT packet).
max_packet_size 300000
# Messages kept for a persistent session (ingest) while it is away; Mosquitto's
# default of 1000 is under an hour of one site's telemetry.
max_queued_messages 200000
# What one client may hold, whoever it is (each applies per client). 200,000 queued
# readings are about 20 MB; without a byte limit, as many packets of the largest
# size would be 60 GB.
max_queued_bytes 268435456
# Unacknowledged QoS 1 messages out to one client (Mosquitto's default, written
# down): a client that stops acknowledging holds 20, the rest wait in its queue.
max_inflight_messages 20
# Mosquitto 2.0 has no limit on the number of subscriptions one client holds; each
# SUBSCRIBE is bounded by max_packet_size, and a board's are delivered nothing
# outside its own topics (the ACL). A board gets no persistent session worth
# filling: nothing is queued for it but its own commands and config.
# Ingest acknowledges a message only after writing it, so its TCP ACKs are
# delayed; with Nagle's algorithm on, every next message to it would wait ~40 ms.
set_tcp_nodelay true
# stderr, not stdout: Mosquitto leaves stdout to the C library's buffering, so into a
# file or a pipe (`up`'s mosquitto.log, Docker's log) its lines came at exit; stderr
# is unbuffered, each line written as it happens.
log_dest stderr
log_type error
log_type warning
log_type notice
"""
