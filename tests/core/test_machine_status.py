"""Each machine's status as every screen shows it: when a silent board becomes "no signal"."""

from __future__ import annotations

from makerwatch.api.floor import Floor
from makerwatch.core.machine_status import NO_SIGNAL_AFTER_PERIODS, silent_after_ms
from tests.alerts.test_engine import config


def test_no_signal_follows_the_no_data_rule_of_the_site_file_else_three_periods() -> None:
    """Test that a board under a no_data rule is "no signal" after the rule's after_periods
    of its telemetry period, another after the default, and that the floor board's tiles
    take the same limit as the alert engine and the chat."""
    cfg = config()
    rules = [r.model_copy(update={"after_periods": 5}) if r.rule == "no_data" else r
             for r in cfg.alerts.rules]  # fmt: skip
    cfg = cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"rules": rules})})
    solder, printer = cfg.devices
    assert silent_after_ms(cfg, printer) == 5 * printer.telemetry_period_s * 1000
    assert (
        silent_after_ms(cfg, solder) == NO_SIGNAL_AFTER_PERIODS * solder.telemetry_period_s * 1000
    )
    tiles = Floor(cfg, list).tiles
    assert {d: t.silent_after_ms for d, t in tiles.items()} == {
        d.id: silent_after_ms(cfg, d) for d in cfg.devices
    }
