"""`makerwatch dashboards generate|push`: the Grafana dashboards as code."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, site_file, url_host_port
from makerwatch.core.errors import ConfigError


def add_commands(add: AddCommand) -> None:
    dashboards = add("dashboards", help="Grafana dashboards as code")
    dashboard_commands = dashboards.add_subparsers(dest="dashboards_command", required=True)
    generate = dashboard_commands.add_parser("generate", help="write the dashboards' JSON")
    generate.add_argument("--out", type=Path, default=Path("dashboards/json"), metavar="DIR",
                          help="where (default: dashboards/json, what Compose provisions)")  # fmt: skip
    # The site file (or a network file): the time zone (the report's days), the sites'
    # and machines' names.
    add_config(generate)
    generate.set_defaults(handler=_generate)
    push = dashboard_commands.add_parser(
        "push", help="create or update them in an existing Grafana"
    )
    push.add_argument(
        "--url", required=True, help="Grafana's address, e.g. https://grafana.example.org"
    )
    push.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                      help="a service account token (default: $GRAFANA_TOKEN)")  # fmt: skip
    push.add_argument("--folder", default="Makerwatch", help="the folder (default: Makerwatch)")
    add_config(push)
    push.add_argument("--influx", metavar="URL",
                      help="InfluxDB as Grafana reaches it (default: the site file's)")  # fmt: skip
    push.set_defaults(handler=_push)


def _generate(args: argparse.Namespace) -> int:
    import json

    from makerwatch.core.network import load_sites
    from makerwatch.dashboards.build import every_dashboard

    sites = load_sites(site_file(args.config)).sites
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in every_dashboard(sites).items():
        (args.out / name).write_text(
            json.dumps(model, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.out / name}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from makerwatch.core.network import load_sites
    from makerwatch.dashboards.build import every_dashboard
    from makerwatch.dashboards.push import datasource_model, push

    if not args.token:
        raise ConfigError("no Grafana token: give --token or set GRAFANA_TOKEN")
    network = load_sites(site_file(args.config))
    influxdb = network.central.influxdb
    influx_url = args.influx or influxdb.url
    url_host_port(influx_url, "--influx")
    datasource = datasource_model(influx_url, influxdb.database)
    changes = push(
        args.url.rstrip("/"),
        args.token,
        args.folder,
        datasource,
        every_dashboard(network.sites),
    )
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s) in {args.url}" if changes else f"{args.url} is up to date")
    return 0
