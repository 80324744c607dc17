"""`makerwatch status`: is the site working? Its health, active alerts and machines."""

from __future__ import annotations

import argparse

from makerwatch.cli.options import DEFAULT_HTTP, AddCommand, host_port
from makerwatch.core.errors import UnreachableError


def add_commands(add: AddCommand) -> None:
    status = add("status", help="is the site working? its health and active alerts")
    status.add_argument("--http", default=DEFAULT_HTTP, metavar="HOST:PORT",
                        help=f"ingest's HTTP API (default: {DEFAULT_HTTP}; `up --lan`: 127.0.0.1:8090)")  # fmt: skip
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    import httpx

    host, port = host_port(args.http, "--http")
    base = f"http://{host}:{port}"
    try:
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        alerts = httpx.get(f"{base}/alerts", timeout=10).json()["alerts"]
        floor = httpx.get(f"{base}/machines", timeout=10).json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise UnreachableError(f"no Makerwatch answering at {base}: {exc}") from None
    state = "healthy" if health.get("healthy") else "NOT HEALTHY"
    print(f"Makerwatch at {base}: {state}")
    checks = (("mqtt_connected", "broker connected"), ("influxdb_reachable", "InfluxDB reachable"),
              ("influxdb_writable", "InfluxDB writable"), ("spool_writable", "spool writable"))  # fmt: skip
    for key, label in checks:
        print(f"  {'ok ' if health.get(key) else 'NO '} {label}")
    print(f"  {health.get('unacknowledged_messages', 0)} messages waiting, "
          f"{health.get('spool_bytes', 0)} bytes in the spool")  # fmt: skip
    for error in ("influxdb_error", "spool_error"):
        if health.get(error):
            print(f"  {error.replace('_', ' ')}: {health[error]}")
    print(f"{len(alerts)} active alert(s)" + (":" if alerts else ""))
    for alert in alerts:
        print(f"  {alert['message'].splitlines()[0]}")
    print("Machines (state, last message):")
    for machine in floor["machines"]:
        seen = machine["last_seen_ms"]
        ago = "never" if seen is None else f"{max(0, floor['now_ms'] - seen) / 1000:.0f} s ago"
        print(f"  {machine['device']:<16} {machine['state']:<8} {ago}")
    return 0 if health.get("healthy") else 1
