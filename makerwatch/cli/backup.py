"""`makerwatch backup` and `makerwatch restore`: a running site's data folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, stack_in_use


def add_commands(add: AddCommand) -> None:
    back_up = add("backup", help="back up a running site (`up`'s data folder)")
    back_up.add_argument("--data", type=Path, default=Path("var"), metavar="DIR",
                         help="the site's data folder, where makerwatch up runs (default: var)")  # fmt: skip
    back_up.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new folder for the backup"
    )
    add_config(back_up)  # the site file goes with the backup (default: the running up's)
    back_up.set_defaults(handler=_backup)
    restore = add("restore", help="restore a backup into a new data folder")
    restore.add_argument(
        "--from", dest="source", type=Path, required=True, metavar="DIR", help="the backup"
    )
    restore.add_argument(
        "--data", type=Path, required=True, metavar="DIR", help="a new data folder"
    )
    restore.add_argument("--broker-configuration", action="store_true",
                         help="take the broker's mosquitto.conf, ACL and password file from the backup too")  # fmt: skip
    restore.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace) -> int:
    from makerwatch.ops.backup import backup

    stack = stack_in_use(args)  # says which running up is backed up
    config = args.config
    if config is None and stack is not None and stack.config is not None:
        config = Path(stack.config)
    for saved in backup(args.data, args.out, config):
        print(f"saved {saved}")
    print(
        f"backup of {args.data} in {args.out}; restore it with: makerwatch restore --from {args.out} --data NEW_FOLDER"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from makerwatch.ops.backup import restore

    for notice in restore(args.source, args.data, broker_configuration=args.broker_configuration):
        print(notice)
    from makerwatch.ops.backup import SITE_FILE

    site = args.data / SITE_FILE
    how = f" --config {site}" if site.is_file() else " --config SITE_FILE"
    print(
        f"restored {args.source} into {args.data}; start it with: makerwatch up --data {args.data}{how}"
    )
    return 0
