"""The alert engine: pure logic, fed with stored points, answering with transitions and actions.

Time is event time: the newest timestamp seen (plus a wall-clock tick while the
site is live), so a backfill or an accelerated simulation fires alerts at the
moments they would have fired. Each rule is evaluated when a device's data
changes and on a timer set for the exact moment it can next become true; there
is no loop over all devices.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from makerwatch.core.opening_hours import is_open, last_closing_ms, next_closing_ms
from makerwatch.core.points import Point
from makerwatch.core.protocol import AlertMessage, MachineState
from makerwatch.core.site_config import Device, Rule, RuleName, SiteConfig

__all__ = [
    "Alert", "AlertEngine", "AlreadyAcknowledged", "DeviceView", "NoRelay", "RelayOff",
    "Transition",
]  # fmt: skip

MINUTE_MS = 60_000
CONFIRM_WITHIN_MS = 60_000
# The rules whose inputs each kind of point changes; time is the timers' job. Every
# point is news for no_data. (Re-checking left_on on each reading cost ~10x.)
FED_BY = {
    "telemetry": frozenset({RuleName.OVER_TEMPERATURE, RuleName.NO_DATA}),
    "state": frozenset({RuleName.LEFT_ON, RuleName.OFFLINE_WHILE_ON, RuleName.NO_DATA}),
    "device_status": frozenset({RuleName.OFFLINE_WHILE_ON, RuleName.NO_DATA}),
    "event": frozenset({RuleName.NO_DATA}),
}  # a board answers a relay command within a minute or it did not get it
TEMPERATURE_HYSTERESIS_C = 10.0
NO_DATA_ONLY = frozenset({RuleName.NO_DATA})


@dataclass
class DeviceView:
    """What the engine knows of one device, from its latest messages."""

    known: bool = False
    state: str | None = None  # None until a state message says: unknown is not "off"
    state_since_ms: int | None = None
    on_since_ms: int | None = None  # when it last left "off"
    online: bool = True
    last_seen_ms: int | None = None
    heard_ms: int | None = None  # wall time the server last heard from it (no_data)
    temp_c: float | None = None


@dataclass
class Alert:
    alert_id: str
    rule: str
    device: str
    reason: str
    fired_ms: int
    notified_ms: int
    seconds: float = 0.0  # how long the condition had held when it fired
    temp_c: float | None = None
    acked_by: str | None = None
    acked_ms: int | None = None
    snoozed_until_ms: int | None = None  # acknowledged: no repeats until then
    auto_off: str | None = None  # pending, sent, confirmed, unconfirmed, cancelled

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, **asdict(self)}

    @classmethod
    def from_message(cls, message: AlertMessage) -> Alert:
        """From a retained alert topic; the message text there is for people."""
        known = {f.name for f in fields(cls)}
        return cls(**message.model_dump(include=known))


@dataclass(frozen=True)
class Transition:
    """fired, repeated, acknowledged, resolved, auto_off_sent, auto_off_confirmed, auto_off_unconfirmed."""

    status: str
    alert: Alert  # a snapshot at the transition
    at_ms: int


@dataclass(frozen=True)
class RelayOff:
    device: str
    alert_id: str
    at_ms: int
    reason: str = "left_on"  # or "staff": someone switched it off from the chat


Action = Transition | RelayOff


class NoRelay(Exception):
    """The device's board has no relay to switch."""


class AlreadyAcknowledged(Exception):
    """The alert was acknowledged and its snooze still runs; `alert` says by whom."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(f"{alert.alert_id} was acknowledged by {alert.acked_by}")
        self.alert = alert


class AlertEngine:
    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.devices = {d.id: d for d in config.devices}
        self.views: dict[str, DeviceView] = {d: DeviceView() for d in self.devices}
        self.alerts: dict[str, Alert] = {}
        self.now_ms = 0
        self.ready = False  # nothing fires until retained alerts are restored
        self._timers: list[tuple[int, int, str, str]] = []  # (due, tiebreak, kind, key)
        self._armed: dict[
            tuple[str, str], int
        ] = {}  # the live due time per timer; others are stale
        self._order = itertools.count()
        self._repeat_ms = int(config.alerts.repeat_every_min * MINUTE_MS)
        # no_data is about delivery, so it runs on the wall clock the service ticks,
        # counted from when the server last started listening (a restart or a
        # reconnect is a fresh start: silence while it was not listening is not the
        # boards' silence).
        self.live_ms: int | None = None
        self.listening_since_ms: int | None = None

    # Inputs -------------------------------------------------------------

    def restore(self, alert: Alert) -> None:
        """An active alert from before a restart (its retained topic): kept, not re-fired."""
        if alert.device in self.devices:
            self.alerts[alert.alert_id] = alert
            # Replayed retained states are older than the alert: time must not run back past it.
            self.now_ms = max(self.now_ms, alert.notified_ms)

    def start(self) -> list[Action]:
        """Restoring is over: resume the restored alerts' timers and evaluate every device."""
        self.ready = True
        for alert in self.alerts.values():
            self._arm_follow_ups(alert)
        actions: list[Action] = []
        for device in self.devices:
            actions += self._evaluate(device)
        return actions

    def observe(self, point: Point, heard_ms: int | None = None) -> list[Action]:
        """A point just stored, heard at wall time `heard_ms` (default: its own time);
        returns what it (and any timer due before it) caused."""
        device = point.tags.get("device", "")
        if device not in self.devices or point.measurement not in FED_BY:
            return []  # not about a board (e.g. usage segments derived from a state)
        actions = self.advance(point.time_ms)
        view = self.views[device]
        view.known = True
        view.last_seen_ms = max(view.last_seen_ms or 0, point.time_ms)
        view.heard_ms = max(view.heard_ms or 0, point.time_ms if heard_ms is None else heard_ms)
        values = point.fields
        if point.measurement == "state":
            state = str(values["state"])
            if state != view.state or view.state_since_ms is None:
                if view.state in (MachineState.OFF, None) and state != MachineState.OFF:
                    view.on_since_ms = point.time_ms
                view.state, view.state_since_ms = state, point.time_ms
        elif point.measurement == "device_status":
            view.online = bool(values["online"])
        elif point.measurement == "telemetry" and "temp_c" in values:
            view.temp_c = float(values["temp_c"])
        elif point.measurement == "event":
            actions += self._relay_confirmation(device, values, point.time_ms)
        return actions + self._evaluate(device, FED_BY.get(point.measurement, frozenset()))

    def advance(self, now_ms: int) -> list[Action]:
        """Move event time forward, firing every timer that falls due on the way."""
        actions: list[Action] = []
        while self._timers and self._timers[0][0] <= now_ms:
            due, _, kind, key = heapq.heappop(self._timers)
            if self._armed.get((kind, key)) != due:
                continue  # superseded by a later arming
            del self._armed[(kind, key)]
            self.now_ms = max(self.now_ms, due)
            actions += self._on_timer(kind, key)
        self.now_ms = max(self.now_ms, now_ms)
        return actions

    def listen(self, live_ms: int) -> None:
        """The server (re)starts listening at wall time `live_ms`: silence counts from here."""
        self.live_ms = live_ms
        self.listening_since_ms = live_ms

    def stop_listening(self) -> None:
        """Disconnected, or reconnected and not yet caught up: nobody's silence is known."""
        self.listening_since_ms = None

    def tick(self, live_ms: int) -> list[Action]:
        """Wall time passes while the server listens: judge no_data for every device."""
        self.live_ms = max(self.live_ms or live_ms, live_ms)
        actions: list[Action] = []
        for device in self.devices:
            actions += self._evaluate(device, NO_DATA_ONLY)
        return actions

    def acknowledge(
        self, alert_id: str, by: str, *, snooze_ms: int, cancel_auto_off: bool = False
    ) -> list[Action]:
        """Someone is on it: no repeats for `snooze_ms`; a pending switch-off still happens
        unless they cancel it too. Raises KeyError for an alert that is not active, and
        AlreadyAcknowledged while an earlier acknowledgement's snooze runs."""
        alert = self.alerts[alert_id]
        if alert.acked_by is not None and (alert.snoozed_until_ms or 0) > self.now_ms:
            raise AlreadyAcknowledged(alert)
        alert.acked_by, alert.acked_ms = by, self.now_ms
        alert.snoozed_until_ms = self.now_ms + snooze_ms
        actions: list[Action] = [Transition("acknowledged", replace(alert), self.now_ms)]
        if cancel_auto_off and alert.auto_off == "pending":
            alert.auto_off = "cancelled"
            actions.append(Transition("auto_off_cancelled", replace(alert), self.now_ms))
        return actions

    def staff_switch_off(self, alert_id: str, by: str, *, snooze_ms: int) -> list[Action]:
        """Someone switches the machine off from the chat: the relay command goes now, the
        alert counts as acknowledged by them, and the board's confirmation is awaited.
        Raises KeyError for an alert that is not active, NoRelay for a board without one."""
        alert = self.alerts[alert_id]
        if self.devices[alert.device].board.get("relay_pin", -1) < 0:
            raise NoRelay(alert.device)
        if alert.acked_by is None:
            alert.acked_by, alert.acked_ms = by, self.now_ms
            alert.snoozed_until_ms = self.now_ms + snooze_ms
        alert.auto_off = "sent"
        self._arm(self.now_ms + CONFIRM_WITHIN_MS, "confirm", alert_id)
        return [
            RelayOff(alert.device, alert_id, self.now_ms, "staff"),
            Transition("auto_off_sent", replace(alert), self.now_ms),
        ]

    # Rules --------------------------------------------------------------

    def _rules_for(self, device: Device) -> list[Rule]:
        return [rule for rule in self.config.alerts.rules if rule.applies_to(device)]

    def _evaluate(self, device_id: str, only: frozenset[RuleName] | None = None) -> list[Action]:
        """Evaluate the device's rules (or just those in `only`), arming each one's timer."""
        device, view = self.devices[device_id], self.views[device_id]
        actions: list[Action] = []
        for rule in self._rules_for(device):
            if only is not None and rule.rule not in only:
                continue
            alert_id = f"{rule.rule.value}-{device_id}"
            active = self.alerts.get(alert_id)
            if rule.rule in (RuleName.LEFT_ON, RuleName.OFFLINE_WHILE_ON) and view.state is None:
                continue  # nothing to go on until the board says its state
            if rule.rule is RuleName.NO_DATA:
                holds, reason, seconds, since = self._check_no_data(rule, device, view)
                at_ms = since if holds else self.now_ms
            else:
                holds, reason, seconds, due = self._check(rule, device, view, active is not None)
                at_ms = self.now_ms
                if due is not None and due > self.now_ms:
                    self._arm(due, "rule", f"{rule.rule.value}/{device_id}")
            if not self.ready or (not view.known and rule.rule is not RuleName.NO_DATA):
                continue  # restoring, or nothing heard from the device yet
            if holds and active is None:
                actions.append(self._fire(rule, device, alert_id, reason, seconds, at_ms))
            elif not holds and active is not None:
                del self.alerts[alert_id]
                actions.append(Transition("resolved", replace(active), self.now_ms))
        return actions

    def _check(
        self, rule: Rule, device: Device, view: DeviceView, active: bool
    ) -> tuple[bool, str, float, int | None]:
        """(holds, reason, for how long in s, when to look again) for one rule and device."""
        now = self.now_ms
        if rule.rule is RuleName.LEFT_ON:
            return self._check_left_on(rule, view, now)
        if rule.rule is RuleName.OFFLINE_WHILE_ON:
            return (not view.online and view.state != MachineState.OFF), "offline", 0.0, None
        if rule.rule is RuleName.OVER_TEMPERATURE:
            limit = rule.above_c - (TEMPERATURE_HYSTERESIS_C if active else 0.0)
            return (view.temp_c is not None and view.temp_c > limit), "hot", 0.0, None
        raise ValueError(f"{rule.rule} is judged by _check_no_data")

    def _check_no_data(
        self, rule: Rule, device: Device, view: DeviceView
    ) -> tuple[bool, str, float, int]:
        """(holds, reason, silent for how long in s, since when) on the wall clock: silent
        since the server last heard from the device, or since it started listening."""
        if self.live_ms is None or self.listening_since_ms is None:
            return False, "silent", 0.0, 0  # not listening: nobody's silence is known
        last_ms = max(view.heard_ms or 0, self.listening_since_ms)
        limit_ms = int(rule.after_periods * device.telemetry_period_s * 1000)
        silent_ms = self.live_ms - last_ms
        return silent_ms >= limit_ms, "silent", silent_ms / 1000, last_ms + limit_ms

    def _check_left_on(
        self, rule: Rule, view: DeviceView, now: int
    ) -> tuple[bool, str, float, int | None]:
        if view.state == MachineState.OFF:
            return False, "", 0.0, None
        on_since = view.on_since_ms or view.state_since_ms or now
        site = self.config.site
        due_times = []
        grace_ms = int(rule.after_closing_grace_min * MINUTE_MS)
        if is_open(site, now):
            closing = next_closing_ms(site, now)
            if closing is not None:
                due_times.append(closing + grace_ms)
        else:
            closed_at = last_closing_ms(site, now) or on_since
            since = max(closed_at, on_since)  # switched on while closed: the grace counts from then
            if now >= since + grace_ms:
                return True, "after_closing", (now - closed_at) / 1000, None
            due_times.append(since + grace_ms)
        if (
            rule.idle_longer_than_min is not None
            and view.state == MachineState.IDLE
            and view.state_since_ms is not None
        ):
            due = view.state_since_ms + int(rule.idle_longer_than_min * MINUTE_MS)
            if now >= due:
                return True, "idle", (now - view.state_since_ms) / 1000, None
            due_times.append(due)
        if rule.on_longer_than_min is not None:
            due = on_since + int(rule.on_longer_than_min * MINUTE_MS)
            if now >= due:
                return True, "on_too_long", (now - on_since) / 1000, None
            due_times.append(due)
        return False, "", 0.0, min(due_times) if due_times else None

    # Transitions --------------------------------------------------------

    def _fire(
        self, rule: Rule, device: Device, alert_id: str, reason: str, seconds: float, at_ms: int
    ) -> Transition:
        alert = Alert(alert_id, rule.rule.value, device.id, reason, at_ms, at_ms, seconds,
                      self.views[device.id].temp_c)  # fmt: skip
        if (
            rule.rule is RuleName.LEFT_ON
            and rule.auto_off_after_min is not None
            and device.board.get("relay_pin", -1) >= 0
        ):
            alert.auto_off = "pending"
        self.alerts[alert_id] = alert
        self._arm_follow_ups(alert)
        return Transition("fired", replace(alert), at_ms)

    def _arm_follow_ups(self, alert: Alert) -> None:
        self._arm(self._next_repeat_ms(alert), "repeat", alert.alert_id)
        if alert.auto_off == "pending":
            rule = next(
                r
                for r in self.config.alerts.rules
                if r.rule.value == alert.rule and r.applies_to(self.devices[alert.device])
            )
            self._arm(
                alert.fired_ms + int((rule.auto_off_after_min or 0) * MINUTE_MS),
                "auto_off",
                alert.alert_id,
            )
        elif alert.auto_off == "sent":
            self._arm(self.now_ms + CONFIRM_WITHIN_MS, "confirm", alert.alert_id)

    def _on_timer(self, kind: str, key: str) -> list[Action]:
        if kind == "rule":
            rule, device_id = key.split("/", 1)
            return self._evaluate(device_id, frozenset({RuleName(rule)}))
        alert = self.alerts.get(key)
        if alert is None:
            return []
        if kind == "repeat":
            due = self._next_repeat_ms(alert)
            if self.now_ms < due:
                self._arm(due, "repeat", key)  # snoozed meanwhile
                return []
            alert.notified_ms = self.now_ms
            self._arm(self._next_repeat_ms(alert), "repeat", key)
            return [Transition("repeated", replace(alert), self.now_ms)]
        if kind == "auto_off" and alert.auto_off == "pending":
            alert.auto_off = "sent"
            self._arm(self.now_ms + CONFIRM_WITHIN_MS, "confirm", key)
            return [
                RelayOff(alert.device, key, self.now_ms),
                Transition("auto_off_sent", replace(alert), self.now_ms),
            ]
        if kind == "confirm" and alert.auto_off == "sent":
            alert.auto_off = "unconfirmed"
            return [Transition("auto_off_unconfirmed", replace(alert), self.now_ms)]
        return []

    def _next_repeat_ms(self, alert: Alert) -> int:
        return max(alert.notified_ms + self._repeat_ms, alert.snoozed_until_ms or 0)

    def _relay_confirmation(self, device: str, fields: Any, at_ms: int) -> list[Action]:
        if fields.get("event") != "relay" or fields.get("relay_on") is not False:
            return []
        for alert in self.alerts.values():
            if alert.device == device and alert.auto_off == "sent":
                alert.auto_off = "confirmed"
                return [Transition("auto_off_confirmed", replace(alert), at_ms)]
        return []

    def _arm(self, due_ms: int, kind: str, key: str) -> None:
        if self._armed.get((kind, key)) == due_ms:
            return
        self._armed[(kind, key)] = due_ms
        heapq.heappush(self._timers, (due_ms, next(self._order), kind, key))
