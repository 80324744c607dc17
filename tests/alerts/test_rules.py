"""The alert rules table: the engine judges through it and nothing else."""

from __future__ import annotations

import pytest

from makerwatch.alerts.engine import AlertEngine, Transition
from makerwatch.alerts.rules import RULES, Check, RuleInput, RuleSpec
from makerwatch.alerts.texts import TEMPLATES
from makerwatch.core.site_config import Rule, RuleName
from tests.alerts.test_engine import OPENS, config, point

THROWAWAY = "loud"


def _loud(given: RuleInput) -> Check:
    temp_c = given.view.temp_c
    return Check(temp_c is not None and temp_c > 0, "noisy")


def test_a_rule_added_through_the_table_alone_is_judged_by_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Test that a throwaway rule, one table entry and its settings, fires and resolves in the
    engine from the measurement it is fed by, with no change to the engine."""
    monkeypatch.setitem(RULES, THROWAWAY, RuleSpec(_loud, frozenset({"telemetry"}), ("noisy",)))
    cfg = config()
    # The site file names rules by RuleName: the throwaway one is put in as if it did.
    cfg.alerts.rules.append(Rule.model_construct(rule=THROWAWAY, devices=["printer-1"], kinds=[]))
    engine = AlertEngine(cfg)
    assert engine.start() == []
    fired = engine.observe(point("telemetry", OPENS, "printer-1", temp_c=30.0))
    assert [
        (a.status, a.alert.alert_id, a.alert.reason) for a in fired if isinstance(a, Transition)
    ] == [("fired", f"{THROWAWAY}-printer-1", "noisy")]
    resolved = engine.observe(point("telemetry", OPENS + 60_000, "printer-1", temp_c=-5.0))
    assert [a.status for a in resolved if isinstance(a, Transition)] == ["resolved"]


def test_every_rule_of_the_site_file_has_an_entry_and_every_reason_a_text() -> None:
    """Test that each rule the site file can name is in the table, and each reason it gives
    has its headline in alerts/texts.py."""
    assert set(RULES) == set(RuleName)
    missing = [f"{name}/{reason}" for name, spec in RULES.items() for reason in spec.reasons
               if f"{name}/{reason}" not in TEMPLATES]  # fmt: skip
    assert missing == []
