"""One machine's state as every screen shows it, kept from the points ingest stores.

The floor board, `makerwatch status`, the chat's /status and the alert engine each
keep one `MachineStatus` per machine and read the same answers from it: the state
the board stated (or ingest derived from its readings), when that state began, when
the machine was switched on (the start of its usage session: "on since"), and
whether it can be heard at all. What a person sees is one of SHOWN_STATES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from makerwatch.core.points import Point
from makerwatch.core.protocol import TAP_MEASUREMENT, MachineState, TapResult
from makerwatch.core.site_config import Device, RuleName, SiteConfig
from makerwatch.core.units import MINUTE_MS

__all__ = [
    "NEVER_HEARD", "NO_SIGNAL", "NO_SIGNAL_AFTER_PERIODS", "SHOWN_STATES", "MachineStatus",
    "silent_after_ms",
]  # fmt: skip

NO_SIGNAL = "no_signal"  # its board said it went offline, or has been silent too long
NEVER_HEARD = "never_heard"  # nothing at all since ingest started: the only "no state"
# What a person sees, in this order of urgency on a screen.
SHOWN_STATES = (
    MachineState.ACTIVE.value, MachineState.IDLE.value, MachineState.OFF.value, NO_SIGNAL, NEVER_HEARD,
)  # fmt: skip
# A board that has sent nothing for this many telemetry periods is shown as "no signal"
# (the no_data alert rule's after_periods, when the site file sets one, says when to
# tell staff; this says when to stop showing the last state as the present one).
NO_SIGNAL_AFTER_PERIODS = 3
_ON = (MachineState.IDLE, MachineState.ACTIVE)
# A card tapped this long before the machine switched on started that session (an
# enforcing board unlocks on the tap; the machine is switched on after it).
TAP_BEFORE_ON_MS = 10 * MINUTE_MS
_WHO_TAPS = (TapResult.ALLOWED.value, TapResult.STAFF.value)


@dataclass
class MachineStatus:
    """What is known of one machine. Times are epoch ms: `*_since_ms` and `last_seen_ms`
    on the machine's own timeline (its readings' time), `heard_ms` on the server's wall
    clock (when its last message arrived)."""

    state: str | None = None  # off, idle or active as last stated; None until stated
    state_since_ms: int | None = None
    on_since_ms: int | None = None  # when it last left "off", while it is on
    online: bool | None = None  # from its status: its birth, or its last will
    offline_since_ms: int | None = None
    last_seen_ms: int | None = None
    heard_ms: int | None = None
    member_key: str | None = None  # the card that opened the machine (a key, never a name)
    member_tap_ms: int | None = None

    @property
    def is_on(self) -> bool:
        return self.state in _ON

    def observe(self, point: Point, heard_ms: int | None = None) -> None:
        """A point about this machine was stored (or known from a retained message)."""
        at_ms = point.time_ms
        if not self.last_seen_ms or at_ms > self.last_seen_ms:  # the newest heard of
            self.last_seen_ms = at_ms
        heard = at_ms if heard_ms is None else heard_ms
        if not self.heard_ms or heard > self.heard_ms:
            self.heard_ms = heard
        fields = point.fields
        if point.measurement == "state":
            self._stated(str(fields["state"]), point.time_ms, fields.get("on_since_ms"))
        elif point.measurement == "device_status":
            online = bool(fields.get("online"))
            if online != self.online:
                self.offline_since_ms = None if online else point.time_ms
            self.online = online
        elif self.online is False:
            self.online, self.offline_since_ms = True, None  # it speaks: it is back
        if point.measurement == TAP_MEASUREMENT:
            self._tapped(str(fields.get("result")), str(fields.get("key")), point.time_ms)

    def _stated(self, state: str, at_ms: int, board_on_since: object) -> None:
        if self.state_since_ms is not None and at_ms < self.state_since_ms and state != self.state:
            return  # an older state than the one known (a late, retained copy)
        was_on = self.is_on
        if state == self.state:
            # A restatement: the earliest time given for the same state is when it began.
            self.state_since_ms = min(self.state_since_ms or at_ms, at_ms)
        else:
            self.state, self.state_since_ms = state, at_ms
        if not self.is_on:
            self.on_since_ms = None
            if self.member_tap_ms is not None and at_ms > self.member_tap_ms:
                self.member_key = self.member_tap_ms = None  # their session is over
        elif isinstance(board_on_since, int | float) and board_on_since > 0:
            self.on_since_ms = int(board_on_since)  # the board's own: it knows best
        elif not was_on or self.on_since_ms is None:
            self.on_since_ms = at_ms

    def _tapped(self, result: str, key: str, at_ms: int) -> None:
        if result in _WHO_TAPS:
            self.member_key, self.member_tap_ms = key, at_ms
        elif result == TapResult.ENDED.value and key == self.member_key:
            self.member_key = self.member_tap_ms = None

    def in_use_by(self, names: Callable[[str], str | None] | None) -> str | None:
        """Who is at the machine, as staff may see it: the short name of the member
        whose card opened it, resolved now (a forgotten member has none), while it is
        on; None without `names` (the site file does not show names)."""
        if names is None or not self.is_on or self.member_key is None:
            return None
        started_ms = (self.on_since_ms or self.state_since_ms or 0) - TAP_BEFORE_ON_MS
        if self.member_tap_ms is None or self.member_tap_ms < started_ms:
            return None  # a tap from before this session
        return names(self.member_key)

    def silent(self, wall_ms: int, silent_after_ms: int) -> bool:
        """Heard nothing for `silent_after_ms` of wall time."""
        return self.heard_ms is not None and wall_ms - self.heard_ms >= silent_after_ms

    def shown(self, wall_ms: int, silent_after_ms: int) -> str:
        """The one state a person sees now: one of SHOWN_STATES."""
        if self.heard_ms is None and self.online is None:
            return NEVER_HEARD
        if self.online is False or self.silent(wall_ms, silent_after_ms):
            return NO_SIGNAL
        return self.state or NEVER_HEARD

    def no_signal_since_ms(self) -> int | None:
        """Since when nothing has been heard: its last will's time, or its last message."""
        if self.online is False:
            return self.offline_since_ms
        return self.heard_ms


def silent_after_ms(config: SiteConfig, device: Device) -> int:
    """How long `device`'s board may be silent before every screen shows it as "no signal"
    (and the alert engine stops moving its clock): the site file's no_data rule for it
    (`after_periods`), else NO_SIGNAL_AFTER_PERIODS, of its telemetry periods."""
    periods = next(
        (rule.after_periods for rule in config.alerts.rules
         if rule.rule is RuleName.NO_DATA and rule.applies_to(device)),
        NO_SIGNAL_AFTER_PERIODS,
    )  # fmt: skip
    return int(periods * device.telemetry_period_s * 1000)
