"""`makerwatch simulate scenario|backfill|fleet`: simulated boards on the firmware's core."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from makerwatch.cli import signals
from makerwatch.cli.options import (
    DEFAULT_MQTT,
    AddCommand,
    add_config,
    add_data,
    host_port,
    load,
    site_file,
    stack_in_use,
)
from makerwatch.sim.scenarios import SCENARIOS

if TYPE_CHECKING:
    from makerwatch.core.site_config import SiteConfig
    from makerwatch.sim.members import MemberTaps


def add_commands(add: AddCommand) -> None:
    simulate = add("simulate", help="simulated boards: scenario, backfill, fleet")
    modes = simulate.add_subparsers(dest="simulate_command", required=True)
    scenario = modes.add_parser("scenario", help="run a named scenario")
    scenario.add_argument("name", choices=sorted(SCENARIOS), metavar="NAME",
                          help=f"one of {', '.join(sorted(SCENARIOS))}")  # fmt: skip
    scenario.add_argument("--speed", default="1",
                          help="simulated seconds per real second, or max (default: 1)")  # fmt: skip
    scenario.add_argument("--start", metavar="TIME", help="the simulated clock's start, e.g. "
                          "2026-12-06T10:00 in the site's time zone (default: the latest that ends by now)")  # fmt: skip
    scenario.set_defaults(handler=_scenario)
    backfill = modes.add_parser("backfill", help="write history up to now through the pipeline")
    backfill.add_argument("duration", metavar="DURATION", help="how far back, e.g. 30d, 12h")
    backfill.add_argument("--members", type=int, default=0, metavar="N",
                          help="N simulated members trained on each kind tap their cards at machines "
                               "with a reader (access: log|enforce; docs/members.md)")  # fmt: skip
    backfill.set_defaults(handler=_backfill)
    fleet = modes.add_parser("fleet", help="a load fleet of many boards")
    fleet.add_argument(
        "--devices", type=int, default=300, metavar="N", help="boards (default: 300)"
    )
    fleet.add_argument("--rate", type=float, default=100.0, help="total messages per second")
    fleet.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    fleet.add_argument("--sites", default="aktobe,almaty,astana,oskemen,pavlodar,oral",
                       help="comma-separated site slugs")  # fmt: skip
    fleet.add_argument("--processes", type=int, default=1, help="publishing processes")
    fleet.set_defaults(handler=_fleet)
    for mode in (scenario, backfill, fleet):
        if mode is not fleet:
            add_config(mode)
        mode.add_argument("--mqtt", metavar="HOST:PORT",
                          help=f"the broker (default: the running makerwatch up's, else {DEFAULT_MQTT})")  # fmt: skip
        add_data(mode)
        mode.add_argument("--seed", type=int, default=1, help="same seed, same messages")
        if mode is not fleet:
            mode.add_argument("--on-real-site", action="store_true",
                              help="run even where real boards report (refused by default)")  # fmt: skip


def _broker(args: argparse.Namespace) -> tuple[str, int]:
    """--mqtt, else the running `up`'s broker, else up's default address."""
    stack = stack_in_use(args) if args.mqtt is None else None
    return host_port(args.mqtt or (stack.mqtt if stack else DEFAULT_MQTT), "--mqtt")


def _scenario(args: argparse.Namespace) -> int:
    from makerwatch.sim import commands

    config = load(site_file(args.config, args))
    host, port = _broker(args)
    speed = None if args.speed == "max" else float(args.speed)
    stop = signals.stop_thread_event_on_signals()
    start_ms = None if args.start is None else commands.parse_start(args.start, config)
    summary = commands.run_scenario(
        config, args.name, speed, args.seed, host, port, stop, args.on_real_site, start_ms=start_ms
    )
    print(f"scenario {args.name!r}, {summary.seconds_simulated / 3600:.1f} simulated hours:")
    print(summary.table())
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from makerwatch.core.network import load_sites
    from makerwatch.sim import commands

    # A network file backfills each of its sites, each with its own opening hours,
    # time zone and seed, one after the other; each site's ingest must be running.
    network = load_sites(site_file(args.config, args))
    host, port = _broker(args)
    seconds = commands.parse_duration_s(args.duration)
    stop = signals.stop_thread_event_on_signals()  # Ctrl-C ends the boards offline, as the end does
    for index, config in enumerate(network.sites):
        if stop.is_set():
            break
        taps = _member_taps(config, args.members, args.seed + index)
        summary = commands.backfill(
            config, seconds, args.seed + index, host, port, args.on_real_site, stop, taps
        )
        print(f"backfilled {args.duration} of site {config.site.id!r} through {host}:{port}:")
        print(summary.table())
        if taps is not None:
            print(f"{len(taps.members)} simulated members tapped {len(taps.taps)} times")
    return 0


def _member_taps(config: SiteConfig, count: int, seed: int) -> MemberTaps | None:
    """Simulated members with cards of their own (a secret of the simulation's: their
    keys match no real card), `count` trained on each kind of the site's machines."""
    from makerwatch.sim.members import MemberTaps, simulated_members

    if count <= 0:
        return None
    kinds = {device.kind.value: count for device in config.devices}
    members = simulated_members(
        f"simulated-member-cards-of-{config.site.id}-seed-{seed}", kinds, count, seed
    )
    return MemberTaps(config, members, seed)


def _fleet(args: argparse.Namespace) -> int:
    from makerwatch.sim.fleet import run_fleet

    host, port = _broker(args)
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    report = run_fleet(
        host, port, args.devices, args.rate, args.seconds, sites, args.processes, args.seed
    )
    print(
        f"sent {report.total} messages (acknowledged by the broker) from {args.devices} boards "
        f"on {len(sites)} sites in {report.seconds:.1f} s: {report.rate:.0f} msg/s (asked {args.rate:g})"
    )
    for site, count in sorted(report.sent.items()):
        print(f"  {site:<12} {count}")
    return 0
