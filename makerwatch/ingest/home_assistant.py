"""Home Assistant sees every machine (docs/home-assistant.md): MQTT discovery messages
and the values they point to, published by ingest when the site file turns it on.

For each machine of the site file, four retained discovery configurations under Home
Assistant's prefix (`<prefix>/<component>/makerwatch-<site>/<device>_<entity>/config`,
"MQTT Discovery" in Home Assistant's MQTT documentation): its state (an enum sensor:
off, idle, active), its power (W), "on since" (a timestamp) and its active alert (a
problem binary sensor with the alert as attributes). They all read one retained JSON
object on the machine's own topic under the site's root, and are available while the
machine can be heard and ingest runs.

The values come from what the floor board is kept from: the points ingest stored,
each machine's `MachineStatus` (core/machine_status.py) and the alert engine's active
alerts. Every PUBLISH_EVERY_S what changed is published, so silence (which has no point
of its own) turns a machine "offline" too. A configuration of this site's node that no
machine of the site file publishes any more (a machine removed) is cleared when ingest
reads it back from the broker at start: an empty retained message, as the
documentation says, which removes the entity from Home Assistant.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt

from makerwatch import __version__
from makerwatch.core.home_assistant import (
    availability_topic,
    discovery_pattern,
    discovery_topic,
    ingest_availability_topic,
    node_id,
    state_topic,
    values_root,
)
from makerwatch.core.machine_status import MachineStatus, silent_after_ms
from makerwatch.core.points import Point
from makerwatch.core.ports import Publisher
from makerwatch.core.protocol import (
    STATE_MEASUREMENT,
    STATUS_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    MachineState,
)
from makerwatch.core.site_config import Device, Language, SiteConfig
from makerwatch.core.vocabulary import STATE_NAMES, TERMS

__all__ = ["ENTITIES", "OFFLINE", "ONLINE", "HomeAssistant", "discovery_configs"]

log = logging.getLogger(__name__)

PUBLISH_EVERY_S = 0.5  # how often changes (and silence) reach Home Assistant
ONLINE, OFFLINE = "online", "offline"  # Home Assistant's default availability payloads
SHOWN = frozenset({TELEMETRY_MEASUREMENT, STATE_MEASUREMENT, STATUS_MEASUREMENT})
STATES = [state.value for state in MachineState]  # the state sensor's options
ORIGIN = {"name": "Makerwatch", "sw_version": __version__}

# Each machine's entities: (object id, component, what its configuration adds). Names
# are the glossary's; the state is the machine's main entity and takes its name (null).
ENTITIES: tuple[tuple[str, str, Callable[[Language], dict[str, Any]]], ...] = (
    ("state", "sensor", lambda language: {
        "name": None, "device_class": "enum", "options": STATES,
        "value_template": "{{ value_json.state }}",
        "json_attributes_template": "{{ value_json.state_attributes | tojson }}",
    }),
    ("power", "sensor", lambda language: {
        "name": TERMS["power"][language], "device_class": "power",
        "unit_of_measurement": "W", "state_class": "measurement",
        "value_template": "{{ value_json.power_w }}",
    }),
    ("on_since", "sensor", lambda language: {
        "name": TERMS["on_since"][language], "device_class": "timestamp",
        "value_template": "{{ value_json.on_since }}",
    }),
    ("alert", "binary_sensor", lambda language: {
        "name": TERMS["alert"][language], "device_class": "problem",
        "payload_on": "ON", "payload_off": "OFF",
        "value_template": "{{ value_json.alert }}",
        "json_attributes_template": "{{ value_json.alert_attributes | tojson }}",
    }),
)  # fmt: skip


def discovery_configs(
    config: SiteConfig, device: Device, fw: str | None = None
) -> dict[str, dict[str, Any]]:
    """The machine's discovery configurations, by their topic."""
    settings, site = config.home_assistant, config.site.id
    language = settings.language or config.alerts.language
    shared = {
        "device": _device_block(config, device, language, fw),
        "origin": ORIGIN,
        "state_topic": state_topic(site, device.id),
        "json_attributes_topic": state_topic(site, device.id),
        "availability": [
            {"topic": topic, "payload_available": ONLINE, "payload_not_available": OFFLINE}
            for topic in (availability_topic(site, device.id), ingest_availability_topic(site))
        ],
        "availability_mode": "all",  # the machine heard, and ingest running
        "qos": 1,
    }
    configs = {}
    for entity, component, own in ENTITIES:
        body = {**shared, **own(language), "unique_id": _unique_id(site, device.id, entity)}
        if "json_attributes_template" not in body:
            del body["json_attributes_topic"]
        topic = discovery_topic(settings.prefix, component, site, f"{device.id}_{entity}")
        configs[topic] = body
    return configs


def _device_block(
    config: SiteConfig, device: Device, language: Language, fw: str | None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [f"makerwatch_{config.site.id}_{device.id}"],
        "name": device.name_in(language),
    }
    if device.source is None:
        block |= {"manufacturer": "Makerwatch", "model": "Makerwatch board"}
    else:  # a plug's maker is not known here, only its firmware
        block["model"] = device.source.device_model
    if fw is not None:
        block["sw_version"] = fw
    return block


def _unique_id(site: str, device: str, entity: str) -> str:
    # "_" is in no slug: no two machines of any two sites share one.
    return f"makerwatch_{site}_{device}_{entity}"


@dataclass
class _Machine:
    device: Device
    silent_after_ms: int
    status: MachineStatus = field(default_factory=MachineStatus)
    power_w: float | None = None
    fw: str | None = None

    def observe(self, point: Point, heard_ms: int) -> None:
        newest = self.status.last_seen_ms is None or point.time_ms >= self.status.last_seen_ms
        self.status.observe(point, heard_ms)
        power = point.fields.get("power_w")
        if point.measurement == TELEMETRY_MEASUREMENT and newest and isinstance(power, int | float):
            self.power_w = float(power)
        fw = point.fields.get("fw")
        if point.measurement == STATUS_MEASUREMENT and isinstance(fw, str):
            self.fw = fw

    def available(self, wall_ms: int) -> bool:
        return self.status.shown(wall_ms, self.silent_after_ms) in STATES


class HomeAssistant:
    """Publishes a site's machines for Home Assistant through ingest's MQTT client."""

    def __init__(
        self,
        config: SiteConfig,
        publisher: Publisher,
        alerts: Callable[[], list[dict[str, Any]]],
        wall_ms: Callable[[], int],
        connected: Callable[[], bool],
    ) -> None:
        self._config = config
        self._publisher = publisher
        self._alerts = alerts  # the alert engine's active alerts
        self._wall_ms, self._connected = wall_ms, connected
        self._zone = ZoneInfo(config.site.timezone)
        self._language = config.home_assistant.language or config.alerts.language
        self._machines = {d.id: _Machine(d, silent_after_ms(config, d)) for d in config.devices}
        # What the site file publishes: anything else of this node is a removed machine's.
        self._ours = {
            topic
            for d in config.devices
            for topic in [*discovery_configs(config, d), *_value_topics(config.site.id, d.id)]
        }
        self._sent: dict[str, str] = {}  # topic -> the payload last published there
        self._configs_made: dict[str, tuple[str | None, list[tuple[str, str]]]] = {}

    @staticmethod
    def subscriptions(config: SiteConfig) -> list[str]:
        """This site's discovery topics, read back at start to clear removed machines'."""
        settings = config.home_assistant
        return [discovery_pattern(settings.prefix, config.site.id)] if settings.discovery else []

    def owns(self, topic: str) -> bool:
        settings = self._config.home_assistant
        levels = topic.split("/")
        prefix_levels = settings.prefix.count("/") + 1
        return (
            len(levels) == prefix_levels + 4
            and "/".join(levels[:prefix_levels]) == settings.prefix
            and levels[-3] == node_id(self._config.site.id)
            and levels[-1] == "config"
        )

    async def handle(self, topic: str, payload: bytes, retained: bool) -> None:
        """A configuration of this site's node, read back: one no machine publishes any
        more is cleared, with the values it pointed to."""
        if not payload or topic in self._ours:
            return
        stale = [topic, *self._topics_named_in(payload)]
        for old in stale:
            await self._publisher.publish(old, b"", retain=True)
            self._sent.pop(old, None)
        log.info("home assistant: cleared %s (no such machine in the site file)", topic)

    def _topics_named_in(self, payload: bytes) -> list[str]:
        """The value topics of ours that an old configuration names (and no machine uses)."""
        try:
            body = json.loads(payload)
        except ValueError:
            return []
        named = [body.get("state_topic")] if isinstance(body, dict) else []
        if isinstance(body, dict) and isinstance(body.get("availability"), list):
            named += [a.get("topic") for a in body["availability"] if isinstance(a, dict)]
        root = values_root(self._config.site.id) + "/"
        return [
            t for t in named
            if isinstance(t, str) and t.startswith(root) and t not in self._ours
            and t != ingest_availability_topic(self._config.site.id)
        ]  # fmt: skip

    async def observe(self, points: Iterable[Point]) -> None:
        """Points just stored (or known from a retained message), heard now."""
        heard_ms = self._wall_ms()
        for point in points:
            machine = self._machines.get(point.tags.get("device", ""))
            if machine is not None and point.measurement in SHOWN:
                machine.observe(point, heard_ms)

    def will(self) -> aiomqtt.Will:
        """Ingest's last will: Home Assistant shows every machine unavailable when
        ingest is gone without a word (killed, or its host lost)."""
        return aiomqtt.Will(ingest_availability_topic(self._config.site.id), OFFLINE, qos=1, retain=True)  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Publish what changed every PUBLISH_EVERY_S until `stop`; then say ingest is
        offline. Its wait on `stop` begins before the MQTT source's does, so that word
        is in flight before the source leaves, and the source waits for it."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stopping.done():
                try:
                    await self.publish_changes(self._wall_ms(), self._connected())
                except Exception:  # Home Assistant's view must never stop ingest
                    log.exception("home assistant: publishing failed")
                await asyncio.wait({stopping}, timeout=PUBLISH_EVERY_S)
        finally:
            stopping.cancel()
        await self._publisher.publish(ingest_availability_topic(self._config.site.id), OFFLINE, retain=True)  # fmt: skip

    def reconnected(self) -> None:
        """A new session with the broker: everything is sent again (the broker may
        have lost it, and ingest's last will may have said "offline" meanwhile)."""
        self._sent.clear()

    async def publish_changes(self, wall_ms: int, connected: bool) -> None:
        """Everything whose payload differs from the last one sent, in order: the
        configurations first, as Home Assistant needs them before the values."""
        if not connected:
            return
        for topic, payload in self._payloads(wall_ms):
            if self._sent.get(topic) != payload:
                await self._publisher.publish(topic, payload, retain=True)
                self._sent[topic] = payload

    def _payloads(self, wall_ms: int) -> list[tuple[str, str]]:
        site = self._config.site.id
        alerts = _alerts_by_device(self._alerts())
        configs: list[tuple[str, str]] = []
        values = [(ingest_availability_topic(site), ONLINE)]
        for machine in self._machines.values():
            device = machine.device
            configs += self._config_payloads(machine)
            values.append((state_topic(site, device.id), self._values(machine, alerts.get(device.id))))  # fmt: skip
            available = ONLINE if machine.available(wall_ms) else OFFLINE
            values.append((availability_topic(site, device.id), available))
        return configs + values

    def _config_payloads(self, machine: _Machine) -> list[tuple[str, str]]:
        """The machine's configurations as sent, made again only when its firmware
        version (the one part that changes) does."""
        fw, payloads = self._configs_made.get(machine.device.id, (None, []))
        if not payloads or fw != machine.fw:
            configs = discovery_configs(self._config, machine.device, machine.fw)
            payloads = [(t, json.dumps(b, ensure_ascii=False, sort_keys=True)) for t, b in configs.items()]  # fmt: skip
            self._configs_made[machine.device.id] = (machine.fw, payloads)
        return payloads

    def _values(self, machine: _Machine, alert: dict[str, Any] | None) -> str:
        status = machine.status
        state = status.state if status.state in STATES else None
        values = {
            "state": state,
            "state_attributes": {"label": STATE_NAMES[state][self._language]} if state else {},
            "power_w": machine.power_w,
            "on_since": self._iso(status.on_since_ms) if status.is_on else None,
            "alert": "ON" if alert is not None else "OFF",
            "alert_attributes": self._alert_attributes(alert),
        }
        return json.dumps(values, ensure_ascii=False, sort_keys=True)

    def _alert_attributes(self, alert: dict[str, Any] | None) -> dict[str, Any]:
        if alert is None:
            return {}
        headline = alert.get("headlines", {}).get(self._language) or alert.get("message", "")
        return {
            "alert_id": alert.get("alert_id"),
            "rule": alert.get("rule"),
            "text": headline,
            "since": self._iso(alert.get("fired_ms")),
            "acknowledged_by": alert.get("acked_by"),
        }

    def _iso(self, epoch_ms: object) -> str | None:
        """ISO 8601 with the site's offset, as a timestamp sensor reads it."""
        if not isinstance(epoch_ms, int | float):
            return None
        return datetime.fromtimestamp(epoch_ms / 1000, self._zone).isoformat(timespec="seconds")


def _value_topics(site: str, device: str) -> tuple[str, str]:
    return state_topic(site, device), availability_topic(site, device)


def _alerts_by_device(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each machine's newest active alert."""
    newest: dict[str, dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: a.get("fired_ms") or 0):
        newest[str(alert.get("device"))] = alert
    return newest
