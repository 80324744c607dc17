"""`makerwatch service install`: run a site (`up --lan`) as a systemd service."""

from __future__ import annotations

import argparse
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, load, site_file


def add_commands(add: AddCommand) -> None:
    service = add("service", help="run a site as a systemd service")
    service_commands = service.add_subparsers(dest="service_command", required=True)
    install = service_commands.add_parser("install", help="write the systemd unit for `up --lan`")
    add_config(install)
    install.add_argument("--data", type=Path, default=Path("/var/lib/makerwatch"), metavar="DIR",
                         help="the site's data folder (default: /var/lib/makerwatch)")  # fmt: skip
    install.add_argument("--user", help="the user it runs as (default: you)")
    install.add_argument("--out", type=Path, default=Path("/etc/systemd/system"), metavar="DIR",
                         help="where the unit goes (default: /etc/systemd/system)")  # fmt: skip
    install.set_defaults(handler=_install)


def _install(args: argparse.Namespace) -> int:
    import getpass

    from makerwatch.ops.service import UNIT_NAME, unit_text

    config_path = site_file(args.config).resolve()
    config = load(config_path)
    data = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    unit = args.out / UNIT_NAME
    unit.write_text(unit_text(config_path, data, args.user or getpass.getuser(), config.site.id))
    print(f"wrote {unit}; start it now and at every boot with:")
    print("  systemctl daemon-reload && systemctl enable --now makerwatch")
    print("  journalctl -u makerwatch -f     # its log")
    return 0
