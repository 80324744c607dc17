"""`makerwatch status`: is the site working? Its health, active alerts and machines."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from makerwatch.cli.options import (
    DEFAULT_HTTP,
    AddCommand,
    add_config,
    add_data,
    host_port,
    load,
    stack_in_use,
)
from makerwatch.core.errors import UnreachableError


def add_commands(add: AddCommand) -> None:
    status = add("status", help="is the site working? its health and active alerts")
    status.add_argument("--http", metavar="HOST:PORT",
                        help="ingest's HTTP API (default: the running makerwatch up's, else the "
                             f"site file's, else {DEFAULT_HTTP})")  # fmt: skip
    add_config(status)
    add_data(status)
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    try:
        return _show_status(args)
    except BrokenPipeError:  # `makerwatch status | head`: the reader has what it wanted
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _address(args: argparse.Namespace) -> str:
    """--http, else the running `up`'s, else the site file's HTTP API, else up's default."""
    if args.http is not None:
        return str(args.http)
    stack = stack_in_use(args)
    if stack is not None:
        return stack.http
    if args.config is not None:
        ingest = load(args.config).ingest
        if ingest.http_port:
            shown = "127.0.0.1" if ingest.http_host in ("0.0.0.0", "::") else ingest.http_host
            return f"{shown}:{ingest.http_port}"
    return DEFAULT_HTTP


def _show_status(args: argparse.Namespace) -> int:
    import httpx

    host, port = host_port(_address(args), "--http")
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
    for error in ("influxdb_ping_error", "influxdb_error", "spool_error"):
        if health.get(error):
            print(f"  {error.replace('_', ' ')}: {health[error]}")
    print(f"{len(alerts)} active alert(s)" + (":" if alerts else ""))
    for alert in alerts:
        print(f"  {alert['message'].splitlines()[0]}")
    print_machines(floor)
    return 0 if health.get("healthy") else 1


def print_machines(floor: dict[str, Any]) -> None:
    """Each machine as the floor board shows it, in the site's language and time: its
    state, since when it is on (or since when there is no signal), its last message."""
    from makerwatch.alerts.texts import duration, local_time
    from makerwatch.api.board_texts import BOARD_TEXTS
    from makerwatch.core.vocabulary import STATE_NAMES

    language = floor.get("language", "en")
    timezone = floor.get("timezone", "UTC")
    now_ms = floor["now_ms"]

    def text(key: str, **fields: str) -> str:
        return BOARD_TEXTS[key][language].format(**fields)

    def name_of(machine: dict[str, Any]) -> str:
        return str(machine["names"].get(language) or machine["device"])

    # The names' column as wide as the longest, so every state starts in one column.
    width = max([28, *(len(name_of(machine)) for machine in floor["machines"])])
    print("Machines:")
    for machine in floor["machines"]:
        state = machine["state"]
        words = []
        if state == "no_signal":
            if machine.get("no_signal_since_ms"):
                at = local_time(machine["no_signal_since_ms"], timezone, now_ms)
                words.append(text("no_signal_since", at=at))
            if machine.get("was"):
                words.append(text("was", state=STATE_NAMES[machine["was"]][language].lower()))
        elif state != "never_heard":
            if machine.get("on_since_ms"):
                at = local_time(machine["on_since_ms"], timezone, now_ms)
                who = machine.get("in_use_by")  # a member's short name, when names are shown
                words.append(text("in_use_by", at=at, who=who) if who else text("on_since", at=at))
            if machine.get("since_ms"):
                words.append(
                    text("for", duration=duration((now_ms - machine["since_ms"]) / 1000, language))
                )
        if machine.get("fw"):  # what the board runs (its birth message), as after an update
            words.append(text("firmware", fw=machine["fw"]))
        seen = machine["last_seen_ms"]
        heard = (
            ""
            if seen is None
            else text("seen", duration=duration(max(0, now_ms - seen) / 1000, language))
        )
        detail = " · ".join(words)
        print(
            f"  {machine['device']:<16} {name_of(machine):<{width}} {STATE_NAMES[state][language]:<18} {detail}  {heard}".rstrip()
        )
