"""The alert rules table: the engine judges through it and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from makerwatch.alerts.engine import AlertEngine, Transition
from makerwatch.alerts.rules import RULES, Check, RuleInput, RuleSpec
from makerwatch.alerts.texts import TEMPLATES
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import DEFAULT_SEVERITY, RuleName, Severity, load_site_config
from tests.alerts.test_engine import OPENS, config, point

THROWAWAY = "loud"


def _loud(given: RuleInput) -> Check:
    temp_c = given.view.temp_c
    return Check(temp_c is not None and temp_c > 0, "noisy")


def test_a_rule_added_through_the_tables_alone_is_read_from_the_site_file_and_fires(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Test that a throwaway rule, one entry in the site file's table of rules (its name and
    severity) and one in the engine's (its check), is read from a site file like any rule
    and fires and resolves in the engine from the measurement it is fed by."""
    monkeypatch.setitem(DEFAULT_SEVERITY, THROWAWAY, Severity.NORMAL)
    monkeypatch.setitem(RULES, THROWAWAY, RuleSpec(_loud, frozenset({"telemetry"}), ("noisy",)))
    site = config().model_dump(mode="json", exclude_none=True)
    site["alerts"]["rules"].append({"rule": THROWAWAY, "devices": ["printer-1"]})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    cfg = load_site_config(path)
    assert cfg.alerts.rules[-1].effective_severity is Severity.NORMAL
    engine = AlertEngine(cfg)
    assert engine.start() == []
    fired = engine.observe(point("telemetry", OPENS, "printer-1", temp_c=30.0))
    assert [
        (a.status, a.alert.alert_id, a.alert.reason) for a in fired if isinstance(a, Transition)
    ] == [("fired", f"{THROWAWAY}-printer-1", "noisy")]
    resolved = engine.observe(point("telemetry", OPENS + 60_000, "printer-1", temp_c=-5.0))
    assert [a.status for a in resolved if isinstance(a, Transition)] == ["resolved"]


def test_a_rule_not_in_the_table_is_one_line_naming_the_key(tmp_path: Path) -> None:
    """Test that a site file naming a rule no table has is refused with the file, the key
    and the rules there are."""
    site = config().model_dump(mode="json", exclude_none=True)
    site["alerts"]["rules"].append({"rule": THROWAWAY})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_site_config(path)
    message = str(refused.value)
    assert message.startswith(str(path))
    assert f"alerts.rules[4].rule: unknown rule {THROWAWAY!r}: one of left_on" in message


def test_every_rule_of_the_site_file_has_an_entry_and_every_reason_a_text() -> None:
    """Test that each rule the site file can name is in the engine's table (and the
    other way round), and each reason it gives has its headline in alerts/texts.py."""
    assert set(RULES) == set(DEFAULT_SEVERITY) == set(RuleName)
    missing = [f"{name}/{reason}" for name, spec in RULES.items() for reason in spec.reasons
               if f"{name}/{reason}" not in TEMPLATES]  # fmt: skip
    assert missing == []
