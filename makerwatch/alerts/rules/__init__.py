"""The alert rules, one entry each: its name in the site file -> its module's `RULE`
(how it judges a machine, from which measurements, the text keys of its reasons).

The engine (alerts/engine.py) dispatches through this table and nothing else; a rule's
settings are its fields of the site file's `Rule` (core/site_config.py). To add a rule:
a module here with its `check` and `RULE`, its name and default severity in
`DEFAULT_SEVERITY` (the site file's side of the table; ours are `RuleName`s), its settings in
`Rule`, its reasons' texts in alerts/texts.py, and one line below.
"""

from __future__ import annotations

from makerwatch.alerts.rules import (
    left_on,
    maintenance_due,
    no_data,
    offline_while_on,
    over_temperature,
)
from makerwatch.alerts.rules.base import (
    Check,
    DeviceView,
    RuleInput,
    RuleSpec,
    alert_id_of,
    key_of,
)
from makerwatch.core.site_config import RuleName

__all__ = ["RULES", "Check", "DeviceView", "RuleInput", "RuleSpec", "alert_id_of", "key_of"]

RULES: dict[str, RuleSpec] = {
    RuleName.LEFT_ON: left_on.RULE,
    RuleName.OFFLINE_WHILE_ON: offline_while_on.RULE,
    RuleName.OVER_TEMPERATURE: over_temperature.RULE,
    RuleName.NO_DATA: no_data.RULE,
    RuleName.MAINTENANCE_DUE: maintenance_due.RULE,
}
