"""no_data: silence on the wall clock, for `after_periods` of the device's telemetry
periods, since the server last heard from it or since it started listening."""

from __future__ import annotations

from makerwatch.alerts.rules.base import Check, RuleInput, RuleSpec
from makerwatch.core.protocol import board_kinds

__all__ = ["RULE"]


def check(given: RuleInput) -> Check:
    """A board that said it went offline (its last will) is not silent but gone: its
    screens say "no signal", and offline_while_on judges it."""
    if given.live_ms is None or given.listening_since_ms is None:
        return Check(False, "silent")  # not listening: nobody's silence is known
    status = given.view.status
    if status.online is False:
        return Check(False, "silent")
    last_ms = max(status.heard_ms or 0, given.listening_since_ms)
    limit_ms = int(given.rule.after_periods * given.device.telemetry_period_s * 1000)
    silent_ms = given.live_ms - last_ms
    return Check(silent_ms >= limit_ms, "silent", silent_ms / 1000, since_ms=last_ms + limit_ms)


# Every point of a board is news: any of them is a sign of life.
SIGNS_OF_LIFE = frozenset(kind.measurement for kind in board_kinds() if kind.measurement)
RULE = RuleSpec(check, SIGNS_OF_LIFE, ("silent",), wall_clock=True)
