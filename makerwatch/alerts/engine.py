"""The alert engine: pure logic, fed with stored points, answering with transitions and actions.

Time is event time, kept for each machine on its own: a machine's clock is the
newest timestamp of its own readings (moved on by the wall clock only while that
machine is live), so a board that delivers an hour of buffered readings, a
backfill or an accelerated simulation is judged at the moments its readings
describe, whatever the other machines are doing, and each transition is stamped
with the time it happened on that machine's timeline. Each rule is evaluated when
a machine's data changes and on a timer, on that machine's clock, set for the
exact moment it can next become true; there is no loop over all machines.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.machine_status import MachineStatus
from makerwatch.core.opening_hours import is_open, last_closing_ms, next_closing_ms, next_opening_ms
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
    """What the engine knows of one device, from its latest messages, and its own clock."""

    status: MachineStatus = field(default_factory=MachineStatus)
    known: bool = False
    now_ms: int = 0  # this machine's event time
    temp_c: float | None = None
    timers: list[tuple[int, int, str, str]] = field(default_factory=list)  # (due, order, kind, key)

    @property
    def state(self) -> str | None:
        """None until a state message says: unknown is not "off"."""
        return self.status.state


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
    on_since_ms: int | None = None  # left_on: when the machine was switched on
    closed_ms: int | None = None  # left_on after closing: when the site closed
    acked_by: str | None = None
    acked_ms: int | None = None
    snoozed_until_ms: int | None = None  # acknowledged: no repeats until then
    auto_off: str | None = None  # pending, sent, confirmed, unconfirmed, cancelled
    notified: bool = False  # staff were told it fired (kept across restarts)

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, **asdict(self)}

    @classmethod
    def from_message(cls, message: AlertMessage) -> Alert:
        """From a retained alert topic; the message text there is for people."""
        known = {f.name for f in fields(cls)}
        return cls(**message.model_dump(include=known))


@dataclass(frozen=True)
class Check:
    """One rule's verdict for one device: whether it holds, why, for how long (s), and
    for the alert's text when the machine was switched on and the site closed."""

    holds: bool
    reason: str = ""
    seconds: float = 0.0
    due_ms: int | None = None  # when the verdict can next change on the device's clock
    since_ms: int = 0  # no_data: when the silence passed its limit
    on_since_ms: int | None = None
    closed_ms: int | None = None


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
        self.now_ms = 0  # the newest of the machines' clocks: when staff act
        self.ready = False  # nothing fires until retained alerts are restored
        # The live due time per timer (kind, key); a timer popped at another is stale.
        self._armed: dict[tuple[str, str], int] = {}
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
            view = self.views[alert.device]
            view.now_ms = max(view.now_ms, alert.notified_ms)
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
        returns what it (and any of its machine's timers due before it) caused."""
        device = point.tags.get("device", "")
        if device not in self.devices or point.measurement not in FED_BY:
            return []  # not about a board (e.g. usage segments derived from a state)
        # A link status (a birth, a last will) is stamped when it arrives, after readings
        # the board may still deliver from its buffer: it says nothing of the machine's time.
        linked = point.measurement == "device_status"
        # What fell due before the point first; what falls due at its very moment after
        # it (a repeat due as the machine is switched off is not sent).
        actions = [] if linked else self._advance_device(device, point.time_ms, before=True)
        view = self.views[device]
        view.known = True
        # A reading sent again after a lost connection is older than the newest: the
        # temperature now is the newest one's.
        newest = view.status.last_seen_ms is None or point.time_ms >= view.status.last_seen_ms
        view.status.observe(point, heard_ms)
        values = point.fields
        if point.measurement == "telemetry" and "temp_c" in values and newest:
            view.temp_c = float(values["temp_c"])
        elif point.measurement == "event":
            actions += self._relay_confirmation(device, values, point.time_ms)
        fed = FED_BY.get(point.measurement, frozenset())
        actions += self._evaluate(device, fed, point.time_ms if linked else None)
        return actions if linked else actions + self._advance_device(device, point.time_ms)

    def advance(self, now_ms: int) -> list[Action]:
        """Move every machine's clock forward to `now_ms`, firing what falls due on the way."""
        actions: list[Action] = []
        for device in self.devices:
            actions += self._advance_device(device, now_ms)
        return actions

    def advance_live(self, wall_ms: int, live_within_ms: int) -> list[Action]:
        """Wall time passes: move on the clock of each machine that is live (heard within
        its silence limit, online, its readings no older than `live_within_ms`). A machine
        that is silent or catching up keeps its own time: what it will deliver decides."""
        actions: list[Action] = []
        for device_id, view in self.views.items():
            status = view.status
            limit_ms = MachineStatus.silent_after_ms(self.devices[device_id].telemetry_period_s)
            if (
                status.online is not False
                and status.heard_ms is not None
                and not status.silent(wall_ms, limit_ms)
                and 0 <= wall_ms - view.now_ms <= live_within_ms
            ):
                actions += self._advance_device(device_id, wall_ms)
        return actions

    def _advance_device(self, device: str, now_ms: int, *, before: bool = False) -> list[Action]:
        """Move one machine's clock forward to `now_ms`, firing its timers that fall due on
        the way (`before`: only those due before `now_ms`, not at it)."""
        view = self.views[device]
        actions: list[Action] = []
        while view.timers and view.timers[0][0] < now_ms + (0 if before else 1):
            due, _, kind, key = heapq.heappop(view.timers)
            if self._armed.get((kind, key)) != due:
                continue  # superseded by a later arming
            del self._armed[(kind, key)]
            view.now_ms = max(view.now_ms, due)
            actions += self._on_timer(kind, key)
        view.now_ms = max(view.now_ms, now_ms)
        self.now_ms = max(self.now_ms, view.now_ms)
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
        device_now = self.views[alert.device].now_ms
        self._arm(alert.device, device_now + CONFIRM_WITHIN_MS, "confirm", alert_id)
        return [
            RelayOff(alert.device, alert_id, self.now_ms, "staff"),
            Transition("auto_off_sent", replace(alert), self.now_ms),
        ]

    # Rules --------------------------------------------------------------

    def _rules_for(self, device: Device) -> list[Rule]:
        return [rule for rule in self.config.alerts.rules if rule.applies_to(device)]

    def _evaluate(
        self, device_id: str, only: frozenset[RuleName] | None = None, at_ms: int | None = None
    ) -> list[Action]:
        """Evaluate the device's rules (or just those in `only`) at the device's own time,
        arming each one's timer on its clock; transitions stamped `at_ms` when given (a
        link status's own time)."""
        device, view = self.devices[device_id], self.views[device_id]
        now = view.now_ms
        stamp = now if at_ms is None else at_ms
        actions: list[Action] = []
        for rule in self._rules_for(device):
            if only is not None and rule.rule not in only:
                continue
            alert_id = f"{rule.rule.value}-{device_id}"
            active = self.alerts.get(alert_id)
            if rule.rule in (RuleName.LEFT_ON, RuleName.OFFLINE_WHILE_ON) and view.state is None:
                continue  # nothing to go on until the board says its state
            if rule.rule is RuleName.NO_DATA:
                check = self._check_no_data(rule, device, view)
                fired_ms = check.since_ms if check.holds else stamp
            else:
                check = self._check(rule, view, active is not None)
                fired_ms = stamp
                if check.due_ms is not None and check.due_ms > now:
                    self._arm(device_id, check.due_ms, "rule", f"{rule.rule.value}/{device_id}")
            if not self.ready or (not view.known and rule.rule is not RuleName.NO_DATA):
                continue  # restoring, or nothing heard from the device yet
            if check.holds and active is None:
                actions.append(self._fire(rule, device, alert_id, check, fired_ms))
            elif not check.holds and active is not None:
                del self.alerts[alert_id]
                actions.append(Transition("resolved", replace(active), stamp))
        return actions

    def _check(self, rule: Rule, view: DeviceView, active: bool) -> Check:
        """Whether one rule holds for one device now, on its clock, and when to look again."""
        if rule.rule is RuleName.LEFT_ON:
            return self._check_left_on(rule, view)
        if rule.rule is RuleName.OFFLINE_WHILE_ON:
            return Check(view.status.online is False and view.state != MachineState.OFF, "offline")
        if rule.rule is RuleName.OVER_TEMPERATURE:
            limit = rule.above_c - (TEMPERATURE_HYSTERESIS_C if active else 0.0)
            return Check(view.temp_c is not None and view.temp_c > limit, "hot")
        raise ValueError(f"{rule.rule} is judged by _check_no_data")

    def _check_no_data(self, rule: Rule, device: Device, view: DeviceView) -> Check:
        """Silence on the wall clock: since the server last heard from the device, or since
        it started listening. A board that said it went offline (its last will) is not
        silent but gone: its screens say "no signal", and offline_while_on judges it."""
        if self.live_ms is None or self.listening_since_ms is None:
            return Check(False, "silent")  # not listening: nobody's silence is known
        if view.status.online is False:
            return Check(False, "silent")
        last_ms = max(view.status.heard_ms or 0, self.listening_since_ms)
        limit_ms = int(rule.after_periods * device.telemetry_period_s * 1000)
        silent_ms = self.live_ms - last_ms
        return Check(silent_ms >= limit_ms, "silent", silent_ms / 1000, since_ms=last_ms + limit_ms)

    def _check_left_on(self, rule: Rule, view: DeviceView) -> Check:
        """On after closing (counted from closing, or from the switch-on when that was while
        closed), idle too long, or on too long; durations counted from the switch-on."""
        now = view.now_ms
        status = view.status
        if not status.is_on:
            return Check(False)
        on_since = status.on_since_ms or status.state_since_ms or now
        site = self.config.site
        due_times = []
        grace_ms = int(rule.after_closing_grace_min * MINUTE_MS)
        if is_open(site, now):
            closing = next_closing_ms(site, now)
            if closing is not None:
                due_times.append(closing + grace_ms)
        else:
            closed_at = last_closing_ms(site, now)
            on_while_closed = closed_at is None or on_since >= closed_at
            # the grace counts from closing, or from the switch-on while closed
            since = on_since if closed_at is None or on_while_closed else closed_at
            if now >= since + grace_ms:
                reason = self._closed_reason(on_since) if on_while_closed else "after_closing"
                return Check(True, reason, (now - on_since) / 1000, on_since_ms=on_since,
                             closed_ms=None if on_while_closed else closed_at)  # fmt: skip
            due_times.append(since + grace_ms)
        if (
            rule.idle_longer_than_min is not None
            and status.state == MachineState.IDLE
            and status.state_since_ms is not None
        ):
            due = status.state_since_ms + int(rule.idle_longer_than_min * MINUTE_MS)
            if now >= due:
                return Check(True, "idle", (now - on_since) / 1000, on_since_ms=on_since)
            due_times.append(due)
        if rule.on_longer_than_min is not None:
            due = on_since + int(rule.on_longer_than_min * MINUTE_MS)
            if now >= due:
                return Check(True, "on_too_long", (now - on_since) / 1000, on_since_ms=on_since)
            due_times.append(due)
        return Check(False, due_ms=min(due_times) if due_times else None)

    def _closed_reason(self, on_since_ms: int) -> str:
        """Switched on while closed: "before_opening" when the site opens later that same
        day (site time), else "while_closed"."""
        opens = next_opening_ms(self.config.site, on_since_ms)
        if opens is not None and local_day(opens, self.config.site.timezone) == local_day(
            on_since_ms, self.config.site.timezone
        ):
            return "before_opening"
        return "while_closed"

    # Transitions --------------------------------------------------------

    def _fire(
        self, rule: Rule, device: Device, alert_id: str, check: Check, at_ms: int
    ) -> Transition:
        alert = Alert(alert_id, rule.rule.value, device.id, check.reason, at_ms, at_ms,
                      check.seconds, self.views[device.id].temp_c, check.on_since_ms,
                      check.closed_ms)  # fmt: skip
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
        device = alert.device
        self._arm(device, self._next_repeat_ms(alert), "repeat", alert.alert_id)
        if alert.auto_off == "pending":
            rule = next(
                r
                for r in self.config.alerts.rules
                if r.rule.value == alert.rule and r.applies_to(self.devices[device])
            )
            due = alert.fired_ms + int((rule.auto_off_after_min or 0) * MINUTE_MS)
            self._arm(device, due, "auto_off", alert.alert_id)
        elif alert.auto_off == "sent":
            due = self.views[device].now_ms + CONFIRM_WITHIN_MS
            self._arm(device, due, "confirm", alert.alert_id)

    def _on_timer(self, kind: str, key: str) -> list[Action]:
        if kind == "rule":
            rule, device_id = key.split("/", 1)
            return self._evaluate(device_id, frozenset({RuleName(rule)}))
        alert = self.alerts.get(key)
        if alert is None:
            return []
        now = self.views[alert.device].now_ms
        if kind == "repeat":
            due = self._next_repeat_ms(alert)
            if now < due:
                self._arm(alert.device, due, "repeat", key)  # snoozed meanwhile
                return []
            alert.notified_ms = now
            self._arm(alert.device, self._next_repeat_ms(alert), "repeat", key)
            return [Transition("repeated", replace(alert), now)]
        if kind == "auto_off" and alert.auto_off == "pending":
            alert.auto_off = "sent"
            self._arm(alert.device, now + CONFIRM_WITHIN_MS, "confirm", key)
            return [
                RelayOff(alert.device, key, now),
                Transition("auto_off_sent", replace(alert), now),
            ]
        if kind == "confirm" and alert.auto_off == "sent":
            alert.auto_off = "unconfirmed"
            return [Transition("auto_off_unconfirmed", replace(alert), now)]
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

    def _arm(self, device: str, due_ms: int, kind: str, key: str) -> None:
        """A timer on `device`'s clock."""
        if self._armed.get((kind, key)) == due_ms:
            return
        self._armed[(kind, key)] = due_ms
        heapq.heappush(self.views[device].timers, (due_ms, next(self._order), kind, key))


def local_day(at_ms: int, timezone: str) -> date:
    return datetime.fromtimestamp(at_ms / 1000, ZoneInfo(timezone)).date()
