"""Connects the alert engine to the world: alert history in InfluxDB, retained alert
topics, notifications, relay commands, and acknowledgements (MQTT and HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from typing import Any

from makerwatch.alerts.engine import (
    Alert,
    AlertEngine,
    AlreadyAcknowledged,
    NoRelay,
    RelayOff,
    Transition,
)
from makerwatch.alerts.notifier import Notification, Notifier
from makerwatch.alerts.texts import STATE_WORDS, TEMPLATES, duration, local_time, message
from makerwatch.core.points import Point, device_tags
from makerwatch.core.ports import PointSink, Publisher
from makerwatch.core.protocol import (
    Acknowledgement,
    AlertMessage,
    Command,
    MachineState,
    RelayCommand,
    alert_topic,
    alerts_subscriptions,
    command_topic,
    ingest_ready_topic,
)
from makerwatch.core.site_config import LANGUAGES, Device, Language, Rule, Severity, SiteConfig

__all__ = ["AlertService"]

log = logging.getLogger(__name__)

NOTIFY = {"fired", "repeated", "resolved", "acknowledged", "auto_off_sent",
          "auto_off_unconfirmed", "auto_off_cancelled"}  # fmt: skip
# Transitions whose text carries the condition's start and length, and how to acknowledge.
ONGOING = {"fired", "repeated"}
LIVE_WITHIN_MS = 120_000  # the wall clock drives time only while data is this fresh
TICK_S = 5.0


class AlertService:
    def __init__(
        self,
        config: SiteConfig,
        sink: PointSink,
        publisher: Publisher,
        notifier: Notifier,
        connected: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self._connected = connected or asyncio.Event()
        self.engine = AlertEngine(config)
        self._sink = sink
        self._publisher = publisher
        self._notifier = notifier
        site = config.site.id
        self.alerts_topic = alert_topic(site, "").removesuffix("/")
        self.ready_topic = ingest_ready_topic(site, config.mqtt.client_id)
        self._transitions = itertools.count()
        self._reference: tuple[int, int] | None = None  # (event time, monotonic ms), last point
        # Wall time that no clock step moves: the start's wall clock plus monotonic time.
        self._wall_base = (time.time() * 1000, time.monotonic() * 1000)

    @staticmethod
    def subscriptions(config: SiteConfig) -> list[str]:
        """Subscribed before the device topics: retained alerts come back first."""
        site = config.site.id
        return [*alerts_subscriptions(site), ingest_ready_topic(site, config.mqtt.client_id)]

    def wall_ms(self) -> int:
        wall, mono = self._wall_base
        return int(wall + time.monotonic() * 1000 - mono)

    async def connected(self) -> None:
        """After every (re)connect and subscription: mark the end of what the broker
        holds for us (retained alerts, queued readings); silence is judged from there."""
        self.engine.stop_listening()
        await self._publisher.publish(self.ready_topic, b"1")

    async def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Alert-topic messages; returns False for anything else."""
        if topic == self.ready_topic:
            if not self.engine.ready:
                log.info("restored %d active alerts", len(self.engine.alerts))
                await self._perform(self.engine.start())
            self.engine.listen(self.wall_ms())
            return True
        if not topic.startswith(self.alerts_topic + "/"):
            return False
        rest = topic[len(self.alerts_topic) + 1 :]
        if rest.endswith("/ack"):
            await self._ack_message(rest.removesuffix("/ack"), payload)
        elif payload and not self.engine.ready:
            try:
                self.engine.restore(Alert.from_message(AlertMessage.model_validate_json(payload)))
            except ValueError as exc:  # pydantic's ValidationError included
                log.warning("ignored retained alert %s: %s", topic, exc)
        return True

    async def observe(self, points: list[Point]) -> None:
        actions: list[Transition | RelayOff] = []
        heard_ms = self.wall_ms()
        for point in points:
            actions += self.engine.observe(self._on_event_time(point), heard_ms)
        await self._perform(actions)

    def _on_event_time(self, point: Point) -> Point:
        """A server-stamped point moves event time forward by no more than the wall clock
        (monotonic, which no clock step moves) has moved since the last point: a server
        clock an hour fast must not make an hour of timers fall due at once."""
        mono_ms = int(time.monotonic() * 1000)
        if point.server_time and self._reference is not None:
            engine_ms, at_mono_ms = self._reference
            limit_ms = engine_ms + (mono_ms - at_mono_ms)
            if point.time_ms > limit_ms:
                point = dataclasses.replace(point, time_ms=limit_ms)
        self._reference = (max(self.engine.now_ms, point.time_ms), mono_ms)
        return point

    async def acknowledge(
        self, alert_id: str, by: str, cancel_auto_off: bool = False, snooze_min: float | None = None
    ) -> Alert:
        """Someone is on it: announced to the alert's channels; repeats snoozed; a pending
        switch-off kept unless cancelled. Raises KeyError for an alert that is not
        active, AlreadyAcknowledged while someone's acknowledgement still holds."""
        snooze_ms = int((snooze_min or self.config.alerts.snooze_min) * 60_000)
        actions = self.engine.acknowledge(
            alert_id, by, snooze_ms=snooze_ms, cancel_auto_off=cancel_auto_off
        )
        await self._perform(actions)
        return self.engine.alerts[alert_id]

    # The staff chat's actions (makerwatch.alerts.telegram.StaffActions).

    async def acknowledge_from_chat(
        self, alert_id: str, by: str, snooze_min: float | None
    ) -> tuple[str, str]:
        try:
            await self.acknowledge(alert_id, by, snooze_min=snooze_min)
        except KeyError:
            return "gone", ""
        except AlreadyAcknowledged as already:
            return "already", already.alert.acked_by or ""
        return ("snoozed" if snooze_min else "acknowledged"), by

    async def switch_off_from_chat(self, alert_id: str, by: str) -> tuple[str, str]:
        snooze_ms = int(self.config.alerts.snooze_min * 60_000)
        try:
            actions = self.engine.staff_switch_off(alert_id, by, snooze_ms=snooze_ms)
        except KeyError:
            return "gone", ""
        except NoRelay:
            return "no_relay", ""
        await self._perform(actions)
        return "switching_off", by

    def machines_on(self, language: Language) -> list[str]:
        """'• «name»: in use, 45 min' for each machine that is on, longest first."""
        now_ms = max(self.engine.now_ms, self.wall_ms())
        on = [(view.state_since_ms or now_ms, device_id, view.state)
              for device_id, view in self.engine.views.items()
              if view.state in (MachineState.IDLE, MachineState.ACTIVE)]  # fmt: skip
        return [
            f"• «{self.engine.devices[device_id].name_in(language)}»: "
            f"{STATE_WORDS[str(state)][language]}, {duration((now_ms - since) / 1000, language)}"
            for since, device_id, state in sorted(on)
        ]

    async def run_clock(self) -> None:
        """Let wall time drive timers while ingest listens: no_data always, the others
        while the site's data is live. Nothing is judged while disconnected."""
        while True:
            await asyncio.sleep(TICK_S)  # the clock's tick
            if not self._connected.is_set():
                self.engine.stop_listening()
                continue
            wall = self.wall_ms()
            actions = self.engine.tick(wall) if self.engine.ready else []
            if self.engine.ready and 0 <= wall - self.engine.now_ms <= LIVE_WITHIN_MS:
                actions += self.engine.advance(wall)
            await self._perform(actions)

    async def _ack_message(self, alert_id: str, payload: bytes) -> None:
        try:
            by = Acknowledgement.model_validate_json(payload or b"{}").by
        except ValueError:
            by = "staff"
        try:
            await self.acknowledge(alert_id, by)
        except KeyError:
            log.warning("acknowledgement for %s, which is not active", alert_id)
        except AlreadyAcknowledged as already:
            log.info("%s: already acknowledged by %s", alert_id, already.alert.acked_by)

    async def _perform(self, actions: list[Transition | RelayOff]) -> None:
        for action in actions:
            if isinstance(action, RelayOff):
                topic = command_topic(self.config.site.id, action.device, Command.RELAY)
                command = RelayCommand(v=1, on=False, reason=action.reason)
                await self._publisher.publish(topic, command.model_dump_json())
            else:
                await self._record(action)

    async def _record(self, transition: Transition) -> None:
        alert = transition.alert
        device = self.engine.devices[alert.device]
        if self._worth_notifying(transition):  # first: staff should not wait for the bookkeeping
            self._notifier.send(Notification(
                alert.rule, f"Makerwatch: {device.default_name}",
                functools.partial(self._text, transition), self._severity(transition),
                f"{alert.alert_id}/repeat" if transition.status == "repeated" else None,
                alert.alert_id if transition.status in ONGOING else None,
            ))  # fmt: skip
        text = self._text(transition, self.config.alerts.language)
        tags = {
            **device_tags(self.config.site.id, device),
            "rule": alert.rule,
            "status": transition.status,
        }
        # One line in InfluxDB (line protocol carries no line breaks).
        fields = {"message": " ".join(text.splitlines()), "alert_id": alert.alert_id,
                  "reason": alert.reason}  # fmt: skip
        if alert.acked_by:
            fields["acked_by"] = alert.acked_by
        # Every transition its own point, even two of one alert in one millisecond.
        nanos = next(self._transitions) % 1_000_000
        await self._sink.store([Point("alert", tags, fields, transition.at_ms, nanos)])
        active = transition.status != "resolved"
        body = AlertMessage(**alert.to_json(), message=text).model_dump_json() if active else ""
        await self._publisher.publish(
            alert_topic(self.config.site.id, alert.alert_id), body, retain=True
        )

    def _worth_notifying(self, transition: Transition) -> bool:
        """Staff hear each transition once; catching up on the past, a repeat that is already
        history is not sent (the alert's firing, with its start time, says it all)."""
        if transition.status not in NOTIFY:
            return False
        if transition.status == "repeated":
            repeat_ms = int(self.config.alerts.repeat_every_min * 60_000)
            return transition.at_ms >= self.wall_ms() - repeat_ms
        return True

    def _severity(self, transition: Transition) -> Severity:
        if transition.status == "resolved":
            return Severity.INFO
        device = self.engine.devices[transition.alert.device]
        rule = self._rule(transition.alert.rule, device)
        return rule.effective_severity if rule else Severity.NORMAL

    def _rule(self, name: str, device: Device) -> Rule | None:
        rules = self.config.alerts.rules
        return next((r for r in rules if r.rule.value == name and r.applies_to(device)), None)

    def _text(self, transition: Transition, language: Language) -> str:
        alert, status = transition.alert, transition.status
        device = self.engine.devices[alert.device]
        timezone = self.config.site.timezone
        ongoing = status in ONGOING
        began_ms = alert.fired_ms - int(alert.seconds * 1000)
        auto_off_at = None
        rule = self._rule(alert.rule, device)
        if status == "acknowledged" and alert.auto_off == "pending" and rule is not None:
            off_ms = alert.fired_ms + int((rule.auto_off_after_min or 0) * 60_000)
            auto_off_at = local_time(off_ms, timezone, transition.at_ms)
        return message(
            status if status in TEMPLATES else f"{alert.rule}/{alert.reason}",
            language,
            name=device.name_in(language),
            site=self.config.site.name,
            since=local_time(began_ms, timezone, self.wall_ms()) if ongoing else None,
            seconds=(transition.at_ms - began_ms) / 1000,
            temp_c=alert.temp_c or 0,
            who=alert.acked_by or "",
            alert_id=alert.alert_id if ongoing else None,
            auto_off_at=auto_off_at,
        )

    def active(self) -> list[dict[str, Any]]:
        """The active alerts with their current message, machine name and how long they hold."""
        now_ms = self.wall_ms()
        language = self.config.alerts.language
        result = []
        for alert in self.engine.alerts.values():
            device = self.engine.devices[alert.device]
            began_ms = alert.fired_ms - int(alert.seconds * 1000)
            held = Transition("repeated", alert, max(now_ms, alert.notified_ms))
            result.append({
                **alert.to_json(),
                "name": device.name_in(language),
                "held_s": round(max(0, now_ms - began_ms) / 1000),
                "message": self._text(held, language),
                # The first line in every language, for the floor board's banner.
                "headlines": {lang: self._text(held, lang).split("\n")[0] for lang in LANGUAGES},
            })  # fmt: skip
        return result
