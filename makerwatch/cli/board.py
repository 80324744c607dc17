"""`makerwatch board calibrate`: correct a board's current or temperature from the floor."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, host_port, load
from makerwatch.core.errors import ConfigError
from makerwatch.core.protocol import CalibrateCommand
from makerwatch.core.site_config import SiteConfig

DEFAULT_CREDENTIALS = Path("var/broker/credentials")


def add_commands(add: AddCommand) -> None:
    board = add("board", help="work on one board from the server")
    board_commands = board.add_subparsers(dest="board_command", required=True)
    calibrate = board_commands.add_parser(
        "calibrate",
        help="correct the board's current clamp against a known load on now, or its "
        "temperature against a reference; the board keeps the correction",
    )
    calibrate.add_argument("device", help="the device id in the site file")
    what = calibrate.add_mutually_exclusive_group(required=True)
    what.add_argument("--known-load", metavar="WATTS",
                      help="the real power of a resistive load plugged in and on, e.g. 60W")  # fmt: skip
    what.add_argument("--reference-temp", metavar="DEGREES",
                      help="what a reference thermometer reads at the sensor, e.g. 25C")  # fmt: skip
    add_broker(calibrate)
    calibrate.set_defaults(handler=_calibrate)


def add_broker(parser: argparse.ArgumentParser) -> None:
    """The broker and the fleet tools' login, for `board` and `firmware update`."""
    add_config(parser)
    parser.add_argument("--mqtt", metavar="HOST:PORT",
                        help="the MQTT broker (default: the site file's)")  # fmt: skip
    parser.add_argument("--credentials", type=Path, default=DEFAULT_CREDENTIALS, metavar="DIR",
                        help="`makerwatch broker provision`'s credentials: the fleet login and "
                        f"each board's update key (default: {DEFAULT_CREDENTIALS})")  # fmt: skip


def broker(args: argparse.Namespace, config: SiteConfig) -> tuple[str, int, str | None, str | None]:
    """(host, port, user, password): the fleet login when the broker is provisioned."""
    if args.mqtt is not None:
        host, port = host_port(args.mqtt, "--mqtt")
    else:
        host, port = config.mqtt.host, config.mqtt.port
    path = args.credentials / "fleet.json"
    if not path.exists():
        return host, port, None, None  # a broker without logins (a test or demo broker)
    try:
        login = json.loads(path.read_text(encoding="utf-8"))
        return host, port, str(login["mqtt_user"]), str(login["mqtt_password"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{path}: not a credentials file from `makerwatch broker provision`"
        ) from None


def _calibrate(args: argparse.Namespace) -> int:
    from makerwatch.ops.board_calibrate import calibrate, parse_quantity

    config = load(args.config)
    if config.device(args.device) is None:
        known = ", ".join(d.id for d in config.devices)
        raise ConfigError(
            f"device {args.device!r} is not in site {config.site.id!r} (devices: {known})"
        )
    if args.known_load is not None:
        command = CalibrateCommand(
            v=1, known_w=parse_quantity(args.known_load, "W", "--known-load")
        )
    else:
        command = CalibrateCommand(
            v=1, reference_c=parse_quantity(args.reference_temp, "C", "--reference-temp")
        )
    host, port, user, password = broker(args, config)
    applied = asyncio.run(
        calibrate(
            host, port, config.site.id, args.device, command, username=user, password=password
        )
    )
    key, value = applied.split(" ")[:2]
    print(f"{args.device}: {applied}; kept in its settings.json")
    print(f"so that a deploy keeps it, set `{key}: {value}` in the device's board: section")
    return 0
