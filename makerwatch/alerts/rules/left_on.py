"""left_on: on after closing (counted from closing, or from the switch-on when that was
while closed), idle too long, or on too long; durations counted from the switch-on."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from makerwatch.alerts.rules.base import Check, RuleInput, RuleSpec
from makerwatch.core.opening_hours import is_open, last_closing_ms, next_closing_ms, next_opening_ms
from makerwatch.core.protocol import STATE_MEASUREMENT, MachineState
from makerwatch.core.site_config import Site
from makerwatch.core.units import MINUTE_MS

__all__ = ["RULE", "local_day"]


def check(given: RuleInput) -> Check:
    view, rule, site = given.view, given.rule, given.site
    now = view.now_ms
    status = view.status
    if not status.is_on:
        return Check(False)
    on_since = status.on_since_ms or status.state_since_ms or now
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
            reason = _closed_reason(site, on_since) if on_while_closed else "after_closing"
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


def _closed_reason(site: Site, on_since_ms: int) -> str:
    """Switched on while closed: "before_opening" when the site opens later that same
    day (site time), else "while_closed"."""
    opens = next_opening_ms(site, on_since_ms)
    if opens is not None and local_day(opens, site.timezone) == local_day(
        on_since_ms, site.timezone
    ):
        return "before_opening"
    return "while_closed"


def local_day(at_ms: int, timezone: str) -> date:
    return datetime.fromtimestamp(at_ms / 1000, ZoneInfo(timezone)).date()


RULE = RuleSpec(
    check, frozenset({STATE_MEASUREMENT}),
    ("after_closing", "before_opening", "while_closed", "idle", "on_too_long"),
    needs_state=True,
)  # fmt: skip
