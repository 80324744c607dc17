"""maintenance_due: a maintenance task of the machine is due (core/maintenance.py counts
its use; the `maintenance` point says when each task fell or falls due). One alert a
task (`maintenance_due-<device>-<task>`), resolved once it is done. Staff are told once:
no repeats."""

from __future__ import annotations

from collections.abc import Iterable

from makerwatch.alerts.rules.base import Check, DeviceView, RuleInput, RuleSpec
from makerwatch.core.maintenance import MAINTENANCE_MEASUREMENT

__all__ = ["RULE"]


def tasks(view: DeviceView) -> Iterable[str]:
    """The tasks whose due time is known."""
    return view.maintenance or {}


def check(given: RuleInput) -> Check:
    due, now = given.view.maintenance, given.view.now_ms
    if due is None:
        return Check(given.active)  # not counted yet (a restart): as it was
    at = due.get(given.key)
    if at is None:
        return Check(False)  # done: its due time is not known until it is used again
    if at <= now:
        return Check(True, "due", (now - at) / 1000)
    return Check(False, due_ms=at)


RULE = RuleSpec(check, frozenset({MAINTENANCE_MEASUREMENT}), ("due",), repeats=False, keys=tasks)
