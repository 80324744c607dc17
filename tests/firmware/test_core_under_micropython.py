"""The firmware core's tests, run again under real MicroPython 1.27 (WebAssembly port, Node).

Each test in tests/firmware/core runs under CPython through pytest as usual; this
module runs the very same files under MicroPython and reports every one of them
again. A test that passes on CPython and fails here is a real firmware bug.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from typing import Any

import pytest

from tests.support import ROOT

CORE_TESTS = ROOT / "tests" / "firmware" / "core"
MODULES = sorted(f"tests.firmware.core.{path.stem}" for path in CORE_TESTS.glob("test_*.py"))
RUNNER = ROOT / "tests" / "firmware" / "micropython_runner.mjs"


def _sources() -> dict[str, str]:
    """Every file the core tests import, by path relative to the repository."""
    paths = [
        *sorted((ROOT / "firmware").glob("*.py")),
        *sorted((ROOT / "firmware" / "core").glob("*.py")),
        ROOT / "firmware" / "drivers" / "__init__.py",
        ROOT / "firmware" / "drivers" / "mfrc522.py",  # hardware-free: its bus is passed in
        ROOT / "tests" / "__init__.py",
        ROOT / "tests" / "firmware" / "__init__.py",
        *sorted(CORE_TESTS.glob("*.py")),
    ]
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths}


def _cases() -> list[tuple[str, str]]:
    return [
        (module, name)
        for module in MODULES
        for name in sorted(dir(importlib.import_module(module)))
        if name.startswith("test_")
    ]


@pytest.fixture(scope="module")
def micropython() -> dict[str, Any]:
    request = json.dumps({"files": _sources(), "modules": MODULES})
    result = subprocess.run(
        ["node", str(RUNNER)], input=request, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    for line in result.stdout.splitlines():
        if line.startswith("RESULTS:"):
            results: dict[str, Any] = json.loads(line.removeprefix("RESULTS:"))
            return results
    pytest.fail(
        f"MicroPython runner gave no results:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def test_runner_is_real_micropython(micropython: dict[str, Any]) -> None:
    """Test that the tests really ran under MicroPython 1.27, not CPython."""
    assert micropython["implementation"].startswith("micropython 3.4.0; MicroPython v1.27")


def test_micropython_ran_every_core_test(micropython: dict[str, Any]) -> None:
    """Test that MicroPython found exactly the tests CPython found, and no import failed."""
    ran = [(t["module"], t["name"]) for t in micropython["tests"]]
    assert sorted(ran) == sorted(_cases())


@pytest.mark.parametrize(("module", "name"), _cases(), ids=lambda v: v.rsplit(".", 1)[-1])
def test_core_test_passes_under_micropython(
    micropython: dict[str, Any], module: str, name: str
) -> None:
    """Test that this core test also passes under MicroPython."""
    outcome = {(t["module"], t["name"]): t for t in micropython["tests"]}.get((module, name))
    assert outcome is not None, f"{module}.{name} did not run under MicroPython"
    assert outcome["ok"], f"{module}.{name} failed under MicroPython:\n{outcome['error']}"
