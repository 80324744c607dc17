"""maintenance_due: a maintenance task of the machine is due (core/maintenance.py counts
its use; the `maintenance` point says when each task fell or falls due). One alert a
machine, naming every task due; resolved once none is. Staff are told once: no repeats."""

from __future__ import annotations

from makerwatch.alerts.rules.base import Check, RuleInput, RuleSpec
from makerwatch.core.maintenance import MAINTENANCE_MEASUREMENT

__all__ = ["RULE", "due_tasks"]


def due_tasks(due: dict[str, int] | None, now_ms: int) -> list[str]:
    """The tasks due at `now_ms`, the longest overdue first."""
    return [task for task, at in sorted((due or {}).items(), key=lambda i: i[1]) if at <= now_ms]


def check(given: RuleInput) -> Check:
    due, now = given.view.maintenance, given.view.now_ms
    if due is None:
        return Check(given.active)  # not counted yet (a restart): as it was
    overdue = due_tasks(due, now)
    if overdue:
        return Check(True, "due", (now - due[overdue[0]]) / 1000)
    later = [at for at in due.values() if at > now]
    return Check(False, due_ms=min(later) if later else None)


RULE = RuleSpec(check, frozenset({MAINTENANCE_MEASUREMENT}), ("due",), repeats=False)
