"""Home Assistant sees every machine: ingest's MQTT discovery messages and the values
they point to, read from a real Mosquitto by a client standing in for Home Assistant's.

No Home Assistant runs here. Each discovery configuration is checked against Home
Assistant's documented MQTT discovery schema, written out below from its documentation
pages (home-assistant.io, source/_integrations/): mqtt.markdown ("Discovery topic",
"Discovery payload", the `origin` options, "Using Availability topics", "Sharing of
device configuration"), sensor.mqtt.markdown and binary_sensor.mqtt.markdown (each
entity's options: `state_topic`, `device_class`, `options` only with the `enum` class
and never with `state_class` or `unit_of_measurement`, `state_class`, `unique_id`
required for a `device`). Each value template is rendered with Jinja2 as Home
Assistant renders it (`value_json`, the `tojson` filter), and the result read as its
MQTT sensor reads it: "None" is no value.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import jinja2
import pytest

from makerwatch.core.errors import ConfigError
from makerwatch.core.home_assistant import ingest_availability_topic, values_root
from makerwatch.core.site_config import HomeAssistantSettings, SiteConfig, load_site_config
from makerwatch.ingest.home_assistant import discovery_configs
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.ops.provision import HOME_ASSISTANT_USER, INGEST_USER, provision
from tests.ops.test_provision import ProvisionedMosquitto
from tests.support import ingest_process, make_config, publish, start_ingest, wait_until

PREFIX = "homeassistant"
ENTITIES_PER_MACHINE = 4

# Home Assistant's discovery topic, as its MQTT discovery reads it (mqtt.markdown,
# "Discovery topic": node_id and object_id of [a-zA-Z0-9_-]).
DISCOVERY_TOPIC = re.compile(
    rf"^{PREFIX}/(?P<component>\w+)/(?P<node_id>[a-zA-Z0-9_-]+)/(?P<object_id>[a-zA-Z0-9_-]+)/config$"
)
# Keys each component requires, and the type of every key used here (the docs' types).
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}}
TYPES: dict[str, type | tuple[type, ...]] = {
    "name": (str, type(None)), "unique_id": str, "state_topic": str, "device_class": str,
    "value_template": str, "json_attributes_topic": str, "json_attributes_template": str,
    "unit_of_measurement": str, "state_class": str, "options": list, "availability": list,
    "availability_mode": str, "payload_available": str, "payload_not_available": str,
    "payload_on": str, "payload_off": str, "qos": int, "device": dict, "origin": dict,
}  # fmt: skip
DEVICE_TYPES: dict[str, type | tuple[type, ...]] = {
    "identifiers": (str, list), "name": str, "manufacturer": str, "model": str, "sw_version": str,
}  # fmt: skip
ORIGIN_TYPES: dict[str, type] = {"name": str, "sw_version": str, "support_url": str}
# Device classes and units from the sensor and binary sensor documentation's lists.
SENSOR_CLASSES = {"enum", "power", "timestamp"}
BINARY_SENSOR_CLASSES = {"problem"}
POWER_UNITS = {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}


def check_discovery_schema(topic: str, body: dict[str, Any]) -> str:
    """Fail on anything Home Assistant's documented discovery schema would refuse;
    returns the component."""
    match = DISCOVERY_TOPIC.match(topic)
    assert match, f"{topic}: not a discovery topic"
    component = match["component"]
    assert component in REQUIRED, topic
    assert REQUIRED[component] <= body.keys(), (topic, REQUIRED[component] - body.keys())
    for key, value in body.items():
        assert key in TYPES, f"{topic}: {key} is not an option used here"
        assert isinstance(value, TYPES[key]), (topic, key, value)
    assert body["unique_id"], "a device needs a unique_id (sensor.mqtt: device)"
    device = body["device"]
    assert device.keys() <= DEVICE_TYPES.keys(), device
    assert all(isinstance(device[k], DEVICE_TYPES[k]) for k in device), device
    assert device["identifiers"], "identifiers (Sharing of device configuration)"
    assert device["name"], "and a name (Sharing of device configuration)"
    assert body["origin"]["name"], "origin: name is required"
    assert body["origin"].keys() <= ORIGIN_TYPES.keys()
    for availability in body["availability"]:
        assert set(availability) <= {"topic", "payload_available", "payload_not_available", "value_template"}  # fmt: skip
        assert isinstance(availability["topic"], str), "availability: topic is required"
        assert all(isinstance(v, str) for v in availability.values()), availability
    assert body["availability_mode"] in {"all", "any", "latest"}
    if component == "sensor":
        check_sensor(body)
    else:
        assert body["device_class"] in BINARY_SENSOR_CLASSES
    for key in ("value_template", "json_attributes_template"):
        if key in body:
            jinja2.Environment().parse(body[key])  # a template Jinja2 can read
    return component


def check_sensor(body: dict[str, Any]) -> None:
    assert body["device_class"] in SENSOR_CLASSES
    if body["device_class"] == "enum":
        assert body["options"], "an empty options list is not allowed"
        assert "state_class" not in body
        assert "unit_of_measurement" not in body
    else:
        assert "options" not in body, "options need the enum device class"
    if body["device_class"] == "power":
        assert body["unit_of_measurement"] in POWER_UNITS
    if "state_class" in body:
        assert body["state_class"] in STATE_CLASSES


def render(template: str, payload: str) -> str:
    """A value template rendered as Home Assistant's MQTT entities render it."""
    return jinja2.Environment().from_string(template).render(value_json=json.loads(payload))


@dataclass
class HomeAssistantClient:
    """What a client subscribed to the discovery prefix and the values saw: each topic's
    newest payload and whether the broker delivered it as retained."""

    newest: dict[str, tuple[str, bool]] = field(default_factory=dict)
    client: aiomqtt.Client | None = None

    def configs(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(p) for t, (p, _) in self.newest.items() if t.startswith(PREFIX) and p}  # fmt: skip

    def value(self, topic: str) -> str | None:
        return self.newest[topic][0] if topic in self.newest else None

    def entity(self, config_topic: str) -> str | None:
        """An entity's value now, as Home Assistant would show it (None: unknown)."""
        body = self.configs()[config_topic]
        payload = self.value(body["state_topic"])
        if not payload:
            return None
        shown = render(body["value_template"], payload)
        return None if shown == "None" else shown

    def attributes(self, config_topic: str) -> dict[str, Any]:
        body = self.configs()[config_topic]
        payload = self.value(body["json_attributes_topic"])
        attributes: dict[str, Any] = json.loads(render(body["json_attributes_template"], payload or "{}"))  # fmt: skip
        return attributes


@contextlib.asynccontextmanager
async def home_assistant(
    port: int, topics: Sequence[str], login: tuple[str, str] | None = None
) -> AsyncIterator[HomeAssistantClient]:
    """A client subscribed to `topics` (as the provisioned `homeassistant` login, given one)."""
    seen = HomeAssistantClient()
    ready = asyncio.Event()
    user, secret = login or (None, None)

    async def listen() -> None:
        async with aiomqtt.Client(
            "127.0.0.1", port, username=user, password=secret, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            seen.client = client
            for topic in topics:
                await client.subscribe(topic, qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                seen.newest[str(message.topic)] = (message.payload.decode(), message.retain)

    task = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 15)
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def with_discovery(config: SiteConfig, **settings: Any) -> SiteConfig:
    home = HomeAssistantSettings(discovery=True, **settings)
    return config.model_copy(update={"home_assistant": home})


def topic_of(config: SiteConfig, component: str, device: str, entity: str) -> str:
    return f"{PREFIX}/{component}/makerwatch-{config.site.id}/{device}_{entity}/config"


async def test_every_machine_is_discovered_retained_and_its_values_follow_the_board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that each machine's discovery configurations are retained, follow Home
    Assistant's documented schema, name only topics ingest publishes, and that state,
    power, on since, the alert and availability follow a board switching on and off."""
    rules = [{"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450}]
    config = with_discovery(make_config(mosquitto.port, influxdb.url, {"rules": rules, "language": "ru"}))  # fmt: skip
    site, port, machines = config.site.id, mosquitto.port, len(config.devices)
    board = f"makerspace/{site}/solder-1"
    t0 = time.time() - 600
    await publish(port, [
        (f"{board}/status", json.dumps({"v": 1, "online": True, "fw": "1.4.2", "ts": t0})),
        (f"{board}/state", json.dumps({"v": 1, "state": "off", "ts": t0})),
    ], retain=True)  # fmt: skip
    ingest = await start_ingest(config)
    topics = [f"{PREFIX}/#", f"{values_root(site)}/#"]
    async with home_assistant(port, topics) as early:
        await wait_until(lambda: len(early.configs()) == ENTITIES_PER_MACHINE * machines, "every configuration")  # fmt: skip
    async with home_assistant(port, topics) as ha:  # a late subscriber: what is retained
        await wait_until(lambda: len(ha.configs()) == ENTITIES_PER_MACHINE * machines, "the retained configurations")  # fmt: skip
        configs = ha.configs()
        assert all(ha.newest[topic][1] for topic in configs), "every configuration is retained"
        components = [check_discovery_schema(topic, body) for topic, body in configs.items()]
        assert sorted(components) == ["binary_sensor"] * 2 + ["sensor"] * 6
        unique_ids = [body["unique_id"] for body in configs.values()]
        assert len(set(unique_ids)) == len(unique_ids)
        named = {b[k] for b in configs.values() for k in ("state_topic", "json_attributes_topic") if k in b}  # fmt: skip
        named |= {a["topic"] for b in configs.values() for a in b["availability"]}
        await wait_until(lambda: named <= ha.newest.keys(), "a value on every topic a configuration names")  # fmt: skip
        assert all(ha.newest[topic][1] for topic in named), "values are retained too"

        state, power = topic_of(config, "sensor", "solder-1", "state"), topic_of(config, "sensor", "solder-1", "power")  # fmt: skip
        on_since = topic_of(config, "sensor", "solder-1", "on_since")
        alert = topic_of(config, "binary_sensor", "solder-1", "alert")
        solder = configs[state]["device"]
        assert solder["name"] == "Дәнекерлеу станциясы 1, үстел А"
        assert solder["sw_version"] == "1.4.2"
        assert (configs[power]["name"], configs[on_since]["name"], configs[alert]["name"]) == (
            "Мощность", "Включено с", "Оповещение",
        ), "names in the site's language, the glossary's words"  # fmt: skip
        assert configs[state]["name"] is None, "the state is the machine's own entity"
        availability = configs[state]["availability"][0]["topic"]

        await wait_until(lambda: ha.entity(state) == "off", "off")
        assert (ha.entity(power), ha.entity(on_since), ha.entity(alert)) == (None, None, "OFF")
        assert ha.attributes(state) == {"label": "Выключено"}
        assert ha.value(availability) == "online"

        on_at = t0 + 60
        await publish(port, [
            (f"{board}/state", json.dumps({"v": 1, "state": "active", "ts": on_at, "on_since": on_at})),
            (f"{board}/telemetry", json.dumps({"v": 1, "seq": 1, "ts": on_at + 5, "power_w": 42.5, "temp_c": 320})),
        ])  # fmt: skip
        await wait_until(lambda: ha.entity(state) == "active" and ha.entity(power) == "42.5", "in use")  # fmt: skip
        expected = datetime.fromtimestamp(on_at, ZoneInfo(config.site.timezone)).isoformat(timespec="seconds")  # fmt: skip
        assert ha.entity(on_since) == expected
        assert datetime.fromisoformat(expected).utcoffset() is not None, "ISO 8601 with its offset"

        await publish(port, [(f"{board}/telemetry", json.dumps({"v": 1, "seq": 2, "ts": on_at + 10, "power_w": 40.0, "temp_c": 470}))])  # fmt: skip
        await wait_until(lambda: ha.entity(alert) == "ON", "the alert")
        attributes = ha.attributes(alert)
        assert attributes["rule"] == "over_temperature"
        assert attributes["alert_id"] == "over_temperature-solder-1"
        assert "470" in attributes["text"], attributes

        await publish(port, [
            (f"{board}/telemetry", json.dumps({"v": 1, "seq": 3, "ts": on_at + 15, "power_w": 0.0, "temp_c": 25})),
            (f"{board}/state", json.dumps({"v": 1, "state": "off", "ts": on_at + 16})),
        ])  # fmt: skip
        await wait_until(lambda: ha.entity(state) == "off" and ha.entity(alert) == "OFF", "off again")  # fmt: skip
        assert (ha.entity(on_since), ha.entity(power), ha.attributes(alert)) == (None, "0.0", {})

        await publish(port, [(f"{board}/status", json.dumps({"v": 1, "online": False}))], retain=True)  # fmt: skip
        await wait_until(lambda: ha.value(availability) == "offline", "no signal after its last will")  # fmt: skip
        printer = configs[topic_of(config, "sensor", "printer-1", "state")]["availability"]
        assert ha.value(printer[0]["topic"]) == "offline", "never heard: unavailable"
        assert ha.value(printer[1]["topic"]) == "online", "ingest runs"

        await ingest.shutdown()
        await wait_until(lambda: ha.value(printer[1]["topic"]) == "offline", "ingest gone")
    ingest.task.result()


async def test_discovery_off_publishes_nothing_for_home_assistant(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a site that does not turn discovery on publishes no discovery message
    and no values for Home Assistant, while its boards are stored as ever."""
    config = make_config(mosquitto.port, influxdb.url)
    site, port = config.site.id, mosquitto.port
    ingest = await start_ingest(config)
    try:
        assert ingest.service.home_assistant is None
        async with home_assistant(port, [f"{PREFIX}/#", f"{values_root(site)}/#", "marker/#"]) as ha:  # fmt: skip
            state = json.dumps({"v": 1, "state": "idle", "ts": time.time()})
            await publish(port, [(f"makerspace/{site}/solder-1/state", state)])
            tile = ingest.service.floor.tiles["solder-1"]
            await wait_until(lambda: tile.machine.state == "idle", "the state stored and observed")  # fmt: skip
            await publish(port, [("marker/end", "end")])  # after all that went before it
            await wait_until(lambda: "marker/end" in ha.newest, "the marker")
            assert list(ha.newest) == ["marker/end"]
    finally:
        await ingest.shutdown()
    ingest.task.result()


async def test_a_machine_removed_from_the_site_file_is_cleared_at_the_next_start(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that the configurations (and values) of a machine no longer in the site file
    are cleared with empty retained messages when ingest starts again, and the others
    are kept."""
    config = with_discovery(make_config(mosquitto.port, influxdb.url))
    site, port = config.site.id, mosquitto.port
    ingest = await start_ingest(config)
    async with home_assistant(port, [f"{PREFIX}/#"]) as ha:
        await wait_until(lambda: len(ha.configs()) == 2 * ENTITIES_PER_MACHINE, "both machines")
    await ingest.shutdown()
    ingest.task.result()

    kept = config.model_copy(update={"devices": config.devices[:1]})
    ingest = await start_ingest(kept)
    try:
        async with home_assistant(port, [f"{PREFIX}/#", f"{values_root(site)}/#"]) as ha:
            removed = topic_of(config, "sensor", "printer-1", "state")
            await wait_until(lambda: ha.value(removed) == "", "the removed machine's configuration cleared")  # fmt: skip
            await wait_until(lambda: ha.value(f"{values_root(site)}/printer-1/state") == "", "its values cleared")  # fmt: skip
        async with home_assistant(port, [f"{PREFIX}/#", f"{values_root(site)}/#", "marker/#"]) as late:  # fmt: skip
            solder = topic_of(config, "sensor", "solder-1", "state")
            await wait_until(lambda: solder in late.newest, "the kept machine's configuration")
            await publish(port, [("marker/end", "end")])  # after every retained message
            await wait_until(lambda: "marker/end" in late.newest, "the marker")
            assert {t for t in late.configs() if "printer-1" in t} == set()
            assert len(late.configs()) == ENTITIES_PER_MACHINE
            assert not any("/printer-1/" in t for t in late.newest), "no value of it retained"
    finally:
        await ingest.shutdown()
    ingest.task.result()


async def test_ingest_killed_leaves_every_machine_unavailable_by_its_last_will(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that `makerwatch ingest` killed without a word (SIGKILL) is announced by the
    broker with ingest's last will, which every entity's availability reads."""
    config = with_discovery(make_config(mosquitto.port, influxdb.url))
    ingest_alive = ingest_availability_topic(config.site.id)
    async with (
        home_assistant(mosquitto.port, [f"{values_root(config.site.id)}/#"]) as ha,
        ingest_process(config, tmp_path) as process,
    ):
        await wait_until(lambda: ha.value(ingest_alive) == "online", "ingest online")
        process.kill()
        await wait_until(lambda: ha.value(ingest_alive) == "offline", "its last will")


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("kk", ["Дәнекерлеу станциясы 1", None, "Қуат", "Қосылған уақыты", "Ескерту"]),
        ("en", ["Soldering station 1", None, "Power", "On since", "Alert"]),
    ],
)
def test_names_are_in_the_configured_language_with_the_glossarys_words(
    language: str, names: list[str | None]
) -> None:
    """Test that a configured language names the machine (from its names in the site
    file) and each entity with the glossary's words, whatever the alerts' language."""
    config = SiteConfig.model_validate({
        "site": {"id": "aktobe", "name": "Makerspace Aktobe"},
        "devices": [{"id": "solder-1", "kind": "soldering_station", "name": {
            "ru": "Паяльная станция 1", "kk": "Дәнекерлеу станциясы 1", "en": "Soldering station 1"}}],
        "alerts": {"language": "ru"},
        "home_assistant": {"discovery": True, "language": language},
    })  # fmt: skip
    bodies = list(discovery_configs(config, config.devices[0]).values())
    assert [bodies[0]["device"]["name"], *(b["name"] for b in bodies)] == names


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        ("home/#", "no '+', '#', '$' or empty level"),
        ("home//assistant", "no '+', '#', '$' or empty level"),
        ("makerspace/ha", "must not be under makerspace/"),
    ],
)
def test_a_bad_discovery_prefix_is_one_line_naming_the_key(
    tmp_path: Path, prefix: str, says: str
) -> None:
    """Test that a discovery prefix Home Assistant could not subscribe to, or one inside
    Makerwatch's own topics, is refused at start-up in one line naming the key."""
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: {id: aktobe, name: Aktobe}\n"
        "devices: [{id: solder-1, name: Solder, kind: soldering_station}]\n"
        f"home_assistant: {{discovery: true, prefix: '{prefix}'}}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_site_config(path)
    [line] = str(refused.value).splitlines()[1:]
    assert line.startswith("  home_assistant.prefix: "), line
    assert says in line, line


async def test_the_provisioned_broker_lets_ingest_publish_and_home_assistant_only_read(
    tmp_path: Path, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that, on a broker provisioned from a site file with discovery on, ingest's
    login writes the configurations and values and the `homeassistant` login reads them,
    writes its own status, and can change nothing of Makerwatch's."""
    port = free_port()
    config = with_discovery(make_config(port, influxdb.url))
    files = provision(config, tmp_path / "broker", port)

    def login(user: str) -> tuple[str, str]:
        secret = json.loads((files.credentials / f"{user}.json").read_text())["mqtt_password"]
        return user, str(secret)

    user, secret = login(INGEST_USER)
    mqtt = config.mqtt.model_copy(update={"username": user, "password": secret})
    config = config.model_copy(update={"mqtt": mqtt})
    site = config.site.id
    with ProvisionedMosquitto(files, port):
        ingest = await start_ingest(config)
        try:
            topics = [f"{PREFIX}/#", f"{values_root(site)}/#"]
            async with home_assistant(port, topics, login(HOME_ASSISTANT_USER)) as ha:
                await wait_until(lambda: len(ha.configs()) == 2 * ENTITIES_PER_MACHINE, "the configurations")  # fmt: skip
                state = topic_of(config, "sensor", "solder-1", "state")
                named = ha.configs()[state]
                await wait_until(lambda: named["state_topic"] in ha.newest, "the values")
                original = ha.newest[state][0]
                assert ha.client is not None
                for forged in (state, named["state_topic"]):  # would come back to it, in order
                    await ha.client.publish(forged, "{}", qos=1)
                await ha.client.publish(f"{PREFIX}/status", "online", qos=1)  # its birth
                await wait_until(lambda: f"{PREFIX}/status" in ha.newest, "its own status")
                assert ha.newest[state][0] == original, "no configuration replaced"
                assert ha.newest[named["state_topic"]][0] != "{}", "no value forged"
        finally:
            await ingest.shutdown()
    ingest.task.result()
