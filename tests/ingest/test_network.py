"""The network of sites: site brokers bridged to a central broker, central ingest.

Three real Mosquitto processes, provisioned by `broker provision` (two sites with
their bridges, and the central broker from the network file), each site with its
own ingest and alert rules, and central ingest storing both sites in one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
import yaml

from makerwatch.core.errors import ConfigError
from makerwatch.core.network import Network, load_sites
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.central import CentralIngest
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import (
    EmbeddedInfluxDB,
    EmbeddedMosquitto,
    ProvisionedMosquitto,
    free_port,
)
from makerwatch.ops.provision import Bridge, board_user, bridge_user, provision, provision_central
from tests.support import (
    TcpProxy,
    count_points,
    ingest_process,
    make_config,
    publish,
    start_ingest,
    wait_until,
)

pytestmark = pytest.mark.stack

CUT_S = 30.0
PER_SITE_BEFORE = 50
PER_SITE_DURING = 300  # published over the cut, evenly


def credentials(directory: Path, user: str) -> tuple[str, str]:
    data = json.loads((directory / "credentials" / f"{user}.json").read_text())
    return data["mqtt_user"], data["mqtt_password"]


def reading(config: SiteConfig, i: int, start_s: float, temp_c: float = 300.0) -> tuple[str, str]:
    device = ("solder-1", "printer-1")[i % 2]
    body = {"v": 1, "ts": round(start_s + i * 0.1, 3), "seq": i, "power_w": 3.0, "temp_c": temp_c}
    return f"makerspace/{config.site.id}/{device}/telemetry", json.dumps(body)


@contextlib.asynccontextmanager
async def board(broker: ProvisionedMosquitto, site: Path, config: SiteConfig, device: str) -> AsyncIterator[aiomqtt.Client]:  # fmt: skip
    user, password = credentials(site, board_user(config.site.id, device))
    async with aiomqtt.Client("127.0.0.1", broker.port, username=user, password=password,
                              identifier=user, protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
        yield client


async def publish_as_boards(
    broker: ProvisionedMosquitto, site: Path, config: SiteConfig, messages: list[tuple[str, str]],
    over_s: float = 0,
) -> None:  # fmt: skip
    """Each message from its own device's board, with its password (paced over `over_s`)."""
    async with (
        board(broker, site, config, "solder-1") as solder,
        board(broker, site, config, "printer-1") as printer,
    ):
        started = time.monotonic()
        for i, (topic, payload) in enumerate(messages):
            client = solder if "/solder-1/" in topic else printer
            await client.publish(topic, payload, qos=1)
            if over_s:
                ahead = started + (i + 1) * over_s / len(messages) - time.monotonic()
                await asyncio.sleep(max(ahead, 0))  # the boards' publish rate


def write_network(tmp_path: Path, sites: list[SiteConfig], central: dict[str, object]) -> Path:
    names = []
    for config in sites:
        name = f"{config.site.id}.yaml"
        (tmp_path / name).write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True))  # fmt: skip
        names.append(name)
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump({"network": "Test network", "sites": names, "central": central}))
    return path


async def test_two_sites_bridged_through_a_30_second_cut_store_every_reading_once_centrally(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that with the central link cut for 30 s while both sites publish, the sites'
    own alerts fire during the cut, and the central database ends with every reading
    of both sites exactly once."""
    rules = [{"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450}]
    site_ports = [free_port(), free_port()]
    sites = [make_config(port, influxdb.url, {"rules": rules}) for port in site_ports]
    central_port = free_port()
    central_db = f"central_{sites[0].site.id.replace('-', '_')}"
    network_file = write_network(tmp_path, sites, {
        "mqtt": {"port": central_port, "client_id": "ingest"},
        "influxdb": {"url": influxdb.url, "database": central_db},
        "ingest": {"spool_dir": str(tmp_path / "central-spool"), "batch_max_age_s": 0.05},
    })  # fmt: skip
    network = load_sites(network_file)
    central_dir = tmp_path / "central"
    provision_central(network, central_dir, central_port)
    with ProvisionedMosquitto(central_port, central_dir / "data", central_dir / "mosquitto.conf"):
        async with TcpProxy(central_port) as link:  # the internet link
            brokers = []
            with contextlib.ExitStack() as stack:
                for config, port in zip(sites, site_ports, strict=True):
                    site_dir = tmp_path / config.site.id
                    bridge = Bridge("127.0.0.1", link.port, central_dir / "credentials" / f"{bridge_user(config.site.id)}.json")  # fmt: skip
                    provision(config, site_dir, port, bridge=bridge)
                    brokers.append(stack.enter_context(
                        ProvisionedMosquitto(port, site_dir / "data", site_dir / "mosquitto.conf")
                    ))  # fmt: skip
                await _run_the_network(tmp_path, network, sites, brokers, link, central_dir)


async def _run_the_network(
    tmp_path: Path, network: Network, sites: list[SiteConfig],
    brokers: list[ProvisionedMosquitto], link: TcpProxy, central_dir: Path,
) -> None:  # fmt: skip
    user, password = credentials(central_dir, "ingest")
    central_mqtt = network.central.mqtt.model_copy(update={"username": user, "password": password})
    central_settings = network.central.model_copy(update={"mqtt": central_mqtt})
    network = Network(network.name, network.sites, central_settings, lists_sites=True)
    site_ingests = []
    for config in sites:
        user, password = credentials(tmp_path / config.site.id, "ingest")
        mqtt = config.mqtt.model_copy(
            update={"username": user, "password": password, "client_id": user}
        )
        site_ingests.append(await start_ingest(config.model_copy(update={"mqtt": mqtt})))
    central = CentralIngest(network)
    stop = asyncio.Event()
    task = asyncio.create_task(central.run(stop))
    try:
        await wait_until(central.subscribed.is_set, "central ingest to subscribe")
        start_s = time.time() - 600
        total = PER_SITE_BEFORE + PER_SITE_DURING + 1
        async with InfluxClient(network.central.influxdb) as influx:

            async def central_count() -> int:
                with contextlib.suppress(Exception):
                    return await count_points(influx)
                return -1

            before = [[reading(c, i, start_s) for i in range(PER_SITE_BEFORE)] for c in sites]
            for config, broker, messages in zip(sites, brokers, before, strict=True):
                await publish_as_boards(broker, tmp_path / config.site.id, config, messages)

            async def bridged() -> bool:
                return await central_count() == PER_SITE_BEFORE * len(sites)

            await wait_until(bridged, "both sites' first readings at the centre", within_s=30)

            link.up = False  # refused from now on
            link.cut()
            cut_at = time.monotonic()
            during = [
                [reading(c, i, start_s) for i in range(PER_SITE_BEFORE, total - 1)]
                + [reading(c, total - 1, start_s, temp_c=470.0)]  # too hot: each site's alert
                for c in sites
            ]
            await asyncio.gather(*(
                publish_as_boards(broker, tmp_path / config.site.id, config, messages, CUT_S)
                for config, broker, messages in zip(sites, brokers, during, strict=True)
            ))  # fmt: skip
            for running in site_ingests:
                await wait_until(
                    lambda r=running: any(a["rule"] == "over_temperature" for a in r.service.active_alerts()),
                    "the site's own alert while the link is cut",
                )  # fmt: skip
            assert not link.up
            assert time.monotonic() - cut_at >= CUT_S
            assert await central_count() == PER_SITE_BEFORE * len(sites), "nothing crossed the cut"
            link.up = True

            async def all_stored() -> bool:
                return await central_count() == total * len(sites)

            await wait_until(all_stored, "every reading of both sites at the centre", within_s=60)
            rows = await influx.query("SELECT count(seq) FROM telemetry GROUP BY site")
            assert {r["tags"]["site"]: r["values"][0][1] for r in rows} == {
                c.site.id: total for c in sites
            }, "each site's readings once, none of another site's"
            assert central.counters.dead_lettered == {}
    finally:
        stop.set()
        await task
        for running in site_ingests:
            await running.shutdown()


async def test_two_central_processes_split_the_sites_and_a_killed_one_loses_nothing(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that two central ingest processes, each given one site of the network file
    (`--sites`), store every reading exactly once, and that one killed with SIGKILL
    mid-stream and started again carries on from its persistent session, losing nothing."""
    per_site = 3000
    with EmbeddedMosquitto(free_port(), tmp_path / "central-broker") as broker:
        sites = [make_config(broker.port, influxdb.url) for _ in range(2)]
        db = f"split_{sites[0].site.id.replace('-', '_')}"
        network_file = write_network(tmp_path, sites, {
            "mqtt": {"port": broker.port, "client_id": "central"},
            "influxdb": {"url": influxdb.url, "database": db},
        })  # fmt: skip
        start_s = time.time() - 3600
        async with (
            contextlib.AsyncExitStack() as stack,
            InfluxClient(load_sites(network_file).central.influxdb) as influx,
        ):
            processes = []
            for n, config in enumerate(sites):
                # Each process: one site, its own session (client id) and spool.
                arguments = ["--sites", config.site.id, "--spool", str(tmp_path / f"spool-{n}")]
                network_n = tmp_path / f"network-{n}.yaml"
                data = yaml.safe_load(network_file.read_text())
                data["central"]["mqtt"]["client_id"] = f"central-{n}"
                network_n.write_text(yaml.safe_dump(data))
                processes.append(await stack.enter_async_context(
                    ingest_process(network_n, tmp_path / f"central-{n}", arguments)
                ))  # fmt: skip

            async def stored_of(site: str) -> int:
                with contextlib.suppress(Exception):
                    query = f"SELECT count(seq) FROM telemetry WHERE site = '{site}'"
                    rows = await influx.query(query)
                    return int(rows[0]["values"][0][1]) if rows else 0
                return -1

            publishing = [
                asyncio.create_task(publish(broker.port, [reading(c, i, start_s) for i in range(per_site)]))
                for c in sites
            ]  # fmt: skip

            async def some_stored() -> bool:
                return await stored_of(sites[0].site.id) > per_site // 5

            await wait_until(some_stored, "some of the first site's readings stored")
            processes[0].kill()  # mid-stream, without warning
            processes[0].start()
            await asyncio.gather(*publishing)
            for config in sites:

                async def complete(site: str = config.site.id) -> bool:
                    return await stored_of(site) == per_site

                await wait_until(complete, f"every reading of {config.site.id}", within_s=90)
            rows = await influx.query("SELECT count(seq) FROM telemetry GROUP BY site")
            assert {r["tags"]["site"]: r["values"][0][1] for r in rows} == {
                c.site.id: per_site for c in sites
            }, "each reading once, by the process that has its site"
        stopped = (
            (tmp_path / "central-1" / "ingest.log").read_text().rsplit("ingest stopped: ", 1)[1]
        )
        counters = json.loads(stopped.splitlines()[0])
        assert counters["messages_received"] == per_site, "only its own site's readings"
        assert counters["dead_lettered"] == {}


def test_a_wrong_central_section_is_named_key_by_key(tmp_path: Path) -> None:
    """Test that the network file's central section is checked like a site file, each
    wrong key named with its place in the file."""
    site = make_config(1883, "http://127.0.0.1:8086")
    path = write_network(tmp_path, [site], {"mqtt": {"port": 0}, "influxdb": {"url": 5}})
    with pytest.raises(ConfigError) as raised:
        load_sites(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: invalid configuration")
    assert "central.mqtt.port: Input should be greater than or equal to 1 (got 0)" in text
    assert "central.influxdb.url:" in text
