"""The maintenance_due rule in the alert engine: an alert a task, fired from a
`maintenance` point, never repeated, fired by its timer for a task due by the calendar,
resolved when done, and no verdict (an active alert kept) until the tracker has counted
after a restart."""

from __future__ import annotations

from makerwatch.alerts.engine import Alert, AlertEngine, Transition
from makerwatch.core.maintenance import maintenance_point
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.units import DAY_MS, HOUR_MS
from tests.alerts.test_engine import OPENS, point

TAGS = {"site": "aktobe", "device": "printer-1"}


def engine() -> AlertEngine:
    cfg = SiteConfig.model_validate({
        "site": {"id": "aktobe", "name": "Makerspace Aktobe"},
        "devices": [{"id": "printer-1", "name": "Prusa", "kind": "printer_3d"}],
        "alerts": {"repeat_every_min": 30, "rules": [{"rule": "maintenance_due"}]},
        "maintenance": [
            {"id": "nozzle", "name": "Nozzle", "kinds": ["printer_3d"], "every_active_h": 100},
            {"id": "belts", "name": "Belts", "kinds": ["printer_3d"], "every_days": 30},
        ],
    })  # fmt: skip
    built = AlertEngine(cfg)
    assert built.start() == []
    return built


def statuses(actions: list[object]) -> list[tuple[str, int]]:
    return [(a.status, a.at_ms) for a in actions if isinstance(a, Transition)]


def alerts(actions: list[object]) -> list[tuple[str, str]]:
    return [(a.status, a.alert.alert_id) for a in actions if isinstance(a, Transition)]


def test_fired_once_never_repeated_and_resolved_when_done() -> None:
    """Test the nozzle due at a state: fired then, nothing more for ten hours of the
    machine's time (no repeats), resolved by the point that says it is done."""
    judged = engine()
    due = {"nozzle": OPENS, "belts": OPENS + 30 * DAY_MS}
    assert statuses(judged.observe(maintenance_point(TAGS, due, OPENS))) == [("fired", OPENS)]
    assert statuses(judged.advance(OPENS + 10 * HOUR_MS)) == []
    readings = judged.observe(point("telemetry", OPENS + 11 * HOUR_MS, "printer-1", power_w=1.0))
    assert statuses(readings) == []
    done = maintenance_point(TAGS, {"belts": OPENS + 30 * DAY_MS}, OPENS + 12 * HOUR_MS)
    assert statuses(judged.observe(done)) == [("resolved", OPENS + 12 * HOUR_MS)]


def test_a_task_due_by_the_calendar_fires_on_its_own_timer() -> None:
    """Test the belts due in 30 days: not fired now, fired when the machine's clock gets
    there, at that moment."""
    judged = engine()
    belts_ms = OPENS + 30 * DAY_MS
    assert statuses(judged.observe(maintenance_point(TAGS, {"belts": belts_ms}, OPENS))) == []
    assert statuses(judged.advance(belts_ms - 1)) == []
    assert statuses(judged.advance(belts_ms + HOUR_MS)) == [("fired", belts_ms)]


def test_a_restored_alert_is_kept_until_the_tracker_has_counted() -> None:
    """Test a maintenance alert from before a restart: kept while nothing is counted yet,
    resolved once the count says nothing is due."""
    cfg = engine().config
    restarted = AlertEngine(cfg)
    restarted.restore(Alert("maintenance_due-printer-1-nozzle", "maintenance_due", "printer-1", "due",
                            OPENS, OPENS, notified=True))  # fmt: skip
    assert restarted.start() == []
    assert (
        statuses(restarted.observe(point("telemetry", OPENS + 60_000, "printer-1", power_w=1.0)))
        == []
    )
    counted = maintenance_point(TAGS, {}, OPENS + 120_000)
    assert statuses(restarted.observe(counted)) == [("resolved", OPENS + 120_000)]


def test_each_task_falling_due_is_an_alert_of_its_own() -> None:
    """Test the nozzle due, then the belts while the nozzle's alert holds: each told as it
    falls due; the nozzle done resolves the nozzle's alone."""
    judged = engine()
    belts_ms = OPENS + 30 * DAY_MS
    first = judged.observe(maintenance_point(TAGS, {"nozzle": OPENS, "belts": belts_ms}, OPENS))
    assert alerts(first) == [("fired", "maintenance_due-printer-1-nozzle")]
    second = judged.advance(belts_ms)
    assert alerts(second) == [("fired", "maintenance_due-printer-1-belts")]
    done = judged.observe(maintenance_point(TAGS, {"belts": belts_ms}, belts_ms + HOUR_MS))
    assert alerts(done) == [("resolved", "maintenance_due-printer-1-nozzle")]
    assert set(judged.alerts) == {"maintenance_due-printer-1-belts"}
