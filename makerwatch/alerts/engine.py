"""The alert engine: pure logic, fed with stored points, answering with transitions and actions.

Time is event time, kept for each machine on its own: a machine's clock is the
newest timestamp of its own readings (moved on by the wall clock only while that
machine is live), so a board that delivers an hour of buffered readings, a
backfill or an accelerated simulation is judged at the moments its readings
describe, whatever the other machines are doing, and each transition is stamped
with the time it happened on that machine's timeline. Each rule is evaluated when
a machine's data changes and on a timer, on that machine's clock, set for the
exact moment it can next become true; there is no loop over all machines.

Longer than 400 lines on purpose: clocks, timers and transitions are one state
machine; the rules themselves are one module each in rules/.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from makerwatch.alerts.rules import (
    RULES,
    Check,
    DeviceView,
    RuleInput,
    RuleSpec,
    alert_id_of,
    key_of,
)
from makerwatch.core.machine_status import silent_after_ms
from makerwatch.core.maintenance import MAINTENANCE_MEASUREMENT, due_times
from makerwatch.core.points import Point
from makerwatch.core.protocol import (
    EVENT_MEASUREMENT,
    STATUS_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    AlertMessage,
)
from makerwatch.core.relay import NoRelay
from makerwatch.core.site_config import Device, Rule, RuleName, SiteConfig, may_switch_off
from makerwatch.core.units import MINUTE_MS

__all__ = [
    "Alert", "AlertEngine", "AlreadyAcknowledged", "DeviceView", "NoRelay", "RelayOff",
    "Transition",
]  # fmt: skip

CONFIRM_WITHIN_MS = 60_000  # a board answers a relay command within a minute or it did not get it


def _fed_by(rules: dict[str, RuleSpec]) -> dict[str, frozenset[str]]:
    """The rules whose inputs each measurement changes, from the rules table; time is the
    timers' job. (Re-checking left_on on each reading cost ~10x.)"""
    measurements = {m for spec in rules.values() for m in spec.fed_by}
    return {m: frozenset(n for n, spec in rules.items() if m in spec.fed_by) for m in measurements}


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
        self._device_rules: dict[str, list[Rule]] = {}
        self.alerts: dict[str, Alert] = {}
        self.now_ms = 0  # the newest of the machines' clocks: when staff act
        self.ready = False  # nothing fires until retained alerts are restored
        # The live due time per timer (kind, key); a timer popped at another is stale.
        self._armed: dict[tuple[str, str], int] = {}
        self._order = itertools.count()
        self._rules = RULES
        self._fed_by = _fed_by(RULES)
        self._wall_clock = frozenset(name for name, spec in RULES.items() if spec.wall_clock)
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
        if device not in self.devices or point.measurement not in self._fed_by:
            return []  # not about a board (e.g. usage segments derived from a state)
        # A link status (a birth, a last will) is stamped when it arrives, after readings
        # the board may still deliver from its buffer: it says nothing of the machine's time.
        linked = point.measurement == STATUS_MEASUREMENT
        # What fell due before the point first; what falls due at its very moment after
        # it (a repeat due as the machine is switched off is not sent).
        actions = [] if linked else self._advance_device(device, point.time_ms, before=True)
        view = self.views[device]
        view.known = True
        # A reading sent again after a lost connection is older than the newest: the
        # temperature now is the newest one's.
        newest = view.status.last_seen_ms is None or point.time_ms >= view.status.last_seen_ms
        values = point.fields
        if point.measurement == MAINTENANCE_MEASUREMENT:  # counted by the server: no sign of life
            view.maintenance = due_times(point)
        else:
            view.status.observe(point, heard_ms)
        if point.measurement == TELEMETRY_MEASUREMENT and "temp_c" in values and newest:
            view.temp_c = float(values["temp_c"])
        elif point.measurement == EVENT_MEASUREMENT:
            actions += self._relay_confirmation(device, values, point.time_ms)
        fed = self._fed_by.get(point.measurement, frozenset())
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
            limit_ms = silent_after_ms(self.config, self.devices[device_id])
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
        until_ms = now_ms if before else now_ms + 1
        while view.timers and view.timers[0][0] < until_ms:
            due, _, kind, key = heapq.heappop(view.timers)
            if self._armed.get((kind, key)) != due:
                continue  # superseded by a later arming
            del self._armed[(kind, key)]
            view.now_ms = max(view.now_ms, due)
            actions += self._on_timer(kind, key)
        # Comparisons, not max(): this runs twice for every reading.
        if now_ms > view.now_ms:
            view.now_ms = now_ms
        if view.now_ms > self.now_ms:
            self.now_ms = view.now_ms
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
            actions += self._evaluate(device, self._wall_clock)
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

    def cancel_auto_off(self, alert_id: str, by: str) -> list[Action]:
        """Someone keeps the machine on: its pending remote switch-off will not happen
        (nothing when none is pending). Raises KeyError for an alert that is not active."""
        alert = self.alerts[alert_id]
        if alert.auto_off != "pending":
            return []
        alert.auto_off = "cancelled"
        # Announced as done by whoever cancelled it, whoever acknowledged the alert.
        return [Transition("auto_off_cancelled", replace(alert, acked_by=by), self.now_ms)]

    def staff_switch_off(self, alert_id: str, by: str, *, snooze_ms: int) -> list[Action]:
        """Someone switches the machine off from the chat: the relay command goes now, the
        alert counts as acknowledged by them, and the board's confirmation is awaited.
        Raises KeyError for an alert that is not active, NoRelay for a board without one."""
        alert = self.alerts[alert_id]
        if not may_switch_off(self.devices[alert.device]):
            raise NoRelay(alert.device)  # none, or one Makerwatch never uses (a printer's)
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
        # Found once a device: it is asked on every reading, and the site file is fixed.
        rules = self._device_rules.get(device.id)
        if rules is None:
            rules = [rule for rule in self.config.alerts.rules if rule.applies_to(device)]
            self._device_rules[device.id] = rules
        return rules

    def _evaluate(
        self, device_id: str, only: frozenset[str] | None = None, at_ms: int | None = None
    ) -> list[Action]:
        """Evaluate the device's rules (or just those in `only`) at the device's own time,
        arming each one's timer on its clock; transitions stamped `at_ms` when given (a
        link status's own time)."""
        device, view = self.devices[device_id], self.views[device_id]
        stamp = view.now_ms if at_ms is None else at_ms
        actions: list[Action] = []
        for rule in self._rules_for(device):
            if only is not None and rule.rule not in only:
                continue
            spec = self._rules[rule.rule]
            if spec.needs_state and view.state is None:
                continue  # nothing to go on until the board says its state
            for key in self._keys(spec, rule, device_id):
                actions += self._verdict(spec, rule, device, key, stamp)
        return actions

    def _keys(self, spec: RuleSpec, rule: Rule, device_id: str) -> list[str]:
        """What a rule judges the device by: once (""), or once per key its view gives
        and per key it has an active alert for (so that each can resolve)."""
        if spec.keys is None:
            return [""]
        active = {key_of(a.alert_id, a.rule, a.device) for a in self.alerts.values()
                  if a.rule == rule.rule and a.device == device_id}  # fmt: skip
        return sorted(active.union(spec.keys(self.views[device_id])))

    def _verdict(
        self, spec: RuleSpec, rule: Rule, device: Device, key: str, stamp: int
    ) -> list[Action]:
        """One rule's (and key's) verdict for one device, as transitions."""
        view = self.views[device.id]
        alert_id = alert_id_of(rule.rule, device.id, key)
        active = self.alerts.get(alert_id)
        check, fired_ms = self._judge(spec, rule, device, view, active is not None, stamp, key)
        if not self.ready or (not view.known and not spec.wall_clock):
            return []  # restoring, or nothing heard from the device yet
        if check.holds and active is None:
            return [self._fire(rule, device, alert_id, check, fired_ms)]
        if not check.holds and active is not None:
            del self.alerts[alert_id]
            return [Transition("resolved", replace(active), stamp)]
        return []

    def _judge(
        self,
        spec: RuleSpec,
        rule: Rule,
        device: Device,
        view: DeviceView,
        active: bool,
        stamp: int,
        key: str = "",
    ) -> tuple[Check, int]:
        """One rule's verdict for one device, and when it fired if it holds; a rule on the
        machine's clock has its timer armed for when the verdict can next change."""
        given = RuleInput(rule, device, view, self.config.site, active, self.live_ms,
                          self.listening_since_ms, key)  # fmt: skip
        check = spec.check(given)
        if spec.wall_clock:
            return check, check.since_ms if check.holds else stamp
        if check.due_ms is not None and check.due_ms > view.now_ms:
            timer = f"{rule.rule}/{device.id}" + (f"/{key}" if key else "")
            self._arm(device.id, check.due_ms, "rule", timer)
        return check, stamp

    # Transitions --------------------------------------------------------

    def _fire(
        self, rule: Rule, device: Device, alert_id: str, check: Check, at_ms: int
    ) -> Transition:
        alert = Alert(alert_id, str(rule.rule), device.id, check.reason, at_ms, at_ms,
                      check.seconds, self.views[device.id].temp_c, check.on_since_ms,
                      check.closed_ms)  # fmt: skip
        if (
            rule.rule is RuleName.LEFT_ON
            and rule.auto_off_after_min is not None
            and may_switch_off(device)  # a relay, and never a printer (its print would be lost)
        ):
            alert.auto_off = "pending"
        self.alerts[alert_id] = alert
        self._arm_follow_ups(alert)
        return Transition("fired", replace(alert), at_ms)

    def _arm_follow_ups(self, alert: Alert) -> None:
        device = alert.device
        spec = self._rules.get(alert.rule)
        if spec is None or spec.repeats:
            self._arm(device, self._next_repeat_ms(alert), "repeat", alert.alert_id)
        if alert.auto_off == "pending":
            rule = next(
                r
                for r in self.config.alerts.rules
                if r.rule == alert.rule and r.applies_to(self.devices[device])
            )
            due = alert.fired_ms + int((rule.auto_off_after_min or 0) * MINUTE_MS)
            self._arm(device, due, "auto_off", alert.alert_id)
        elif alert.auto_off == "sent":
            due = self.views[device].now_ms + CONFIRM_WITHIN_MS
            self._arm(device, due, "confirm", alert.alert_id)

    def _on_timer(self, kind: str, key: str) -> list[Action]:
        if kind == "rule":  # "<rule>/<device>", or "<rule>/<device>/<key>"
            rule, device_id = key.split("/")[:2]
            return self._evaluate(device_id, frozenset({rule}))
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
