"""A site's plugs at the network's centre: the site's bridge carries each plug's own
topics under the site's tree, and central ingest stores them as the site's own ingest
does. Two real Mosquittos provisioned by `broker provision` (a site with its bridge,
and the central broker from the network file), each plug publishing with its own
login at the site, central ingest in front of the real InfluxDB."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import aiomqtt
import pytest

from makerwatch.core.network import Network, load_sites
from makerwatch.ingest.central import CentralIngest
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, ProvisionedMosquitto, free_port
from makerwatch.ops.provision import (  # fmt: skip
    Bridge,
    board_user,
    bridge_user,
    plug_login,
    provision,
    provision_central,
)
from makerwatch.sources.central import bridged_sources
from tests.ingest.test_network import credentials, write_network
from tests.sources.plugs import SOURCES, plug_config, reading
from tests.support import stored, wait_until

pytestmark = pytest.mark.stack


async def test_each_plug_of_a_bridged_site_is_stored_centrally_under_its_site(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a reading of every firmware's plug, and a board's, published at the site
    with each device's own login, reaches the central database with the site's tags
    and power in W, and that central ingest dead-letters nothing."""
    site_port, central_port = free_port(), free_port()
    config = plug_config(site_port, influxdb.url)
    site = config.site.id
    network_file = write_network(tmp_path, [config], {
        "mqtt": {"port": central_port, "client_id": "ingest"},
        "influxdb": {"url": influxdb.url, "database": f"central_{site.replace('-', '_')}"},
        "ingest": {"spool_dir": str(tmp_path / "central-spool"), "batch_max_age_s": 0.05},
    })  # fmt: skip
    network = load_sites(network_file)
    central_dir, site_dir = tmp_path / "central", tmp_path / site
    provision_central(network, central_dir, central_port)
    bridge = Bridge("127.0.0.1", central_port, central_dir / "credentials" / f"{bridge_user(site)}.json")  # fmt: skip
    provision(config, site_dir, site_port, bridge=bridge)
    user, password = credentials(central_dir, "ingest")
    mqtt = network.central.mqtt.model_copy(update={"username": user, "password": password})
    network = Network(network.name, network.sites, network.central.model_copy(update={"mqtt": mqtt}), lists_sites=True)  # fmt: skip
    with (
        ProvisionedMosquitto(central_port, central_dir / "data", central_dir / "mosquitto.conf"),
        ProvisionedMosquitto(site_port, site_dir / "data", site_dir / "mosquitto.conf"),
    ):
        central = CentralIngest(network, reader=bridged_sources)
        stop = asyncio.Event()
        task = asyncio.create_task(central.run(stop))
        try:
            await wait_until(central.subscribed.is_set, "central ingest to subscribe")
            now = time.time()
            for n, device in enumerate(SOURCES):
                plug = config.device(device)
                assert plug is not None
                login = plug_login(site, plug)
                assert login is not None
                await _publish_as(site_dir, site_port, login, reading(device, 40.0 + n, now))
            board = {"v": 1, "ts": now, "seq": 1, "power_w": 3.0, "temp_c": 300.0}
            await _publish_as(site_dir, site_port, board_user(site, "solder-1"),
                              [(f"makerspace/{site}/solder-1/telemetry", json.dumps(board))])  # fmt: skip
            async with InfluxClient(network.central.influxdb) as influx:

                async def power_of_each() -> dict[str, float]:
                    with contextlib.suppress(Exception):
                        rows = await stored(influx, "SELECT last(power_w) FROM telemetry GROUP BY site, device")  # fmt: skip
                        return {r["device"]: r["last"] for r in rows if r["site"] == site}
                    return {}

                expected = {device: 40.0 + n for n, device in enumerate(SOURCES)} | {"solder-1": 3.0}  # fmt: skip

                async def all_there() -> bool:
                    return await power_of_each() == expected

                await wait_until(all_there, "every plug and the board at the centre", within_s=30)
            assert central.counters.dead_lettered == {}
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    task.result()


async def _publish_as(
    site_dir: Path, port: int, user: str, messages: list[tuple[str, str]]
) -> None:
    name, password = credentials(site_dir, user)
    async with aiomqtt.Client("127.0.0.1", port, username=name, password=password, identifier=name,
                              protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)
