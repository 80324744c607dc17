"""Connects the alert engine to the world: alert history in InfluxDB, retained alert
topics, notifications, relay commands, and acknowledgements (MQTT and HTTP)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from typing import Any

import aiomqtt

from makerwatch.alerts.engine import Alert, AlertEngine, RelayOff, Transition
from makerwatch.alerts.notifier import Notification, Notifier
from makerwatch.alerts.texts import Language, message
from makerwatch.core.protocol import TOPIC_ROOT
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.decode import device_tags
from makerwatch.ingest.line_protocol import Point
from makerwatch.ingest.writer import BatchWriter

__all__ = ["AlertService"]

log = logging.getLogger(__name__)

NOTIFY = {"fired", "repeated", "resolved", "auto_off_sent", "auto_off_unconfirmed"}
LIVE_WITHIN_MS = 120_000  # the wall clock drives time only while data is this fresh
TICK_S = 5.0


class AlertService:
    def __init__(self, config: SiteConfig, writer: BatchWriter, notifier: Notifier) -> None:
        self.config = config
        self.engine = AlertEngine(config)
        self._writer = writer
        self._notifier = notifier
        self._client: aiomqtt.Client | None = None
        site = config.site.id
        self.alerts_topic = f"{TOPIC_ROOT}/{site}/alerts"
        self.ready_topic = f"{TOPIC_ROOT}/{site}/_ingest/{config.mqtt.client_id}/ready"

    @property
    def topics(self) -> list[str]:
        """Subscribed before the device topics: retained alerts come back first."""
        return [f"{self.alerts_topic}/+", f"{self.alerts_topic}/+/ack", self.ready_topic]

    async def connected(self, client: aiomqtt.Client) -> None:
        """After every (re)connect and subscription: mark the end of the retained replay."""
        self._client = client
        if not self.engine.ready:
            await client.publish(self.ready_topic, b"1", qos=1)

    async def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Alert-topic messages; returns False for anything else."""
        if topic == self.ready_topic:
            if not self.engine.ready:
                log.info("restored %d active alerts", len(self.engine.alerts))
                await self._perform(self.engine.start())
            return True
        if not topic.startswith(self.alerts_topic + "/"):
            return False
        rest = topic[len(self.alerts_topic) + 1 :]
        if rest.endswith("/ack"):
            await self._ack_message(rest.removesuffix("/ack"), payload)
        elif payload and not self.engine.ready:
            try:
                self.engine.restore(Alert.from_json(json.loads(payload)))
            except (ValueError, TypeError) as exc:
                log.warning("ignored retained alert %s: %s", topic, exc)
        return True

    async def observe(self, points: list[Point]) -> None:
        actions: list[Transition | RelayOff] = []
        for point in points:
            actions += self.engine.observe(point)
        await self._perform(actions)

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Raises KeyError for an alert that is not active."""
        await self._perform(self.engine.acknowledge(alert_id, by))
        return self.engine.alerts[alert_id]

    async def run_clock(self) -> None:
        """Let wall time drive timers (e.g. no_data) while the site's data is live."""
        while True:
            await asyncio.sleep(TICK_S)  # the clock's tick
            wall = int(time.time() * 1000)
            if self.engine.ready and 0 <= wall - self.engine.now_ms <= LIVE_WITHIN_MS:
                await self._perform(self.engine.advance(wall))

    async def _ack_message(self, alert_id: str, payload: bytes) -> None:
        try:
            by = str(json.loads(payload).get("by", "staff"))[:64]
        except (ValueError, AttributeError):
            by = "staff"
        try:
            await self.acknowledge(alert_id, by)
        except KeyError:
            log.warning("acknowledgement for %s, which is not active", alert_id)

    async def _perform(self, actions: list[Transition | RelayOff]) -> None:
        for action in actions:
            if isinstance(action, RelayOff):
                await self._publish(f"{TOPIC_ROOT}/{self.config.site.id}/{action.device}/cmd/relay",
                                    json.dumps({"v": 1, "on": False, "reason": "left_on"}), retain=False)  # fmt: skip
            else:
                await self._record(action)

    async def _record(self, transition: Transition) -> None:
        alert = transition.alert
        device = self.engine.devices[alert.device]
        if transition.status in NOTIFY:  # first: staff should not wait for the bookkeeping
            text_in = functools.partial(self._text, transition)
            self._notifier.send(Notification(alert.rule, f"Makerwatch: {device.name}", text_in))
        text = self._text(transition, self.config.alerts.language)
        tags = {
            **device_tags(self.config.site.id, device),
            "rule": alert.rule,
            "status": transition.status,
        }
        fields = {"message": text, "alert_id": alert.alert_id, "reason": alert.reason}
        if alert.acked_by:
            fields["acked_by"] = alert.acked_by
        await self._writer.submit(
            self.alerts_topic, b"", [Point("alert", tags, fields, transition.at_ms)], lambda: None
        )
        active = transition.status != "resolved"
        body = (
            json.dumps({**alert.to_json(), "message": text}, ensure_ascii=False) if active else ""
        )
        await self._publish(f"{self.alerts_topic}/{alert.alert_id}", body, retain=True)

    def _text(self, transition: Transition, language: Language) -> str:
        alert = transition.alert
        device = self.engine.devices[alert.device]
        key = (
            transition.status
            if transition.status in ("resolved", "auto_off_sent", "auto_off_unconfirmed")
            else f"{alert.rule}/{alert.reason}"
        )
        held_s = alert.seconds + (transition.at_ms - alert.fired_ms) / 1000
        return message(
            key,
            language,
            name=device.name,
            site=self.config.site.name,
            seconds=held_s,
            temp_c=alert.temp_c or 0,
        )

    async def _publish(self, topic: str, payload: str, retain: bool) -> None:
        if self._client is None:
            log.warning("not connected: %s not published", topic)
            return
        try:
            await self._client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish %s: %s", topic, exc)

    def active(self) -> list[dict[str, Any]]:
        return [alert.to_json() for alert in self.engine.alerts.values()]
