"""What only some commands need is loaded when first used: starting ingest (or `up`)
loads no chart, PDF, chat, dashboard, notification-channel or metrics library, so a small
server holds only what ingest uses (docs/benchmarks.md, "Footprint")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# top-level package -> who needs it
LOADED_WHEN_FIRST_USED = {
    "matplotlib": "the report's charts",
    "numpy": "the report's charts",
    "PIL": "the report's charts",
    "weasyprint": "the report as PDF",
    "jinja2": "the report and /sponsors",
    "telegram": "the staff chat, when configured",
    "grafana_foundation_sdk": "the dashboards commands",
    "grafana_client": "the dashboards commands",
    "apprise": "notification channels, when configured",
    "prometheus_client": "/metrics, at its first scrape",
}


def packages_loaded_by(*modules: str) -> set[str]:
    """The top-level packages in sys.modules after a fresh interpreter imports `modules`."""
    imports = "; ".join(f"import {m}" for m in modules)
    code = f"import sys, json; {imports}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "modules",
    [("makerwatch.app",), ("makerwatch.cli", "makerwatch.cli.up", "makerwatch.cli.ingest")],
    ids=["ingest service", "command line"],
)
def test_starting_ingest_loads_none_of_the_libraries_only_some_commands_need(
    modules: tuple[str, ...],
) -> None:
    loaded = packages_loaded_by(*modules) & LOADED_WHEN_FIRST_USED.keys()
    assert not loaded, {name: LOADED_WHEN_FIRST_USED[name] for name in loaded}


def test_the_report_still_loads_its_libraries_when_used() -> None:
    """The check above can fail: the same probe sees them once the report is imported."""
    assert {"matplotlib", "jinja2"} <= packages_loaded_by("makerwatch.report.document")
