"""offline_while_on: the board said it went offline (its last will) while its machine was on."""

from __future__ import annotations

from makerwatch.alerts.rules.base import Check, RuleInput, RuleSpec
from makerwatch.core.protocol import STATE_MEASUREMENT, STATUS_MEASUREMENT, MachineState

__all__ = ["RULE"]


def check(given: RuleInput) -> Check:
    view = given.view
    return Check(view.status.online is False and view.state != MachineState.OFF, "offline")


RULE = RuleSpec(
    check, frozenset({STATE_MEASUREMENT, STATUS_MEASUREMENT}), ("offline",), needs_state=True
)
