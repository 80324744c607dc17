"""`makerwatch data delete-simulated`: tools for the stored data."""

from __future__ import annotations

import argparse
import asyncio

from makerwatch.cli.options import AddCommand, add_config, influx_settings, load


def add_commands(add: AddCommand) -> None:
    data_tools = add("data", help="stored data tools")
    data_commands = data_tools.add_subparsers(dest="data_command", required=True)
    delete_sim = data_commands.add_parser(
        "delete-simulated", help="delete everything `makerwatch simulate` stored for the site"
    )
    add_config(delete_sim)
    delete_sim.add_argument("--influx", metavar="URL", help="InfluxDB, instead of the site file's")
    delete_sim.set_defaults(handler=_delete_simulated)


def _delete_simulated(args: argparse.Namespace) -> int:
    from makerwatch.core.points import SIMULATED, SOURCE_TAG
    from makerwatch.ingest.influx import InfluxClient

    config = load(args.config)
    influxdb = influx_settings(config.influxdb, args.influx)

    async def delete() -> None:
        async with InfluxClient(influxdb) as influx:
            # Every measurement's series from the simulator, this site's only.
            where = f"\"{SOURCE_TAG}\" = '{SIMULATED}' AND \"site\" = '{config.site.id}'"
            await influx.query(f"DROP SERIES WHERE {where}", method="POST")

    asyncio.run(delete())
    print(
        f"deleted the simulated data of site {config.site.id!r} from {influxdb.url} ({influxdb.database})"
    )
    return 0
