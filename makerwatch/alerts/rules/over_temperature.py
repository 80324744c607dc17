"""over_temperature: the newest temperature above `above_c`; it clears only once it is
`TEMPERATURE_HYSTERESIS_C` below, so a reading hovering at the limit does not flap."""

from __future__ import annotations

from makerwatch.alerts.rules.base import Check, RuleInput, RuleSpec
from makerwatch.core.protocol import TELEMETRY_MEASUREMENT

__all__ = ["RULE", "TEMPERATURE_HYSTERESIS_C"]

TEMPERATURE_HYSTERESIS_C = 10.0


def check(given: RuleInput) -> Check:
    limit = given.rule.above_c - (TEMPERATURE_HYSTERESIS_C if given.active else 0.0)
    temp_c = given.view.temp_c
    return Check(temp_c is not None and temp_c > limit, "hot")


RULE = RuleSpec(check, frozenset({TELEMETRY_MEASUREMENT}), ("hot",))
