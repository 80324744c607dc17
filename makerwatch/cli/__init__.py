"""`makerwatch`: the one command line for every Makerwatch task."""

from __future__ import annotations

from makerwatch.cli import signals

# Before the other imports, which take a moment: Ctrl-C while they load is quiet too.
signals.leave_quietly_while_importing()

import argparse
import sys
import traceback

from makerwatch.cli import (
    backup,
    board,
    broker,
    config,
    dashboards,
    data,
    firmware,
    ingest,
    maintenance,
    members,
    report,
    schema,
    service,
    simulate,
    staff,
    status,
    up,
)
from makerwatch.core.errors import MakerwatchError
from makerwatch.core.logs import setup as setup_logging

__all__ = ["build_parser", "main"]

# Each module adds its commands, their arguments beside their handlers; in this order
# `makerwatch --help` lists them.
COMMANDS = (config, ingest, up, staff, report, dashboards, simulate, firmware, board, broker,
            status, data, backup, service, schema, members, maintenance)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="makerwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text for a terminal, json for one object per line (default: text)")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_commands(commands.add_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command: a known failure is one line and exit 1, Ctrl-C exit 130, a fault
    of ours one line too (the traceback with -v) and exit 70."""
    signals.interrupt_on_ctrl_c()
    try:  # building the parser takes a moment too: Ctrl-C there is as quiet as later
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        return signals.INTERRUPTED
    setup_logging(args.verbose, args.log_format)
    try:
        code: int = args.handler(args)
    except MakerwatchError as exc:
        print(f"makerwatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return signals.INTERRUPTED
    except OSError as exc:  # a file or folder the command was pointed at
        where = f": {exc.filename}" if exc.filename else ""
        print(f"makerwatch: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a fault of ours: one line, the traceback with -v
        if args.verbose:
            traceback.print_exc()
        print(f"makerwatch: internal error: {type(exc).__name__}: {exc} "
              "(run with -v for the traceback)", file=sys.stderr)  # fmt: skip
        return 70
    return code
