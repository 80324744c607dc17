"""Maintenance by use, defined once: what counts towards a task's interval, and how the
counting reaches the alert engine.

A task's interval is machine-hours (`every_active_h`: time in state `active`, the
machine-hour of core/usage.py), on-hours (`every_on_h`: idle or active) or calendar
days (`every_days`), counted from when it was last done (never done: from the
device's first stored state). Hours are counted from completed state periods, as every
figure is: each `state` point carries the state it left and how long that lasted, and
only the part after the task was done counts. A task counted in hours falls due at the
state point whose period crosses its interval.

The counting (makerwatch/maintenance) tells the alert engine each device's tasks as a
`maintenance` point (never stored): one field per task whose due time is known, its
value that time in ms. The `maintenance_due` rule (alerts/rules) judges from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from makerwatch.core.points import Point
from makerwatch.core.protocol import MachineState
from makerwatch.core.site_config import MaintenanceTask
from makerwatch.core.units import DAY_MS

__all__ = ["MAINTENANCE_MEASUREMENT", "Progress", "due_times", "maintenance_point"]

MAINTENANCE_MEASUREMENT = "maintenance"


@dataclass
class Progress:
    """One task on one device since it was last done: the use counted so far."""

    since_ms: int | None  # when it was last done (None: never)
    active_s: float = 0.0
    on_s: float = 0.0
    first_ms: int | None = None  # the first state counted (the start of "never done")
    newest_ms: int | None = None  # the newest state counted: older ones are not counted again
    due_ms: int | None = None  # when it fell due (hours), or falls due (days); None: not yet known

    def count(
        self, task: MaintenanceTask, previous: object, duration_s: object, at_ms: int
    ) -> None:
        """A state point at `at_ms` closing a period of `previous` that lasted `duration_s`."""
        if self.newest_ms is not None and at_ms <= self.newest_ms:
            return  # counted already (a retained or redelivered state)
        self.newest_ms = at_ms
        if self.first_ms is None:
            self.first_ms = at_ms
        if isinstance(duration_s, int | float) and previous in (
            MachineState.IDLE,
            MachineState.ACTIVE,
        ):
            # Only the part of the period after the task was done.
            after_s = (
                duration_s
                if self.since_ms is None
                else min(duration_s, (at_ms - self.since_ms) / 1000)
            )
            after_s = max(0.0, after_s)
            self.on_s += after_s
            if previous == MachineState.ACTIVE:
                self.active_s += after_s
        self.judge(task, at_ms)

    def used(self, task: MaintenanceTask, now_ms: int) -> float:
        """How much of the interval's unit (hours or days) has been used."""
        key, _ = task.interval
        if key == "every_days":
            start = self.since_ms if self.since_ms is not None else self.first_ms
            return 0.0 if start is None else max(0, now_ms - start) / DAY_MS
        return (self.active_s if key == "every_active_h" else self.on_s) / 3600

    def judge(self, task: MaintenanceTask, at_ms: int) -> None:
        """Set when the task fell (or falls) due, as far as is known at `at_ms`."""
        key, every = task.interval
        if key == "every_days":
            start = self.since_ms if self.since_ms is not None else self.first_ms
            self.due_ms = None if start is None else start + round(every * DAY_MS)
        elif self.due_ms is None and self.used(task, at_ms) >= every:
            self.due_ms = at_ms


def maintenance_point(tags: Mapping[str, str], due: Mapping[str, int | None], at_ms: int) -> Point:
    """A device's tasks for the alert engine: each task's due time, where it is known."""
    fields = {task: int(due_ms) for task, due_ms in due.items() if due_ms is not None}
    return Point(MAINTENANCE_MEASUREMENT, dict(tags), fields, at_ms)


def due_times(point: Point) -> dict[str, int]:
    """The due time of each task a `maintenance` point names."""
    return {task: int(value) for task, value in point.fields.items()}
