"""`makerwatch ingest`: a site's ingest, or central ingest for a network file."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

from makerwatch.cli import signals
from makerwatch.cli.options import AddCommand, add_config, add_endpoints, site_file, with_endpoints
from makerwatch.core.errors import ConfigError
from makerwatch.core.network import Network, load_sites
from makerwatch.core.site_config import SiteConfig


def add_commands(add: AddCommand) -> None:
    ingest = add("ingest", help="run the ingest service (MQTT -> InfluxDB)")
    add_config(ingest)
    add_endpoints(ingest, {"mqtt": None, "influx": None, "http": None})
    ingest.add_argument(
        "--spool", type=Path, metavar="DIR", help="spool folder, instead of the site file's"
    )
    ingest.add_argument("--mqtt-credentials", type=Path, metavar="FILE",
                        help="ingest's broker user and password: credentials/ingest.json from `broker provision`")  # fmt: skip
    ingest.add_argument("--sites", metavar="ID,ID",
                        help="with a network file: central ingest for these of its sites only "
                             "(several processes share a network's sites)")  # fmt: skip
    ingest.set_defaults(handler=_ingest)


def run_until_signalled(
    config: SiteConfig | Network, when_subscribed: Callable[[], Callable[[], None]] | None = None
) -> None:
    """Run ingest until SIGINT, SIGTERM or SIGHUP (`makerwatch.app.run_until_stopped`)."""
    from makerwatch.app import run_until_stopped

    signals.run_until_signalled(lambda stop: run_until_stopped(config, stop, when_subscribed))


def _ingest(args: argparse.Namespace) -> int:
    network = load_sites(site_file(args.config))
    if not network.lists_sites:
        if args.sites:
            raise ConfigError(f"--sites: {args.config} is a site file, not a network file")
        run_until_signalled(with_endpoints(network.sites[0], args))
        return 0
    if args.sites:
        network = network.only(*(site.strip() for site in args.sites.split(",")))
    central = with_endpoints(network.central, args)
    run_until_signalled(dataclasses.replace(network, central_settings=central))
    return 0
