"""`makerwatch maintenance list|done`: use since each maintenance task was last done, and
recording one done (the running ingest notices within seconds)."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.cli.options import (
    AddCommand,
    add_config,
    add_data,
    influx_settings,
    site_file,
    stack_in_use,
)
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import Language, SiteConfig, load_site_config

UNITS = {"every_active_h": "machine-hours", "every_on_h": "hours on", "every_days": "days"}


def add_commands(add: AddCommand) -> None:
    group = add("maintenance", help="maintenance tasks: use since each was done, record one done")
    commands = group.add_subparsers(dest="maintenance_command", required=True)
    listing = commands.add_parser("list", help="each task: use since it was last done, due or not")
    listing.add_argument("--device", metavar="ID", help="one device only")
    listing.add_argument("--influx", metavar="URL", help="InfluxDB, instead of the site file's")
    done = commands.add_parser("done", help="record a task done (now, or --at)")
    done.add_argument("device", metavar="DEVICE")
    done.add_argument("task", metavar="TASK")
    done.add_argument("--by", metavar="NAME", help="who did it (default: your user name)")
    done.add_argument("--at", metavar="'YYYY-MM-DD HH:MM'",
                      help="when it was done, site time, if not now (written down on paper)")  # fmt: skip
    for parser in (listing, done):
        add_config(parser)
        add_data(parser)  # a running makerwatch up there: its record, InfluxDB and site file
    listing.set_defaults(handler=_list)
    done.set_defaults(handler=_done)


def record_folder(args: argparse.Namespace, config: SiteConfig) -> Path:
    """Where the record of maintenance done is: the running `up`'s of --data, else the
    site file's `ingest.maintenance_dir` (that of `makerwatch ingest`)."""
    stack = stack_in_use(args)
    if stack is not None:
        return Path(stack.data) / "maintenance"
    return Path(config.ingest.maintenance_dir)


def _done(args: argparse.Namespace) -> int:
    import time

    from makerwatch.maintenance.store import Done, MaintenanceStore
    from makerwatch.maintenance.tracker import task_of

    config = _site(args)
    task = task_of(config, args.device, args.task)
    by = args.by or getpass.getuser()
    now_ms = int(time.time() * 1000)
    at_ms = now_ms if args.at is None else _when(args.at, config.site.timezone, now_ms)
    store = MaintenanceStore(record_folder(args, config))
    store.record(Done(args.device, task.id, by, at_ms))
    print(f"{args.device}: {task.id} recorded done by {by}; its count starts again")
    return 0


def _when(text: str, timezone: str, now_ms: int) -> int:
    """--at: a site-time moment, not in the future."""
    try:
        at = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(timezone))
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected 'YYYY-MM-DD HH:MM' (site time)") from None
    at_ms = int(at.timestamp() * 1000)
    if at_ms > now_ms:
        raise ConfigError(f"--at {text!r} is in the future")
    return at_ms


def _site(args: argparse.Namespace) -> SiteConfig:
    """--config, else $MAKERWATCH_CONFIG, else the running `up`'s site file."""
    return load_site_config(site_file(args.config, args))


def _list(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from makerwatch.ingest.influx import InfluxClient
    from makerwatch.maintenance.store import MaintenanceStore
    from makerwatch.maintenance.tracker import MaintenanceTracker

    config = _site(args)
    if args.device is not None and config.device(args.device) is None:
        raise ConfigError(f"no device {args.device!r} in the site file")
    settings = influx_settings(config.influxdb, args.influx, args)

    async def count() -> MaintenanceTracker:
        async with InfluxClient(settings) as influx:
            store = MaintenanceStore(record_folder(args, config))
            tracker = MaintenanceTracker(config, store, influx.query)
            await tracker.load()
            return tracker

    tracker = asyncio.run(count())
    now_ms = int(time.time() * 1000)
    devices = list(tracker.tasks)
    if args.device is not None:
        devices = [args.device] if args.device in devices else []
    for device in devices:
        for task in tracker.status(device, now_ms):
            print(_line(device, task, config.site.timezone))
    if not devices:
        print("no maintenance tasks in the site file for this")
    return 0


def _line(device: str, task: dict[str, Any], timezone: str) -> str:
    state = "DUE" if task["due"] else "ok"
    unit = UNITS[task["interval"]]
    last = "never done"
    if task["last_done_ms"] is not None:
        at = datetime.fromtimestamp(task["last_done_ms"] / 1000, ZoneInfo(timezone))
        when = f"{at:%Y-%m-%d %H:%M}"
        last = f"last done {when} by {task['last_done_by']}"
    return (f"{device}\t{task['task']}\t{state}\t{task['used']:g} of {task['every']:g} {unit}"
            f"\t{last}\t{task['names']['en']}")  # fmt: skip


def staff_appendix(
    page: str, config: SiteConfig, period: str, language: Language, args: argparse.Namespace
) -> str:
    """`report --staff`: the report's page with the maintenance done in the period, from
    the record (`record_folder`)."""
    from makerwatch.core.statistics import period_of
    from makerwatch.maintenance.store import STORE_FILE, MaintenanceStore
    from makerwatch.report.staff import MaintenanceDone, with_staff_appendix

    span = period_of(period, config.site.timezone)
    tasks = {(d.id, t.id): t for d in config.devices for t in config.tasks_for(d)}
    folder = record_folder(args, config)
    records = []  # no record there: nothing was recorded done
    if (folder / STORE_FILE).exists():
        records = MaintenanceStore(folder).history(span.start_ms, span.end_ms)
    done = []
    for record in records:
        device, task = config.device(record.device), tasks.get((record.device, record.task))
        done.append(MaintenanceDone(
            record.at_ms, device.name_in(language) if device else record.device,
            task.name_in(language) if task else record.task, record.by,
        ))  # fmt: skip
    return with_staff_appendix(page, done, language, config.site.timezone)
