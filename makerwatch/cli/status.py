"""`makerwatch status`: is the site working? Its health, active alerts and machines."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from makerwatch.cli.options import (
    DEFAULT_HTTP,
    AddCommand,
    add_config,
    add_data,
    host_port,
    load,
    stack_in_use,
)
from makerwatch.cli.status_texts import HEALTH_CHECKS, HEALTH_ERRORS, STATUS_TEXTS
from makerwatch.core.errors import ConfigError, UnreachableError
from makerwatch.core.site_config import LANGUAGES

if TYPE_CHECKING:
    from makerwatch.core.site_config import Language


def add_commands(add: AddCommand) -> None:
    status = add("status", help="is the site working? its health and active alerts")
    status.add_argument("--http", metavar="HOST:PORT",
                        help="ingest's HTTP API (default: the running makerwatch up's, else the "
                             f"site file's, else {DEFAULT_HTTP})")  # fmt: skip
    status.add_argument("--token", default=os.environ.get("MAKERWATCH_TOKEN"),
                        help="a staff token (default: $MAKERWATCH_TOKEN): names the member at "
                             "each machine, where the site file shows names")  # fmt: skip
    status.add_argument("--lang", choices=LANGUAGES,
                        help="the language to print in (default: the site's)")  # fmt: skip
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
    host, port = host_port(_address(args), "--http")
    base = f"http://{host}:{port}"
    health, alerts, floor = _fetch(base, args.token)
    language: Language = args.lang or floor.get("language", "en")
    print_health(base, health, language)
    if alerts:
        print(STATUS_TEXTS["alerts"][language].format(count=len(alerts)))
    else:
        print(STATUS_TEXTS["no_alerts"][language])
    for alert in alerts:
        print(f"  {alert['message'].splitlines()[0]}")
    print_machines(floor, language)
    return 0 if health.get("healthy") else 1


def _fetch(
    base: str, token: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """/healthz, /alerts and /machines (named with a staff token) from the running ingest."""
    import httpx

    try:
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        alerts = httpx.get(f"{base}/alerts", timeout=10).json()["alerts"]
        staff = {"Authorization": f"Bearer {token}"} if token else {}
        machines = httpx.get(f"{base}/machines", headers=staff, timeout=10)
        floor = machines.json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise UnreachableError(f"no Makerwatch answering at {base}: {exc}") from None
    if machines.status_code in (401, 429):
        raise ConfigError(f"--token: {base}/machines refused it: {floor.get('error')}")
    return health, alerts, floor


def print_health(base: str, health: dict[str, Any], language: Language) -> None:
    """Whether the server works, each of /healthz's checks, its queue and its reasons."""
    state = STATUS_TEXTS["healthy" if health.get("healthy") else "not_healthy"][language]
    print(STATUS_TEXTS["site"][language].format(base=base, state=state))
    marks = {True: STATUS_TEXTS["ok"][language], False: STATUS_TEXTS["no"][language]}
    width = max(len(mark) for mark in marks.values())
    for key, label in HEALTH_CHECKS.items():
        print(f"  {marks[bool(health.get(key))]:<{width}}  {label[language]}")
    waiting = STATUS_TEXTS["waiting"][language].format(
        messages=health.get("unacknowledged_messages", 0), bytes=health.get("spool_bytes", 0)
    )
    print(f"  {waiting}")
    for key, label in HEALTH_ERRORS.items():
        if health.get(key):
            print(f"  {label[language]}: {health[key]}")


def print_machines(floor: dict[str, Any], language: Language | None = None) -> None:
    """Each machine as the floor board shows it, in the site's language (or `language`)
    and time: its state, since when it is on (or since when there is no signal), its last
    message."""
    from makerwatch.core.vocabulary import STATE_NAMES

    shown: Language = language or floor.get("language", "en")
    line = _Line(shown, floor.get("timezone", "UTC"), floor["now_ms"])
    # The names' column as wide as the longest, so every state starts in one column.
    width = max([28, *(len(line.name(machine)) for machine in floor["machines"])])
    print(STATUS_TEXTS["machines"][shown] + ":")
    for machine in floor["machines"]:
        state = STATE_NAMES[machine["state"]][line.language]
        detail = " · ".join(line.words(machine))
        print(
            f"  {machine['device']:<16} {line.name(machine):<{width}} {state:<18} {detail}  {line.heard(machine)}".rstrip()
        )


class _Line:
    """The words of one machine's line, as the board's tile says them."""

    def __init__(self, language: Language, timezone: str, now_ms: int) -> None:
        self.language, self.timezone, self.now_ms = language, timezone, now_ms

    def text(self, key: str, **fields: str) -> str:
        from makerwatch.api.board_texts import BOARD_TEXTS

        return BOARD_TEXTS[key][self.language].format(**fields)

    def name(self, machine: dict[str, Any]) -> str:
        return str(machine["names"].get(self.language) or machine["device"])

    def span(self, seconds: float) -> str:
        from makerwatch.core.time_words import span

        return span(seconds, self.language)

    def at(self, ms: int) -> str:
        from makerwatch.core.time_words import local_time

        return local_time(ms, self.timezone, self.now_ms)

    def words(self, machine: dict[str, Any]) -> list[str]:
        """Since when there is no signal and what it was, or since when it is on (and by
        whom) and for how long; the firmware the board runs (its birth message)."""
        from makerwatch.core.vocabulary import STATE_NAMES

        words = []
        if machine["state"] == "no_signal":
            if machine.get("no_signal_since_ms"):
                words.append(
                    self.text("no_signal_since", at=self.at(machine["no_signal_since_ms"]))
                )
            if machine.get("was"):
                was = STATE_NAMES[machine["was"]][self.language].lower()
                words.append(self.text("was", state=was))
        elif machine["state"] != "never_heard":
            from makerwatch.core.time_words import on_since_line

            on = on_since_line(self.language, self.timezone, self.now_ms,
                               on_since_ms=machine.get("on_since_ms"),
                               since_ms=machine.get("since_ms"), who=machine.get("in_use_by"))  # fmt: skip
            words += [on] if on else []
        if machine.get("fw"):
            words.append(self.text("firmware", fw=machine["fw"]))
        return words

    def heard(self, machine: dict[str, Any]) -> str:
        if machine["last_seen_ms"] is None:
            return ""
        age_s = (self.now_ms - machine["last_seen_ms"]) / 1000
        return self.text("now") if age_s < 5 else self.text("seen", duration=self.span(age_s))
