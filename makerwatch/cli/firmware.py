"""`makerwatch firmware deploy | update`: compile the board's firmware and copy it to a board
over USB, or send it to boards over MQTT."""

from __future__ import annotations

import argparse
import asyncio
import shlex
from pathlib import Path

from makerwatch.cli.board import add_broker, broker
from makerwatch.cli.options import AddCommand, add_config, load
from makerwatch.core.errors import ConfigError


def add_commands(add: AddCommand) -> None:
    firmware = add("firmware", help="board firmware tools (pip install 'makerwatch[board]')")
    firmware_commands = firmware.add_subparsers(dest="firmware_command", required=True)
    deploy = firmware_commands.add_parser(
        "deploy", help="compile the firmware with mpy-cross and copy it to a board with mpremote"
    )
    deploy.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    deploy.add_argument("--device", required=True, help="the device id in the site file")
    add_config(deploy)
    deploy.add_argument("--secrets", type=Path, default=Path("board-secrets.yaml"), metavar="FILE",
                        help="Wi-Fi and broker settings (default: board-secrets.yaml)")  # fmt: skip
    deploy.add_argument("--build", type=Path, default=Path("var/firmware-build"), metavar="DIR",
                        help="where the compiled files go (default: var/firmware-build)")  # fmt: skip
    deploy.add_argument("--credentials", type=Path, default=Path("var/broker/credentials"), metavar="DIR",
                        help="the board's broker credentials from `makerwatch broker provision`")  # fmt: skip
    deploy.add_argument(
        "--dry-run", action="store_true", help="build, print the mpremote command, copy nothing"
    )
    deploy.set_defaults(handler=_deploy)

    update = firmware_commands.add_parser(
        "update", help="send the firmware to boards over MQTT; each checks, switches and "
        "goes back on its own if the new version does not connect",
    )  # fmt: skip
    which = update.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", action="append", metavar="ID",
                       help="a device id in the site file (again for more)")  # fmt: skip
    which.add_argument("--all", action="store_true", help="every device in the site file")
    update.add_argument("--at-once", type=int, default=1, metavar="N",
                        help="boards updated at the same time (default: 1)")  # fmt: skip
    update.add_argument("--build", type=Path, default=Path("var/firmware-build/update"), metavar="DIR",
                        help="where the compiled files go (default: var/firmware-build/update)")  # fmt: skip
    add_broker(update)
    update.set_defaults(handler=_update)


def _deploy(args: argparse.Namespace) -> int:
    from makerwatch.ops import firmware_deploy

    config = load(args.config)
    secrets = firmware_deploy.load_secrets(args.secrets)
    secrets = firmware_deploy.with_credentials(
        secrets, args.credentials, config.site.id, args.device
    )
    command = firmware_deploy.deploy(
        config, args.device, secrets, args.port, args.build, dry_run=args.dry_run
    )
    print(f"built {args.device!r} for site {config.site.id!r} in {args.build}")
    if args.dry_run:
        print("would run: " + " ".join(shlex.quote(part) for part in command))
    else:
        print(f"copied to the board on {args.port}; it is restarting")
    return 0


def _update(args: argparse.Namespace) -> int:
    from firmware.core.agent import FW_VERSION
    from makerwatch.ops import firmware_deploy, firmware_update
    from makerwatch.ops.provision import board_user

    config = load(args.config)
    if args.at_once < 1:
        raise ConfigError(f"--at-once {args.at_once}: must be 1 or more")
    devices = [d.id for d in config.devices if d.source is None] if args.all else args.device
    for device in devices:
        if config.device(device) is None:
            known = ", ".join(d.id for d in config.devices)
            raise ConfigError(
                f"device {device!r} is not in site {config.site.id!r} (devices: {known})"
            )
    keys = [
        (d, firmware_update.update_key(args.credentials, board_user(config.site.id, d)))
        for d in devices
    ]
    firmware_deploy.compile_package(args.build)
    files = firmware_update.built_files(args.build)
    host, port, user, password = broker(args, config)
    outcomes = asyncio.run(
        firmware_update.update_boards(
            host, port, config.site.id, keys, FW_VERSION, files,
            lambda device, line: print(f"{device}: {line}", flush=True),
            at_once=args.at_once, username=user, password=password,
        )
    )  # fmt: skip
    failed = [o.device for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} boards run firmware {FW_VERSION}"
          + (f"; still on their old version: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0
