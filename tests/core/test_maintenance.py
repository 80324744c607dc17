"""What counts towards a maintenance task: only use after it was done, each state once,
hours by the state a period was in, days by the calendar."""

from __future__ import annotations

from makerwatch.core.maintenance import Progress
from makerwatch.core.site_config import MaintenanceTask
from makerwatch.core.units import DAY_MS, HOUR_MS

LENS = MaintenanceTask(id="lens", name="Lens", kinds=["laser_cutter"], every_active_h=2)
ON = MaintenanceTask(id="fan", name="Fan", kinds=["laser_cutter"], every_on_h=2)
TIPS = MaintenanceTask(id="tips", name="Tips", kinds=["laser_cutter"], every_days=90)
DONE_MS = 1_800_000_000_000


def test_only_the_part_of_a_period_after_the_task_was_done_counts() -> None:
    """Test a period of 2 h in use that ended an hour after the task was done: 1 h."""
    progress = Progress(DONE_MS)
    progress.count(LENS, "active", 7200.0, DONE_MS + HOUR_MS)
    assert progress.used(LENS, DONE_MS + HOUR_MS) == 1.0
    assert progress.due_ms is None


def test_a_state_counted_once_and_falling_due_at_the_state_that_crosses() -> None:
    """Test a state delivered again (retained, redelivered) not counted twice, idle time
    not counted as machine-hours, and the task due at the state whose period crossed."""
    progress = Progress(None)
    progress.count(LENS, "active", 3600.0, DONE_MS)
    progress.count(LENS, "active", 3600.0, DONE_MS)  # the same state again
    progress.count(LENS, "idle", 7200.0, DONE_MS + 3 * HOUR_MS)
    assert progress.used(LENS, DONE_MS + 3 * HOUR_MS) == 1.0
    assert progress.due_ms is None
    progress.count(LENS, "active", 3600.0, DONE_MS + 5 * HOUR_MS)
    assert progress.due_ms == DONE_MS + 5 * HOUR_MS


def test_on_hours_count_idle_and_active() -> None:
    """Test every_on_h counting idle and active time, not off."""
    progress = Progress(None)
    for n, state in enumerate(("idle", "off", "active")):
        progress.count(ON, state, 3600.0, DONE_MS + n * HOUR_MS)
    assert progress.used(ON, DONE_MS + 2 * HOUR_MS) == 2.0
    assert progress.due_ms == DONE_MS + 2 * HOUR_MS


def test_days_count_from_when_it_was_done_or_from_the_first_state() -> None:
    """Test every_days due 90 days after it was done; never done, 90 days after the
    machine's first stored state."""
    done = Progress(DONE_MS)
    done.judge(TIPS, DONE_MS)
    assert done.due_ms == DONE_MS + 90 * DAY_MS
    never = Progress(None)
    never.count(TIPS, "active", 60.0, DONE_MS + DAY_MS)
    assert never.due_ms == DONE_MS + 91 * DAY_MS
    assert never.used(TIPS, DONE_MS + 11 * DAY_MS) == 10.0
