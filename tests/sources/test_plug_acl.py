"""Each plug's own login and ACL, enforced by a real Mosquitto running the provisioned
files: a plug publishes only under its own topic tree and reads only its own commands;
ingest reads every plug and writes their commands."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import free_port
from makerwatch.ops.provision import plug_login, provision
from tests.ops.test_provision import ProvisionedMosquitto, next_topics, password
from tests.sources.plugs import plug_config

CONFIG = plug_config(1883, "http://127.0.0.1:8086")
SITE = CONFIG.site.id


def login(device: str, config: SiteConfig = CONFIG) -> str:
    found = config.device(device)
    assert found is not None
    user = plug_login(SITE, found)
    assert user is not None
    return user


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ProvisionedMosquitto]:
    port = free_port()
    with ProvisionedMosquitto(provision(CONFIG, tmp_path / "broker", port), port) as daemon:
        yield daemon


@contextlib.asynccontextmanager
async def client_as(broker: ProvisionedMosquitto, user: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", broker.port, username=user, password=password(broker, user),
                              protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
        yield client


async def test_a_plug_cannot_publish_as_another_plug_or_as_a_board(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that the Tasmota's login publishing as the Shelly, the Gen1, the Zigbee bridge
    and a board reaches nobody, while its own reading reaches ingest."""
    async with (
        client_as(broker, "ingest") as ingest,
        client_as(broker, login("solder-tas")) as plug,
    ):
        await ingest.subscribe("#", qos=1)
        forged = [
            "shellyplusplugs-e86beae8b2c4/events/rpc", "shellies/shellyplug-s-C6B2F7/relay/0/power",
            "zigbee2mqtt/bench/solder plug", "athom-plug-7/sensor/power/state",
            f"makerspace/{SITE}/solder-1/telemetry", "tele/other_plug/SENSOR",
        ]  # fmt: skip
        for topic in forged:
            await plug.publish(topic, "1", qos=1)
        await plug.publish("tele/tasmota_A1B2C3/SENSOR", '{"ENERGY":{"Power":1}}', qos=1)
        topics = await next_topics(ingest, "tele/tasmota_A1B2C3/SENSOR")
    assert topics == ["tele/tasmota_A1B2C3/SENSOR"]


async def test_a_plug_reads_only_its_own_commands(broker: ProvisionedMosquitto) -> None:
    """Test that ingest may switch every plug, and a plug subscribed to everything gets
    only its own command."""
    async with (
        client_as(broker, "ingest") as ingest,
        client_as(broker, login("solder-gen1")) as plug,
    ):
        await plug.subscribe("#", qos=1)
        for device in ("solder-tas", "solder-shelly", "solder-z2m", "solder-esp", "solder-gen1"):
            await ingest.publish(*_off(device), qos=1)
        topics = await next_topics(plug, _off("solder-gen1")[0])
    assert topics == ["shellies/shellyplug-s-C6B2F7/relay/0/command"]


async def test_each_plug_has_its_own_login_and_a_board_keeps_its_own(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that every plug (the Zigbee bridge for its plugs) logs in with its own
    credentials, which carry no board update key, and the board's login is unchanged."""
    users = {
        login(d) for d in ("solder-tas", "solder-shelly", "solder-gen1", "solder-z2m", "solder-esp")
    }
    assert len(users) == 5
    for user in users:
        async with client_as(broker, user):
            pass
        assert "update_key" not in (broker.files.credentials / f"{user}.json").read_text()
    async with client_as(broker, f"{SITE}.solder-1"):
        pass


def _off(device: str) -> tuple[str, str]:
    from makerwatch.sources.table import family_of

    found = CONFIG.device(device)
    assert found is not None
    family = family_of(found)
    assert family is not None
    return family.command(found.source, False)


def test_a_plug_whose_topics_would_cover_another_plugs_is_refused(tmp_path: Path) -> None:
    """Test that provisioning refuses a Shelly prefix `shellies` beside a Gen1 plug (its
    login could publish as that plug), naming both devices."""
    raw = CONFIG.model_dump(mode="json", exclude_none=True)
    raw["devices"].append({"id": "wide", "name": "wide", "kind": "other",
                           "source": {"type": "shelly", "prefix": "shellies"}})  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        provision(SiteConfig.model_validate(raw), tmp_path / "broker", free_port())
    assert "'wide'" in str(refused.value)
    assert "'solder-gen1'" in str(refused.value)


def test_the_demo_agents_bridge_a_simulated_plug_with_its_own_login(tmp_path: Path) -> None:
    """Test that the Compose demo's agents, against the provisioned broker, bring the
    example's simulated Tasmota up with that plug's own login and topics."""
    from tests.test_deployment import _agents, _compose_broker, _user

    with _compose_broker() as (root, port):
        log = tmp_path / "agents.log"
        agents = _agents(root, port, free_port(), log)
        try:
            user, secret = _user(root, "ingest")
            reading = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", secret,
                                      "-t", "tele/tasmota_A1B2C3/SENSOR", "-C", "1", "-W", "90"],
                                     capture_output=True, text=True, timeout=100)  # fmt: skip
            assert reading.returncode == 0, reading.stderr + log.read_text()
            assert json.loads(reading.stdout)["ENERGY"]["Voltage"] > 0
        finally:
            agents.send_signal(signal.SIGTERM)
            assert agents.wait(60) == 0, log.read_text()
