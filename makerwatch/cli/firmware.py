"""`makerwatch firmware deploy`: compile the board's firmware and copy it to a board."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, load


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
