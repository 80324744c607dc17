"""The package's layers: `core` <- features <- `app` (with `adapters`) <- `cli`
(docs/architecture.md).

Every import in every module is read, function-local ones included, so a cycle
cannot hide behind a late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "makerwatch"
FEATURES = (
    "ingest",
    "alerts",
    "api",
    "ops",
    "sim",
    "report",
    "dashboards",
    "members",
    "maintenance",
)
# The board's pure core (firmware/core) sits below everything: the site file checks
# a board's settings with the board's own rules, and the simulator runs its agent.
BOARD_CORE = "firmware.core"
# The table of sources sits on ingest (it wraps ingest's decoder for our boards); the
# broker's ACL (ops) and the simulator's plugs (sim) read its families' topics.
SOURCES = "sources"
READS_SOURCES = ("ops", "sim")
# The composition: app.py, and the adapters it hands to the HTTP API and the board.
COMPOSITION = ("app", "adapters")


def layer_of(module: str) -> str:
    """`makerwatch.alerts.engine` -> `alerts`; `makerwatch.cli.up` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def allowed(importer: str, imported: str) -> bool:
    """May a module of layer `importer` import module `imported`?"""
    if not imported.startswith("makerwatch") and not imported.startswith("firmware"):
        return True  # the standard library and third-party packages
    if imported == "firmware":
        return importer == "ops"  # the firmware deploy copies the tree it finds there
    if imported.startswith("firmware"):
        return imported == BOARD_CORE or imported.startswith(BOARD_CORE + ".")
    target = layer_of(imported)
    if target == "":  # the package itself: its version
        return True
    if importer == "core":
        return target == "core"
    if importer == SOURCES:
        return target in ("core", SOURCES, "ingest")
    if importer in FEATURES:
        return target in ("core", importer) or (target == SOURCES and importer in READS_SOURCES)
    if importer in COMPOSITION:
        return target != "cli" and (target != "app" or importer == "app")
    return importer == "cli"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement in a file, relative ones resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.append((node.lineno, base))
    return found


def violations(path: Path) -> list[str]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    importer = layer_of(module)
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {importer or 'makerwatch'} imports {name}"
        for line, name in imports_of(path)
        if not allowed(importer, name)
    ]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_module_imports_only_its_own_layer_and_below(path: Path) -> None:
    """Test that core imports only core, a feature only core and itself, and only app and cli wire features."""
    assert violations(path) == []


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    """Test that the check itself fails on a feature importing another, and on core importing a feature."""
    assert not allowed("alerts", "makerwatch.ingest.writer")
    assert not allowed("core", "makerwatch.alerts.texts")
    assert not allowed("api", "makerwatch.app")
    assert not allowed("sim", "firmware.runtime")
    assert allowed("app", "makerwatch.alerts.service")
    assert allowed("cli", "makerwatch.app")
    assert allowed("alerts", "makerwatch.core.points")
    assert allowed("cli", "makerwatch.cli.options")
    assert not allowed("app", "makerwatch.cli.signals")
    assert not allowed("ops", "makerwatch.cli")
    assert allowed("app", "makerwatch.adapters")
    assert not allowed("adapters", "makerwatch.app")
    assert not allowed("api", "makerwatch.adapters")
    assert not allowed("ingest", "makerwatch.adapters")


def test_every_command_module_is_checked() -> None:
    """Test that the command line's package and the pipeline's modules are among those whose imports are read."""
    checked = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert {"cli/__init__.py", "cli/signals.py", "cli/up.py"} <= checked
    assert {"adapters.py", "ingest/pipeline.py", "core/relay.py"} <= checked
