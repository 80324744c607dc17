"""Provisioned credentials and ACLs, enforced by a real Mosquitto running the generated files."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from pydantic import Field

from makerwatch.core import protocol
from makerwatch.core.errors import ConfigError
from makerwatch.core.network import Network
from makerwatch.core.points import Point, device_tags
from makerwatch.core.protocol import BoardMessage, KindSpec, Role
from makerwatch.core.site_config import load_site_config
from makerwatch.ingest.decode import Decoder
from makerwatch.ops.embedded import EmbeddedMosquitto, free_port
from makerwatch.ops.firmware_deploy import BoardSecrets, with_credentials
from makerwatch.ops.provision import (
    Bridge,
    BrokerFiles,
    board_user,
    bridge_user,
    provision,
    provision_central,
)
from tests.support import ROOT, WAIT_TIMEOUT_S

CONFIG = load_site_config(ROOT / "makerspace.example.yaml")
SOLDER_1, SOLDER_2 = board_user("aktobe", "solder-1"), board_user("aktobe", "solder-2")
OPERATOR = "operator"


class ProvisionedMosquitto(EmbeddedMosquitto):
    """The real broker with the generated mosquitto.conf (only its port and run-as user set here)."""

    def __init__(self, files: BrokerFiles, port: int) -> None:
        super().__init__(port, files.directory)
        self.files = files

    def config_text(self) -> str:
        return self.files.conf.read_text() + f"user {getpass.getuser()}\n"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ProvisionedMosquitto]:
    port = free_port()
    files = provision(CONFIG, tmp_path / "broker", port)
    with ProvisionedMosquitto(files, port) as daemon:
        yield daemon


def password(broker: ProvisionedMosquitto, user: str) -> str:
    credentials: dict[str, str] = json.loads(
        (broker.files.credentials / f"{user}.json").read_text()
    )
    return credentials["mqtt_password"]


@contextlib.asynccontextmanager
async def client_as(
    broker: ProvisionedMosquitto,
    user: str | None,
    secret: str | None = None,
    identifier: str | None = None,
) -> AsyncIterator[aiomqtt.Client]:
    secret = secret if secret is not None or user is None else password(broker, user)
    async with aiomqtt.Client("127.0.0.1", broker.port, username=user, password=secret,
                              identifier=identifier,
                              protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
        yield client


async def next_topics(client: aiomqtt.Client, until: str) -> list[str]:
    """Topics received up to and including `until`: MQTT keeps order, so a message
    published before `until` that was let through would be in this list."""
    topics: list[str] = []
    async with asyncio.timeout(WAIT_TIMEOUT_S):
        async for message in client.messages:
            topics.append(message.topic.value)
            if message.topic.value == until:
                return topics
    return topics


async def test_wrong_password_and_anonymous_are_refused(broker: ProvisionedMosquitto) -> None:
    """Test that only provisioned users with their own password get in."""
    with pytest.raises(aiomqtt.MqttCodeError):
        async with client_as(broker, SOLDER_1, "not-the-password"):
            pass
    with pytest.raises(aiomqtt.MqttCodeError):
        async with client_as(broker, None):
            pass
    async with client_as(broker, SOLDER_1):
        pass


async def test_board_cannot_publish_as_another_board(broker: ProvisionedMosquitto) -> None:
    """Test that solder-1's publish on solder-2's topic never reaches ingest, while its own does."""
    async with client_as(broker, "ingest") as ingest, client_as(broker, SOLDER_1) as board:
        await ingest.subscribe("makerspace/#", qos=1)
        await board.publish(
            "makerspace/aktobe/solder-2/telemetry", '{"v":1,"seq":1,"power_w":1}', qos=1
        )
        await board.publish("makerspace/aktobe/solder-1/cmd/relay", '{"v":1,"on":true}', qos=1)
        await board.publish(
            "makerspace/aktobe/solder-1/telemetry", '{"v":1,"seq":1,"power_w":2}', qos=1
        )
        topics = await next_topics(ingest, "makerspace/aktobe/solder-1/telemetry")
    assert topics == ["makerspace/aktobe/solder-1/telemetry"], (
        "no forged reading, no self-issued command"
    )


async def test_board_cannot_read_another_boards_commands(broker: ProvisionedMosquitto) -> None:
    """Test that solder-1 subscribed to solder-2's commands receives only its own."""
    async with client_as(broker, SOLDER_1) as board, client_as(broker, "ingest") as ingest:
        await board.subscribe("makerspace/aktobe/+/cmd/#", qos=1)
        await ingest.publish("makerspace/aktobe/solder-2/cmd/relay", '{"v":1,"on":false}', qos=1)
        await ingest.publish("makerspace/aktobe/solder-1/cmd/relay", '{"v":1,"on":false}', qos=1)
        topics = await next_topics(board, "makerspace/aktobe/solder-1/cmd/relay")
    assert topics == ["makerspace/aktobe/solder-1/cmd/relay"]


async def test_floor_board_reads_everything_but_commands_nothing(
    broker: ProvisionedMosquitto,
) -> None:
    """Test the floor board's read-only access."""
    async with (
        client_as(broker, "floor") as floor,
        client_as(broker, SOLDER_1) as board,
        client_as(broker, "ingest") as ingest,
    ):
        await floor.subscribe("makerspace/aktobe/#", qos=1)
        await board.subscribe("makerspace/aktobe/solder-1/cmd/#", qos=1)
        await floor.publish("makerspace/aktobe/solder-1/cmd/relay", '{"v":1,"on":false}', qos=1)
        await ingest.publish("makerspace/aktobe/solder-1/cmd/identify", '{"v":1}', qos=1)
        assert await next_topics(board, "makerspace/aktobe/solder-1/cmd/identify") == [
            "makerspace/aktobe/solder-1/cmd/identify"
        ]
        await board.publish("makerspace/aktobe/solder-1/state", '{"v":1,"state":"idle"}', qos=1)
        assert "makerspace/aktobe/solder-1/state" in await next_topics(
            floor, "makerspace/aktobe/solder-1/state"
        )


async def test_ingest_reads_all_boards_and_writes_dead_letters_and_alerts(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that ingest's user can do everything ingest needs."""
    async with (
        client_as(broker, "ingest") as ingest,
        client_as(broker, SOLDER_1) as one,
        client_as(broker, SOLDER_2) as two,
    ):
        await ingest.subscribe("makerspace/#", qos=1)
        await one.publish("makerspace/aktobe/solder-1/status", '{"v":1,"online":true}', qos=1)
        await two.publish("makerspace/aktobe/solder-2/event", '{"v":1,"event":"boot"}', qos=1)
        await ingest.publish("makerspace/_invalid", '{"reason":"x"}', qos=1)
        await ingest.publish("makerspace/aktobe/alerts/left_on-solder-1", '{"v":1}', qos=1)
        topics = await next_topics(ingest, "makerspace/aktobe/alerts/left_on-solder-1")
    assert set(topics) >= {
        "makerspace/aktobe/solder-1/status",
        "makerspace/aktobe/solder-2/event",
        "makerspace/_invalid",
    }


def test_passwords_survive_reprovisioning_and_reach_the_board(tmp_path: Path) -> None:
    """Test that provisioning twice keeps each password, and deploy puts the board's own into its settings."""
    files = provision(CONFIG, tmp_path, 1883)
    before = (files.credentials / f"{SOLDER_1}.json").read_text()
    provision(CONFIG, tmp_path, 1883)
    assert (files.credentials / f"{SOLDER_1}.json").read_text() == before
    assert oct((files.credentials / f"{SOLDER_1}.json").stat().st_mode & 0o777) == "0o600"
    secrets = BoardSecrets(wifi_ssid="w", wifi_password="p", mqtt_host="10.0.0.2")
    merged = with_credentials(secrets, files.credentials, "aktobe", "solder-1")
    assert (merged.mqtt_user, merged.mqtt_password) == (
        SOLDER_1,
        json.loads(before)["mqtt_password"],
    )
    assert "$7$" in files.passwd.read_text(), "hashed by mosquitto_passwd, never stored in clear"


async def test_tls_listener_accepts_boards_with_the_site_ca_and_refuses_plaintext(
    tmp_path: Path,
) -> None:
    """Test the generated TLS listener with certificates made by `makerwatch broker certs`' code and openssl."""
    from makerwatch.ops.certificates import make_certificates

    port, tls_port = free_port(), free_port()
    files = provision(CONFIG, tmp_path / "broker", port, tls_port)
    ca = make_certificates(files.directory / "tls", ["localhost", "127.0.0.1"])
    with ProvisionedMosquitto(files, port) as broker:
        await wait_for_port(tls_port)
        secret = password(broker, SOLDER_1)
        tls = aiomqtt.TLSParameters(ca_certs=str(ca))
        async with aiomqtt.Client("127.0.0.1", tls_port, username=SOLDER_1, password=secret, tls_params=tls,
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
            await client.publish(
                "makerspace/aktobe/solder-1/status", '{"v":1,"online":true}', qos=1
            )
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                "127.0.0.1", tls_port, username=SOLDER_1, password=secret, timeout=3
            ):
                pass


async def wait_for_port(port: int) -> None:
    async with asyncio.timeout(WAIT_TIMEOUT_S):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)  # polling the listener, with a deadline


async def test_a_board_cannot_take_over_ingests_session_by_its_client_id(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that a board connecting with ingest's client id leaves ingest connected and its
    queued readings with it (the broker binds client ids to user names)."""
    ingest_id = CONFIG.mqtt.client_id
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username="ingest", password=password(broker, "ingest"),
        identifier=ingest_id, protocol=aiomqtt.ProtocolVersion.V5,
    ) as ingest:  # fmt: skip
        await ingest.subscribe("makerspace/aktobe/+/telemetry", qos=1)
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username=SOLDER_1, password=password(broker, SOLDER_1),
            identifier=ingest_id, protocol=aiomqtt.ProtocolVersion.V5,
        ) as attacker:  # fmt: skip
            await attacker.publish(
                "makerspace/aktobe/solder-1/telemetry", '{"v":1,"seq":1,"power_w":2}', qos=1
            )
            topics = await next_topics(ingest, "makerspace/aktobe/solder-1/telemetry")
    assert topics == ["makerspace/aktobe/solder-1/telemetry"], "ingest was not thrown off"


async def test_a_board_cannot_publish_another_boards_last_will(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that connecting with another board's client id neither disconnects it nor
    makes the broker publish its will (a false offline alert)."""
    async with client_as(broker, "ingest") as ingest:
        await ingest.subscribe("makerspace/aktobe/+/status", qos=1)
        will = aiomqtt.Will("makerspace/aktobe/solder-2/status", '{"v":1,"online":false}', 1, True)
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username=SOLDER_2, password=password(broker, SOLDER_2),
            identifier=SOLDER_2, will=will, protocol=aiomqtt.ProtocolVersion.V5,
        ) as victim:  # fmt: skip
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username=SOLDER_1, password=password(broker, SOLDER_1),
                identifier=SOLDER_2, protocol=aiomqtt.ProtocolVersion.V5,
            ):  # fmt: skip
                pass
            await victim.publish(
                "makerspace/aktobe/solder-2/status", '{"v":1,"online":true}', qos=1
            )
            topics = await next_topics(ingest, "makerspace/aktobe/solder-2/status")
            message_seen = topics
    assert message_seen == ["makerspace/aktobe/solder-2/status"]


async def test_an_oversized_publish_is_refused_at_the_broker(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that a board's 1 MB message never reaches ingest, while a normal one does."""
    async with client_as(broker, "ingest") as ingest:
        await ingest.subscribe("makerspace/aktobe/+/telemetry", qos=1)
        with contextlib.suppress(aiomqtt.MqttError):
            async with client_as(broker, SOLDER_1) as board:
                await board.publish("makerspace/aktobe/solder-1/telemetry", b"x" * 1_000_000, qos=1)
        async with client_as(broker, SOLDER_2) as board:
            await board.publish(
                "makerspace/aktobe/solder-2/telemetry", '{"v":1,"seq":1,"power_w":2}', qos=1
            )
        topics = await next_topics(ingest, "makerspace/aktobe/solder-2/telemetry")
    assert topics == ["makerspace/aktobe/solder-2/telemetry"]


def test_generated_files_are_not_world_readable(broker: ProvisionedMosquitto) -> None:
    """Test that the password file, the ACL and every credential file are the owner's alone."""
    files = [broker.files.passwd, broker.files.acl, *broker.files.credentials.iterdir()]
    assert {oct(path.stat().st_mode & 0o077) for path in files} == {"0o0"}


async def test_a_sites_bridge_writes_only_its_own_sites_board_topics_centrally(
    tmp_path: Path,
) -> None:
    """Test the central broker provisioned from a network file: each site's bridge user may
    write its own site's board topics, not another site's, nor commands; central ingest
    reads them all; boards have no account there."""
    other = CONFIG.model_copy(update={"site": CONFIG.site.model_copy(update={"id": "almaty"})})
    network = Network("Test network", [CONFIG, other], lists_sites=True)
    port = free_port()
    files = provision_central(network, tmp_path / "central", port)
    assert {p.name for p in files.credentials.glob("*.json")} == {
        "ingest.json", "operator.json", "healthcheck.json", "bridge.aktobe.json",
        "bridge.almaty.json",
    }  # fmt: skip
    with ProvisionedMosquitto(files, port) as central:
        async with (
            client_as(central, "ingest") as ingest,
            client_as(central, bridge_user("aktobe")) as aktobe,
        ):
            await ingest.subscribe("makerspace/#", qos=1)
            for topic in ("makerspace/almaty/solder-1/telemetry", "makerspace/aktobe/solder-1/cmd/relay",
                          "makerspace/aktobe/solder-1/telemetry"):  # fmt: skip
                await aktobe.publish(topic, '{"v":1,"seq":1,"power_w":1}', qos=1)
            topics = await next_topics(ingest, "makerspace/aktobe/solder-1/telemetry")
        assert topics == ["makerspace/aktobe/solder-1/telemetry"]
        with pytest.raises(aiomqtt.MqttCodeError):
            async with client_as(central, SOLDER_1, "any"):
                pass


def test_a_bridge_needs_the_central_brokers_credentials_for_its_own_site(tmp_path: Path) -> None:
    """Test that a site's bridge refuses another site's bridge credentials, one line each."""
    files = provision_central(
        Network("n", [CONFIG], lists_sites=True), tmp_path / "central", free_port()
    )
    wrong = tmp_path / "bridge.almaty.json"
    wrong.write_text(json.dumps({"mqtt_user": "bridge.almaty", "mqtt_password": "x"}))
    for credentials, says in ((wrong, "bridge.almaty's credentials, not bridge.aktobe's"),
                              (tmp_path / "missing.json", "not a bridge credentials file")):  # fmt: skip
        with pytest.raises(ConfigError, match=says):
            provision(
                CONFIG, tmp_path / "site", free_port(), bridge=Bridge("central", 8883, credentials)
            )
    right = files.credentials / "bridge.aktobe.json"
    site = provision(
        CONFIG, tmp_path / "site", free_port(), bridge=Bridge("central", 8883, right, right)
    )
    conf = site.conf.read_text()
    assert "address central:8883" in conf
    assert "remote_username bridge.aktobe" in conf
    assert "topic makerspace/aktobe/+/telemetry out 1" in conf
    assert "cleansession false" in conf
    assert f"bridge_cafile {right.resolve()}" in conf
    assert site.conf.stat().st_mode & 0o077 == 0, "the bridge's password is in it"


async def test_a_site_broker_bridges_its_boards_to_the_central_broker_over_tls(
    tmp_path: Path,
) -> None:
    """Test the generated bridge against the generated central TLS listener: a board's
    reading at the site reaches central ingest, checked against the central CA."""
    from makerwatch.ops.certificates import make_certificates

    network = Network("Test network", [CONFIG], lists_sites=True)
    central_port, tls_port, site_port = free_port(), free_port(), free_port()
    central_files = provision_central(network, tmp_path / "central", central_port, tls_port)
    ca = make_certificates(central_files.directory / "tls", ["localhost"])
    credentials = central_files.credentials / f"{bridge_user('aktobe')}.json"
    site_files = provision(
        CONFIG, tmp_path / "site", site_port, bridge=Bridge("localhost", tls_port, credentials, ca)
    )
    with ProvisionedMosquitto(central_files, central_port) as central:
        await wait_for_port(tls_port)
        async with client_as(central, "ingest") as ingest:
            await ingest.subscribe("makerspace/#", qos=1)
            with ProvisionedMosquitto(site_files, site_port) as site:
                reading = "makerspace/aktobe/solder-1/telemetry"
                async with client_as(site, SOLDER_1) as board:
                    await board.publish(reading, '{"v":1,"seq":1,"power_w":1}', qos=1)
                topics = await next_topics(ingest, reading)
        assert topics == [reading]
        assert "bridge_cafile" in site_files.conf.read_text()


async def test_a_board_subscribed_to_everything_is_delivered_only_its_own_topics(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that a board's SUBSCRIBE to `#` and `$SYS/#` yields nothing but its own commands
    and config: not another board's retained status or commands, not alerts, not dead
    letters, not the broker's retained `$SYS` figures (Mosquitto 2.0 grants the
    subscription; the ACL refuses every delivery)."""
    async with client_as(broker, "ingest") as ingest, client_as(broker, SOLDER_2) as two:
        await two.publish("makerspace/aktobe/solder-2/status", '{"v":1,"online":true}', 1, True)
        await ingest.publish("makerspace/aktobe/solder-2/config", '{"v":1}', qos=1, retain=True)
        await ingest.publish("makerspace/aktobe/solder-1/config", '{"v":1}', qos=1, retain=True)
        await ingest.publish("makerspace/aktobe/alerts/left_on-solder-2", '{"v":1}', 1, True)
        async with client_as(broker, SOLDER_1) as board:
            await board.subscribe("#", qos=1)
            await board.subscribe("$SYS/#", qos=1)
            for topic in ("makerspace/aktobe/solder-2/cmd/relay", "makerspace/_invalid"):
                await ingest.publish(topic, '{"v":1,"on":false}', qos=1)
            await ingest.publish("makerspace/aktobe/solder-1/cmd/relay", '{"v":1,"on":false}', 1)
            topics = await next_topics(board, "makerspace/aktobe/solder-1/cmd/relay")
    assert topics == ["makerspace/aktobe/solder-1/config", "makerspace/aktobe/solder-1/cmd/relay"]


async def test_the_operator_reads_dead_letters_and_sys_without_touching_ingests_session(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that the operator login, even given ingest's client id, reads dead letters and
    `$SYS` while ingest stays connected (its client id is its own user name)."""
    ingest_id = CONFIG.mqtt.client_id
    ready = "makerspace/aktobe/_ingest/test/ready"
    async with client_as(broker, "ingest", identifier=ingest_id) as ingest:
        await ingest.subscribe(ready, qos=1)
        async with client_as(broker, OPERATOR, identifier=ingest_id) as operator:
            await operator.subscribe("$SYS/#", qos=0)
            async with asyncio.timeout(WAIT_TIMEOUT_S):
                async for message in operator.messages:  # the broker's retained figures
                    if message.topic.value.startswith("$SYS/"):
                        break
            await operator.subscribe("makerspace/_invalid", qos=1)
            await ingest.publish("makerspace/_invalid", '{"v":1,"reason":"schema"}', qos=1)
            assert "makerspace/_invalid" in await next_topics(operator, "makerspace/_invalid")
            await ingest.publish(ready, b"", qos=1)
            assert await next_topics(ingest, ready) == [ready], "ingest was not thrown off"


async def test_the_operator_cannot_publish_anywhere_nor_read_the_boards(
    broker: ProvisionedMosquitto,
) -> None:
    """Test that the operator's commands, readings, alerts, dead letters and `$SYS`
    publishes reach nobody, and that it is delivered no board message."""
    forged = ["makerspace/aktobe/solder-1/cmd/relay", "makerspace/aktobe/solder-1/config",
              "makerspace/aktobe/solder-1/telemetry", "makerspace/aktobe/alerts/x",
              "makerspace/aktobe/alerts/x/ack", "makerspace/_invalid", "$SYS/broker/uptime"]  # fmt: skip
    async with (
        client_as(broker, "ingest") as ingest,
        client_as(broker, SOLDER_1) as board,
        client_as(broker, OPERATOR) as operator,
    ):
        await ingest.subscribe("makerspace/#", qos=1)
        await board.subscribe("makerspace/aktobe/solder-1/#", qos=1)
        await operator.subscribe("makerspace/#", qos=1)
        for topic in forged:
            await operator.publish(topic, '{"v":1,"on":true}', qos=1)
        await board.publish("makerspace/aktobe/solder-1/state", '{"v":1,"state":"idle"}', qos=1)
        await ingest.publish("makerspace/_invalid", '{"v":1}', qos=1)
        await ingest.publish("makerspace/aktobe/solder-1/cmd/identify", '{"v":1}', qos=1)
        assert await next_topics(board, "makerspace/aktobe/solder-1/cmd/identify") == [
            "makerspace/aktobe/solder-1/cmd/identify"
        ]
        assert await next_topics(ingest, "makerspace/aktobe/solder-1/cmd/identify") == [
            "makerspace/aktobe/solder-1/state",
            "makerspace/_invalid",
            "makerspace/aktobe/solder-1/cmd/identify",
        ]
        assert await next_topics(operator, "makerspace/_invalid") == ["makerspace/_invalid"]


def test_every_boards_acl_lines_are_the_tables_rows(tmp_path: Path) -> None:
    """Test that a board's ACL lines are exactly its kinds in the table: one write per kind
    it sends, one read per kind it is sent, nothing written by hand beside them."""
    files = provision(CONFIG, tmp_path, 1883)
    sections = files.acl.read_text().split("\n\n")
    [board] = [lines.splitlines() for lines in sections if lines.startswith(f"user {SOLDER_1}\n")]
    sent = [k.suffix for k in protocol.MESSAGE_KINDS if k.publisher is Role.BOARD]
    read = [k.suffix for k in protocol.MESSAGE_KINDS if k.reader is Role.BOARD]
    assert board[1:] == [f"topic write makerspace/aktobe/solder-1/{suffix}" for suffix in sent] + [
        f"topic read makerspace/aktobe/solder-1/{suffix}" for suffix in read
    ]
    assert {"telemetry", "state", "status", "event"} <= set(sent)
    assert {"cmd/relay", "cmd/identify", "config"} <= set(read)


class Humidity(BoardMessage):
    """A kind no board sends: it exists only in this test's table."""

    humidity_pct: float = Field(ge=0, le=100)
    ts: float | None = None


async def test_a_kind_added_to_the_table_alone_reaches_the_acl_and_the_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that one new row in MESSAGE_KINDS, and nothing else, lets a board publish the
    new kind through the provisioned broker and bridge, and ingest decode it into its
    measurement; the JSON Schema lists it."""
    humidity = KindSpec("humidity", Humidity, Role.BOARD, Role.SERVER, retained=False,
                        measurement="humidity_test")  # fmt: skip
    monkeypatch.setattr(protocol, "MESSAGE_KINDS", (*protocol.MESSAGE_KINDS, humidity))
    topic = "makerspace/aktobe/solder-1/humidity"
    port = free_port()
    files = provision(CONFIG, tmp_path / "broker", port)
    with ProvisionedMosquitto(files, port) as broker:
        async with client_as(broker, "ingest") as ingest, client_as(broker, SOLDER_2) as two:
            await ingest.subscribe("makerspace/aktobe/+/humidity", qos=1)
            await two.publish(topic, '{"v":1,"humidity_pct":40}', qos=1)  # not its own
            async with client_as(broker, SOLDER_1) as board:
                await board.publish(topic, '{"v":1,"humidity_pct":41.5}', qos=1)
            async with asyncio.timeout(WAIT_TIMEOUT_S):
                message = await anext(aiter(ingest.messages))
    assert (message.topic.value, message.payload) == (topic, b'{"v":1,"humidity_pct":41.5}')
    assert "makerspace/+/+/humidity" in protocol.board_subscriptions()
    decoded = Decoder(CONFIG, clock=lambda: 1_790_000_000.0).decode(topic, message.payload)
    device = CONFIG.device("solder-1")
    assert device is not None
    stamped_ms = 1_790_000_000_000  # no ts: the server's time
    tags = device_tags("aktobe", device)
    expected = Point("humidity_test", tags, {"humidity_pct": 41.5}, stamped_ms, 0, True)
    assert decoded.points == [expected]
    assert "humidity" in protocol.json_schema()["messages"]
    network = Network("n", [CONFIG], lists_sites=True)
    central = provision_central(network, tmp_path / "central", free_port())
    assert "topic write makerspace/aktobe/+/humidity" in central.acl.read_text()
