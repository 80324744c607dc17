"""Connects the alert engine to the world: alert history in InfluxDB, retained alert
topics, notifications, relay commands, and acknowledgements (MQTT and HTTP).

Longer than 400 lines: every step of an alert's life (fired, repeated, acknowledged,
resolved, switched off) is performed here on the one engine and its held state; split
by step, each part would reach into the others'.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
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
from makerwatch.alerts.rules import key_of
from makerwatch.alerts.texts import (
    STATE_WORDS,
    TEMPLATES,
    WAS_WORDS,
    local_time,
    message,
)
from makerwatch.core.machine_status import NO_SIGNAL, silent_after_ms
from makerwatch.core.points import Point, device_tags
from makerwatch.core.ports import PointSink, Publisher
from makerwatch.core.protocol import (
    Acknowledgement,
    AlertMessage,
    Command,
    RelayCommand,
    alert_topic,
    alerts_subscriptions,
    command_topic,
    ingest_ready_topic,
)
from makerwatch.core.site_config import (
    LANGUAGES,
    Device,
    Language,
    Rule,
    RuleName,
    Severity,
    SiteConfig,
)
from makerwatch.core.time_words import on_since_line

__all__ = ["AlertService"]

log = logging.getLogger(__name__)

NOTIFY = {"fired", "repeated", "resolved", "acknowledged", "auto_off_sent",
          "auto_off_unconfirmed", "auto_off_cancelled"}  # fmt: skip
# Transitions whose text carries the condition's start and length, and how to acknowledge.
ONGOING = {"fired", "repeated"}
LIVE_WITHIN_MS = 120_000  # the wall clock drives a machine's time only while its data is this fresh
TICK_S = 1.0
# A machine is catching up when its readings are older than LIVE_WITHIN_MS or its event
# time runs ahead of the wall clock by more than this between two of them (a buffer,
# a backlog, a backfill). Staff are then told only what still holds once its delivery
# has been quiet for SETTLE_MS: a condition that began and ended inside it is history.
AHEAD_OF_WALL_MS = 2_000
SETTLE_MS = 2_000
# The wall clock moving this much more or less than the monotonic clock between two
# readings is a step, not NTP's slewing (at most 0.5 ms a second).
STEP_MS = 2_000


@dataclasses.dataclass
class _Pace:
    """How one machine's readings arrive: its newest event time and when it arrived."""

    event_ms: int
    arrival_ms: int
    held_until_ms: int = 0  # its notifications wait until then (wall clock)


def _template(alert: Alert, status: str) -> str:
    """The text key of a transition: its own, a rule's own resolution, or the reason's."""
    if status == "resolved" and f"resolved/{alert.rule}" in TEMPLATES:
        return f"resolved/{alert.rule}"
    return status if status in TEMPLATES else f"{alert.rule}/{alert.reason}"


class AlertService:
    def __init__(
        self,
        config: SiteConfig,
        sink: PointSink,
        publisher: Publisher,
        notifier: Notifier,
        connected: asyncio.Event | None = None,
        wall: Callable[[], int] | None = None,
        monotonic: Callable[[], int] | None = None,
    ) -> None:
        """`wall` and `monotonic` (ms) are the server's clocks; a test that gives only
        `wall` gives a clock that never steps (it is the monotonic clock too)."""
        self.config = config
        self._connected = connected or asyncio.Event()
        self.engine = AlertEngine(config)
        self._sink = sink
        self._publisher = publisher
        self._notifier = notifier
        site = config.site.id
        self.alerts_topic = alert_topic(site, "").removesuffix("/")
        self._alerts_prefix = self.alerts_topic + "/"  # asked of every message
        self.ready_topic = ingest_ready_topic(site, config.mqtt.client_id)
        self._transitions = itertools.count()
        # Per machine: (event time, monotonic ms) of its last point.
        self._reference: dict[str, tuple[int, int]] = {}
        self._skew_ms = int(config.ingest.max_clock_skew_s * 1000)  # a board ahead of ours
        self._pace: dict[str, _Pace] = {}
        # The machines whose notifications wait, in the order they fall due (held_until_ms
        # is the steady wall clock plus one delay), so a release looks at the ones due
        # alone, not at every machine for every reading.
        self._holding: OrderedDict[str, None] = OrderedDict()  # O(1) first and move to end
        self._told: dict[str, Alert] = {}  # active alerts whose firing went to staff
        self._publishing: set[asyncio.Task[None]] = set()  # retained updates under way
        self._wall = wall or (lambda: int(time.time() * 1000))
        self._monotonic = monotonic or wall or (lambda: int(time.monotonic() * 1000))
        self._anchor: tuple[int, int] | None = None  # (wall ms, monotonic ms) last agreed
        self._step_ms = 0  # the step last reported in the log
        # Records maintenance tasks done (device, tasks, by); app.py sets it for a site
        # with maintenance tasks (makerwatch/maintenance), the chat's "Done" calls it.
        self.maintenance_done: Callable[[str, list[str], str], Awaitable[None]] | None = None

    @staticmethod
    def subscriptions(config: SiteConfig) -> list[str]:
        """Subscribed before the device topics: retained alerts come back first."""
        site = config.site.id
        return [*alerts_subscriptions(site), ingest_ready_topic(site, config.mqtt.client_id)]

    def wall_ms(self) -> int:
        """The server's time for timers, silence and notifications: the wall clock while
        it moves with the monotonic clock, carried on by the monotonic clock across a
        step. A step (date -s, a clock set by hand) must not make a day of repeats, or
        any timer, fall due at once, nor hold them back an hour; it is followed only
        after a restart of ingest."""
        wall, mono = self._wall(), self._monotonic()
        if self._anchor is not None:
            steady = self._anchor[0] + (mono - self._anchor[1])
            if abs(wall - steady) > STEP_MS:
                if abs(wall - steady - self._step_ms) > STEP_MS:
                    self._step_ms = wall - steady
                    log.warning("the server clock stepped by %+.0f s; alert timers keep the "
                                "time before the step until ingest restarts", self._step_ms / 1000)  # fmt: skip
                return steady
        self._anchor, self._step_ms = (wall, mono), 0
        return wall

    async def connected(self) -> None:
        """After every (re)connect and subscription: mark the end of what the broker
        holds for us (retained alerts, queued readings); silence is judged from there."""
        self.engine.stop_listening()
        await self._publisher.publish(self.ready_topic, b"1")

    def owns(self, topic: str) -> bool:
        """Is this one of the alert service's own topics (handled here, not decoded)?"""
        return topic == self.ready_topic or topic.startswith(self._alerts_prefix)

    async def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Alert-topic messages; returns False for anything else."""
        if topic == self.ready_topic:
            if not self.engine.ready:
                log.info("restored %d active alerts", len(self.engine.alerts))
                self._restored(self.wall_ms())
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
        heard_ms, mono_ms = self.wall_ms(), self._monotonic()  # they arrived together
        await self._release(heard_ms)  # what settled before these points arrived
        ahead_ms = heard_ms + self._skew_ms
        for point in points:
            point = self._on_event_time(point, ahead_ms, mono_ms)
            self._pace_of(point, heard_ms)
            actions += self.engine.observe(point, heard_ms)
        await self._perform(actions)

    def _restored(self, wall_ms: int) -> None:
        """Alerts from before a restart: staff know of those they were told; one whose
        firing was never sent is sent once its machine has caught up, if it still holds."""
        for alert in self.engine.alerts.values():
            if alert.notified:  # delivered before the restart
                self._told[alert.alert_id] = replace(alert)
            else:
                pace = self._pace.setdefault(alert.device, _Pace(alert.fired_ms, wall_ms))
                self._hold(alert.device, pace, wall_ms)

    def _pace_of(self, point: Point, wall_ms: int) -> None:
        """Note whether the point's machine is catching up (see AHEAD_OF_WALL_MS)."""
        device = point.tags.get("device", "")
        if device not in self.engine.devices or point.measurement in ("device_status", "alert"):
            return  # a link status is stamped on arrival: it says nothing of a backlog
        pace = self._pace.get(device)
        old = wall_ms - point.time_ms > LIVE_WITHIN_MS
        ahead = pace is not None and (
            point.time_ms - pace.event_ms > wall_ms - pace.arrival_ms + AHEAD_OF_WALL_MS
        )
        if pace is None:
            pace = self._pace[device] = _Pace(point.time_ms, wall_ms)
        if old or ahead:
            self._hold(device, pace, wall_ms)
        pace.event_ms, pace.arrival_ms = max(pace.event_ms, point.time_ms), wall_ms

    def _hold(self, device: str, pace: _Pace, wall_ms: int) -> None:
        pace.held_until_ms = wall_ms + SETTLE_MS
        self._holding[device] = None
        self._holding.move_to_end(device)  # now the last to fall due

    def caught_up(self) -> bool:
        """No machine's notifications wait for its catch-up to settle."""
        return not self._holding

    def _held(self, device: str) -> bool:
        pace = self._pace.get(device)
        return pace is not None and pace.held_until_ms > self.wall_ms()

    async def _release(self, wall_ms: int) -> None:
        """Machines whose delivery has settled: tell staff what now holds and was not told
        (once, as a firing), and that what they were told of has ended."""
        while self._holding:
            device = next(iter(self._holding))  # the earliest due
            pace = self._pace[device]
            if pace.held_until_ms > wall_ms:
                break
            pace.held_until_ms = 0
            del self._holding[device]
            active = {a.alert_id: a for a in self.engine.alerts.values() if a.device == device}
            for alert in active.values():  # told as it is now: its durations run to now
                if alert.alert_id not in self._told:
                    await self._tell(Transition("fired", replace(alert), wall_ms))
                elif alert.notified_ms > self._told[alert.alert_id].notified_ms:
                    await self._tell(Transition("repeated", replace(alert), wall_ms))
            for alert_id, told in list(self._told.items()):
                if told.device == device and alert_id not in active:
                    await self._tell(Transition("resolved", told, wall_ms))

    def _on_event_time(self, point: Point, ahead_ms: int, mono_ms: int) -> Point:
        """A server-stamped point moves its machine's event time forward by no more than
        the wall clock (monotonic, which no clock step moves) has moved since that
        machine's last point: a server clock an hour fast must not make an hour of
        timers fall due at once. A board's time is taken up to the skew ingest allows
        one board ahead of the server (`ahead_ms`: that skew past the server's time,
        which a step does not move): boards whose NTP server stepped with ours, a day
        ahead, must not make a day of repeats fall due at once either. `mono_ms`: the
        monotonic clock when the point was heard."""
        device = point.tags.get("device", "")
        if point.time_ms > ahead_ms:
            point = point._replace(time_ms=ahead_ms)
        reference = self._reference.get(device)
        if point.server_time and reference is not None:
            engine_ms, at_mono_ms = reference
            limit_ms = engine_ms + (mono_ms - at_mono_ms)
            if point.time_ms > limit_ms:
                point = point._replace(time_ms=limit_ms)
        view = self.engine.views.get(device)
        device_now = view.now_ms if view is not None else self.engine.now_ms
        self._reference[device] = (max(device_now, point.time_ms), mono_ms)
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

    async def cancel_auto_off(self, alert_id: str, by: str) -> Alert:
        """Keep the machine on: its pending remote switch-off is cancelled, announced as
        done by `by`. Raises KeyError for an alert that is not active."""
        await self._perform(self.engine.cancel_auto_off(alert_id, by))
        return self.engine.alerts[alert_id]

    def auto_off_ms(self, alert: Alert) -> int | None:
        """When a pending remote switch-off will happen (None when none is pending)."""
        rule = self._rule(alert.rule, self.engine.devices[alert.device])
        if alert.auto_off != "pending" or rule is None:
            return None
        return alert.fired_ms + int((rule.auto_off_after_min or 0) * 60_000)

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

    # A device id -> the short name of the member at it, when the site shows names (app.py).
    in_use_by: Callable[[str], str | None] | None = None

    async def maintenance_done_from_chat(self, alert_id: str, by: str) -> tuple[str, str]:
        """The task of a maintenance alert is recorded done, by who pressed."""
        alert = self.engine.alerts.get(alert_id)
        record = self.maintenance_done
        if alert is None or alert.rule != RuleName.MAINTENANCE_DUE or record is None:
            return "gone", ""
        await record(alert.device, [key_of(alert_id, alert.rule, alert.device)], by)
        return "maintenance_recorded", by

    def machines_on(self, language: Language) -> list[str]:
        """'• «name»: in use, on since 14:05 · for 45 min' for each machine that is on (or was,
        when its signal is gone), longest on first."""
        now_ms = self.wall_ms()
        timezone = self.config.site.timezone
        lines = []
        for device_id, view in self.engine.views.items():
            status = view.status
            if not status.is_on:
                continue
            device = self.engine.devices[device_id]
            shown = status.shown(now_ms, silent_after_ms(self.config, device))
            on_since = status.on_since_ms or status.state_since_ms or now_ms
            who = self.in_use_by(device_id) if self.in_use_by else None
            words = on_since_line(language, timezone, now_ms, on_since_ms=on_since,
                                  since_ms=status.state_since_ms or on_since, who=who)  # fmt: skip
            state = STATE_WORDS[shown][language]
            if shown == NO_SIGNAL:
                was = STATE_WORDS[str(status.state)][language]
                state = WAS_WORDS[language].format(state=state, was=was)
            name = device.name_in(language)
            # Inside the sentence the line's first word is lowered ("in use by ...").
            lines.append((on_since, f"• «{name}»: {state}, {words[:1].lower()}{words[1:]}"))
        return [line for _, line in sorted(lines)]

    async def run_clock(self) -> None:
        """Let wall time drive timers while ingest listens: no_data always, the others
        while the site's data is live. Nothing is judged while disconnected."""
        while True:
            await asyncio.sleep(TICK_S)  # the clock's tick
            await self.tick()

    async def tick(self) -> None:
        """One tick of run_clock."""
        if not self._connected.is_set():
            self.engine.stop_listening()
            return
        wall = self.wall_ms()
        actions = self.engine.tick(wall) if self.engine.ready else []
        if self.engine.ready:
            actions += self.engine.advance_live(wall, LIVE_WITHIN_MS)
        await self._perform(actions)
        await self._release(wall)

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
        """Alert history at the transition's own time, the retained alert topic, and staff
        told (now, or once the machine's delivery has settled)."""
        alert = transition.alert
        device = self.engine.devices[alert.device]
        if not self._held(alert.device):  # first: staff should not wait for the bookkeeping
            await self._tell(transition)
        text = self.text(transition, self.config.alerts.language)
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
        await self._publish_alert(alert.alert_id, transition.status == "resolved")

    async def _publish_alert(self, alert_id: str, resolved: bool) -> None:
        """The retained alert topic: the alert as it is now, or empty once resolved."""
        alert = self.engine.alerts.get(alert_id)
        body = ""
        if not resolved and alert is not None:
            held = Transition("repeated", alert, alert.notified_ms)
            text = self.text(held, self.config.alerts.language)
            body = AlertMessage(**alert.to_json(), message=text).model_dump_json()
        await self._publisher.publish(alert_topic(self.config.site.id, alert_id), body, retain=True)

    async def _tell(self, transition: Transition) -> None:
        """Notify staff of a transition they should hear of, and remember what they know:
        a resolution or a repeat only of a firing they were told."""
        alert, status = transition.alert, transition.status
        told = alert.alert_id in self._told
        if status in ("resolved", "repeated") and not told:
            return
        if status == "resolved":
            del self._told[alert.alert_id]
        if status in ONGOING:
            self._told[alert.alert_id] = alert
        if not self._worth_notifying(transition):
            return
        device = self.engine.devices[alert.device]
        self._notifier.send(Notification(
            alert.rule, lambda language: f"Makerwatch: {device.name_in(language)}",
            functools.partial(self.text, transition), self._severity(transition),
            f"{alert.alert_id}/repeat" if status == "repeated" else None,
            alert.alert_id if status in ONGOING else None,
            about=alert.alert_id,
            delivered=functools.partial(self._delivered, alert.alert_id) if status == "fired" else None,
        ))  # fmt: skip

    def _delivered(self, alert_id: str) -> None:
        """A channel delivered the alert's firing: its retained copy says so, so a restart
        neither sends it again nor forgets to send one that was never delivered."""
        live = self.engine.alerts.get(alert_id)
        if live is not None and not live.notified:
            live.notified = True
            task = asyncio.get_running_loop().create_task(self._publish_alert(alert_id, False))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

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
        return next((r for r in rules if r.rule == name and r.applies_to(device)), None)

    def text(self, transition: Transition, language: Language) -> str:
        alert, status = transition.alert, transition.status
        device = self.engine.devices[alert.device]
        timezone = self.config.site.timezone
        ongoing = status in ONGOING
        began_ms = alert.fired_ms - int(alert.seconds * 1000)
        auto_off_at = None
        off_ms = self.auto_off_ms(alert)
        if status == "acknowledged" and off_ms is not None:
            auto_off_at = local_time(off_ms, timezone, transition.at_ms)
        wall_ms = self.wall_ms()
        return message(
            _template(alert, status),
            language,
            name=device.name_in(language),
            site=self.config.site.name,
            since=local_time(began_ms, timezone, wall_ms) if ongoing else None,
            seconds=(transition.at_ms - began_ms) / 1000,
            temp_c=alert.temp_c or 0,
            who=alert.acked_by or "",
            auto_off_at=auto_off_at,
            on_at=local_time(alert.on_since_ms or began_ms, timezone, wall_ms),
            closed_at=local_time(alert.closed_ms or began_ms, timezone, wall_ms),
            late_s=(transition.at_ms - (alert.closed_ms or began_ms)) / 1000,
            task=self._task_name(alert, language),
        )

    def _task_name(self, alert: Alert, language: Language) -> str:
        """A maintenance alert's task, by its name."""
        if alert.rule != RuleName.MAINTENANCE_DUE:
            return ""
        task = key_of(alert.alert_id, alert.rule, alert.device)
        device = self.engine.devices[alert.device]
        names = {t.id: t.name_in(language) for t in self.config.tasks_for(device)}
        return names.get(task, task)

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
                "message": self.text(held, language),
                # The first line in every language, for the floor board's banner.
                "headlines": {lang: self.text(held, lang).split("\n")[0] for lang in LANGUAGES},
                "auto_off_ms": self.auto_off_ms(alert),  # the floor board shows it, to cancel
            })  # fmt: skip
        return result
