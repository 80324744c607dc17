"""The alert engine on its own: exact firing moments, repeats, acknowledgement, restore, auto-off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from makerwatch.alerts.engine import Alert, AlertEngine, AlreadyAcknowledged, RelayOff, Transition
from makerwatch.core.points import FieldValue, Point
from makerwatch.core.protocol import AlertMessage
from makerwatch.core.relay import NoRelay
from makerwatch.core.site_config import RuleName, SiteConfig

MIN = 60_000
# Monday 2026-11-16 in Asia/Aqtobe (UTC+5): open 10:00-19:00 local = 05:00-14:00 UTC.
OPENS = int(datetime(2026, 11, 16, 5, tzinfo=UTC).timestamp() * 1000)
CLOSES = OPENS + 9 * 60 * MIN


def config(**rule_overrides: object) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"id": "aktobe", "name": "Makerspace Aktobe",
                     "opening_hours": {d: ["10:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}},
            "devices": [
                {"id": "solder-1", "name": "Паяльная станция 1", "kind": "soldering_station", "board": {"relay_pin": 26, "relay_active_high": True}},
                {"id": "printer-1", "name": "Prusa", "kind": "printer_3d"},
            ],
            "alerts": {
                "repeat_every_min": 30,
                "rules": [
                    {"rule": "left_on", "kinds": ["soldering_station"], "after_closing_grace_min": 15,
                     "idle_longer_than_min": 45, "on_longer_than_min": 240, **rule_overrides},
                    {"rule": "offline_while_on"},
                    {"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450},
                    {"rule": "no_data", "devices": ["printer-1"], "after_periods": 3},
                ],
            },
        }
    )  # fmt: skip


def point(measurement: str, t_ms: int, device: str = "solder-1", **fields: FieldValue) -> Point:
    return Point(measurement, {"site": "aktobe", "device": device}, fields, t_ms)


def started(cfg: SiteConfig | None = None) -> AlertEngine:
    engine = AlertEngine(cfg or config())
    assert engine.start() == []
    return engine


def transitions(
    actions: list[Transition | RelayOff], status: str | None = None
) -> list[tuple[str, str, int]]:
    return [(a.status, a.alert.alert_id, a.at_ms) for a in actions
            if isinstance(a, Transition) and (status is None or a.status == status)]  # fmt: skip


def test_left_on_after_closing_fires_at_closing_plus_grace_once_then_repeats_and_resolves() -> None:
    """Test the headline rule: on past closing fires once at 19:15, repeats every 30 min, resolves when off."""
    engine = started()
    actions = engine.observe(point("state", CLOSES - 120 * MIN, state="idle"))
    actions += engine.observe(
        point("state", CLOSES - 100 * MIN, state="active")
    )  # busy: not idle for 45 min
    for t in range(CLOSES - 99 * MIN, CLOSES + 100 * MIN, MIN):
        actions += engine.observe(point("telemetry", t, power_w=30.0))
    actions += engine.observe(point("state", CLOSES + 100 * MIN, state="off"))
    assert transitions(actions) == [
        ("fired", "left_on-solder-1", CLOSES + 15 * MIN),
        ("repeated", "left_on-solder-1", CLOSES + 45 * MIN),
        ("repeated", "left_on-solder-1", CLOSES + 75 * MIN),
        ("resolved", "left_on-solder-1", CLOSES + 100 * MIN),
    ]
    fired = next(a for a in actions if isinstance(a, Transition) and a.status == "fired")
    assert fired.alert.reason == "after_closing"
    # "On since" is the switch-on, and durations count from it; the closing is kept too.
    assert fired.alert.on_since_ms == CLOSES - 120 * MIN
    assert fired.alert.closed_ms == CLOSES
    assert fired.alert.seconds == 135 * 60


def test_idle_too_long_fires_when_the_limit_passes() -> None:
    """Test that 45 minutes idle in opening hours fires at exactly that moment."""
    engine = started()
    engine.observe(point("state", OPENS + 60 * MIN, state="idle"))
    actions = engine.observe(point("telemetry", OPENS + 200 * MIN, power_w=4.0))
    assert transitions(actions, "fired") == [("fired", "left_on-solder-1", OPENS + 105 * MIN)]
    assert actions[0].alert.reason == "idle"  # type: ignore[union-attr]


def test_use_resets_the_idle_clock() -> None:
    """Test that soldering again before the limit keeps the alert quiet."""
    engine = started()
    engine.observe(point("state", OPENS + 60 * MIN, state="idle"))
    engine.observe(point("state", OPENS + 100 * MIN, state="active"))
    engine.observe(point("state", OPENS + 101 * MIN, state="idle"))
    assert transitions(engine.advance(OPENS + 145 * MIN)) == []
    assert transitions(engine.advance(OPENS + 146 * MIN), "fired") == [
        ("fired", "left_on-solder-1", OPENS + 146 * MIN)
    ]


def test_acknowledging_snoozes_repeats_then_they_resume() -> None:
    """Test that an acknowledged alert stays active, sends no repeat while snoozed, repeats
    again once the snooze is over, and that a second acknowledgement meanwhile is refused
    naming who acknowledged."""
    engine = started()
    engine.observe(point("state", CLOSES - 10 * MIN, state="active"))
    assert transitions(engine.advance(CLOSES + 15 * MIN), "fired")
    assert transitions(engine.acknowledge("left_on-solder-1", "Aigerim", snooze_ms=60 * MIN)) == [
        ("acknowledged", "left_on-solder-1", CLOSES + 15 * MIN)
    ]
    with pytest.raises(AlreadyAcknowledged, match="Aigerim"):
        engine.acknowledge("left_on-solder-1", "Daulet", snooze_ms=60 * MIN)
    assert transitions(engine.advance(CLOSES + 74 * MIN)) == []
    assert transitions(engine.advance(CLOSES + 76 * MIN)) == [
        ("repeated", "left_on-solder-1", CLOSES + 75 * MIN)
    ]
    assert "left_on-solder-1" in engine.alerts


def test_restored_alert_is_not_fired_again_and_keeps_its_schedule() -> None:
    """Test that after a restart the active alert neither re-fires nor forgets to repeat."""
    first = started()
    first.observe(point("state", CLOSES - 10 * MIN, state="active"))
    first.advance(CLOSES + 15 * MIN)
    retained = {**first.alerts["left_on-solder-1"].to_json(), "message": "the text for people"}

    second = AlertEngine(config())
    second.restore(Alert.from_message(AlertMessage.model_validate(retained)))
    second.observe(
        point("state", CLOSES - 10 * MIN, state="active")
    )  # the retained state, replayed
    assert transitions(second.start()) == []
    assert transitions(second.advance(CLOSES + 45 * MIN)) == [
        ("repeated", "left_on-solder-1", CLOSES + 45 * MIN)
    ]


def test_restored_alert_resolves_if_the_machine_went_off_meanwhile() -> None:
    """Test that an alert whose machine was switched off while ingest was down resolves on start."""
    engine = AlertEngine(config())
    engine.restore(Alert("left_on-solder-1", "left_on", "solder-1", "idle", OPENS, OPENS))
    engine.observe(point("state", OPENS + 5 * MIN, state="off"))
    assert transitions(engine.start()) == [("resolved", "left_on-solder-1", OPENS + 5 * MIN)]


def test_offline_while_on() -> None:
    """Test that a last will from a board whose machine is on fires, and its return resolves."""
    engine = started()
    engine.observe(point("state", OPENS, state="active"))
    assert transitions(
        engine.observe(point("device_status", OPENS + MIN, online=False)), "fired"
    ) == [("fired", "offline_while_on-solder-1", OPENS + MIN)]
    assert transitions(engine.observe(point("device_status", OPENS + 2 * MIN, online=True))) == [
        ("resolved", "offline_while_on-solder-1", OPENS + 2 * MIN)
    ]


def test_over_temperature_with_hysteresis() -> None:
    """Test that 460 C fires, 445 C keeps it (10 C hysteresis), 430 C resolves."""
    engine = started()
    assert transitions(engine.observe(point("telemetry", OPENS, temp_c=460.0)), "fired")
    assert transitions(engine.observe(point("telemetry", OPENS + MIN, temp_c=445.0))) == []
    assert transitions(engine.observe(point("telemetry", OPENS + 2 * MIN, temp_c=430.0))) == [
        ("resolved", "over_temperature-solder-1", OPENS + 2 * MIN)
    ]


def test_no_data_fires_after_three_silent_periods_of_wall_time() -> None:
    """Test that a printer unheard for 3 x 10 s of wall time fires once, stamped when it became
    silent, and that its next message resolves it."""
    engine = started()
    engine.listen(OPENS)
    engine.observe(point("telemetry", OPENS, "printer-1", power_w=100.0), heard_ms=OPENS)
    engine.observe(point("telemetry", OPENS + 10_000, "printer-1", power_w=100.0), OPENS + 10_000)
    assert transitions(engine.tick(OPENS + 35_000)) == []
    assert transitions(engine.tick(OPENS + 60_000)) == [
        ("fired", "no_data-printer-1", OPENS + 40_000)
    ]
    assert transitions(engine.tick(OPENS + 65_000)) == [], "fired once"
    assert transitions(
        engine.observe(point("telemetry", OPENS + 61_000, "printer-1", power_w=0.0), OPENS + 66_000)
    ) == [("resolved", "no_data-printer-1", OPENS + 61_000)]


def test_no_data_counts_silence_only_while_listening() -> None:
    """Test that after a restart or reconnect silence counts from when the server listens again,
    and that nothing is judged while it does not listen."""
    engine = started()
    engine.observe(point("telemetry", OPENS, "printer-1", power_w=100.0), heard_ms=OPENS)
    assert engine.tick(OPENS + 3600_000) == [], "not listening: nothing judged"
    engine.listen(OPENS + 3600_000)
    assert engine.tick(OPENS + 3600_000 + 29_000) == []
    assert transitions(engine.tick(OPENS + 3600_000 + 31_000)) == [
        ("fired", "no_data-printer-1", OPENS + 3600_000 + 30_000)
    ]


def test_a_backlog_arriving_as_batches_does_not_flap_no_data() -> None:
    """Test that old readings delivered in batches, while another device runs event time ahead,
    never fire no_data for a device the server keeps hearing from."""
    engine = started()
    engine.listen(OPENS)
    actions = []
    for batch in range(20):  # ten minutes of readings per batch message, two devices
        arrived = OPENS + batch * 5_000
        for device in ("solder-1", "printer-1"):
            for i in range(60):
                at = OPENS + batch * 600_000 + i * 10_000
                actions += engine.observe(point("telemetry", at, device, power_w=50.0), arrived)
        actions += engine.tick(arrived)
    assert transitions(actions) == []


def test_auto_off_commands_the_relay_and_records_the_confirmation() -> None:
    """Test that 30 min after firing the relay is switched off, and the board's relay event confirms it."""
    engine = started(config(auto_off_after_min=30))
    engine.observe(point("state", CLOSES - 10 * MIN, state="idle"))
    actions = engine.advance(CLOSES + 45 * MIN)
    assert [a for a in actions if isinstance(a, RelayOff)] == [
        RelayOff("solder-1", "left_on-solder-1", CLOSES + 45 * MIN)
    ]
    assert ("auto_off_sent", "left_on-solder-1", CLOSES + 45 * MIN) in transitions(actions)
    confirm = engine.observe(
        point("event", CLOSES + 45 * MIN + 2000, event="relay", relay_on=False, reason="left_on")
    )
    assert transitions(confirm) == [
        ("auto_off_confirmed", "left_on-solder-1", CLOSES + 45 * MIN + 2000)
    ]


def test_unanswered_auto_off_is_reported() -> None:
    """Test that a board that never confirms the switch-off is reported a minute later."""
    engine = started(config(auto_off_after_min=30))
    engine.observe(point("state", CLOSES - 10 * MIN, state="idle"))
    engine.advance(CLOSES + 45 * MIN)
    assert transitions(engine.advance(CLOSES + 47 * MIN), "auto_off_unconfirmed") == [
        ("auto_off_unconfirmed", "left_on-solder-1", CLOSES + 46 * MIN)
    ]


def test_acknowledging_keeps_a_pending_switch_off_unless_cancelled() -> None:
    """Test that an acknowledgement alone leaves the remote switch-off in place, and that
    cancelling it explicitly calls it off."""
    for cancel, switched in ((False, True), (True, False)):
        engine = started(config(auto_off_after_min=30))
        engine.observe(point("state", CLOSES - 10 * MIN, state="idle"))
        engine.advance(CLOSES + 15 * MIN)
        acked = engine.acknowledge("left_on-solder-1", "Daulet", snooze_ms=60 * MIN,
                                   cancel_auto_off=cancel)  # fmt: skip
        assert ("auto_off_cancelled" in [s for s, _, _ in transitions(acked)]) is cancel
        sent = [a for a in engine.advance(CLOSES + 120 * MIN) if isinstance(a, RelayOff)]
        assert bool(sent) is switched


def test_a_printer_with_a_relay_is_never_switched_off() -> None:
    """Test that a left-on printer whose board has a relay gets no remote switch-off,
    neither from the rule's auto_off_after_min nor from staff (its print would be lost)."""
    base = config(kinds=["soldering_station", "printer_3d"], auto_off_after_min=30)
    data = base.model_dump(mode="json", exclude_none=True)
    data["devices"][1]["board"] = {"relay_pin": 26, "relay_active_high": True}
    engine = started(SiteConfig.model_validate(data))
    engine.observe(point("state", CLOSES - 10 * MIN, state="idle", device="printer-1"))
    actions = engine.advance(CLOSES + 120 * MIN)
    assert ("fired", "left_on-printer-1", CLOSES + 15 * MIN) in transitions(actions)
    assert engine.alerts["left_on-printer-1"].auto_off is None
    assert [a for a in actions if isinstance(a, RelayOff)] == []
    with pytest.raises(NoRelay):
        engine.staff_switch_off("left_on-printer-1", "Daulet", snooze_ms=60 * MIN)


def test_nothing_fires_before_start() -> None:
    """Test that while retained alerts are being restored nothing fires."""
    engine = AlertEngine(config())
    engine.observe(point("state", CLOSES - 10 * MIN, state="active"))
    assert engine.advance(CLOSES + 60 * MIN) == []
    assert transitions(engine.start(), "fired") == [
        ("fired", "left_on-solder-1", CLOSES + 60 * MIN)
    ]


def test_each_rule_keeps_its_own_timer_on_a_device_with_several_rules() -> None:
    """Test that a no_data timer re-armed by every reading does not displace left_on's: it still fires at 19:15."""
    cfg = config()
    rules = [
        *cfg.alerts.rules,
        cfg.alerts.rules[0].model_copy(
            update={
                "rule": RuleName.NO_DATA,
                "devices": ["solder-1"],
                "kinds": [],
                "after_periods": 10,
            }
        ),
    ]
    engine = started(
        cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"rules": rules})})
    )
    actions = engine.observe(point("state", CLOSES - 20 * MIN, state="active"))
    for t in range(CLOSES - 19 * MIN, CLOSES + 30 * MIN, MIN):
        actions += engine.observe(point("telemetry", t, power_w=30.0))
    assert transitions(actions, "fired") == [("fired", "left_on-solder-1", CLOSES + 15 * MIN)]
