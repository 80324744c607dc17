"""Maintenance tasks in the site file: each mistake one line naming the task (and the
device or kind), through `makerwatch check-config` as staff run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from makerwatch.cli import main
from makerwatch.core.site_config import load_site_config
from tests.core.test_site_config import EXAMPLE

LENS = {"id": "lens", "name": "Lens", "kinds": ["laser_cutter"], "every_active_h": 40}


def check(tmp_path: Path, tasks: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> str:
    """check-config's answer for the example site with these tasks."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["maintenance"] = tasks
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code = main(["check-config", str(path)])
    out = capsys.readouterr()
    assert code == 1, out
    return (out.out + out.err).replace(str(path), "FILE")


@pytest.mark.parametrize(
    ("tasks", "line"),
    [
        ([{**LENS, "every_days": 3}],
         "maintenance[lens]: give exactly one of every_active_h, every_on_h, every_days"),
        ([{"id": "lens", "name": "Lens", "kinds": ["laser_cutter"]}],
         "maintenance[lens]: give exactly one of every_active_h, every_on_h, every_days"),
        ([{"id": "lens", "name": "Lens", "every_active_h": 40}],
         "maintenance[lens]: name the devices or kinds it is for"),
        ([{**LENS, "kinds": [], "devices": ["laser-9"]}],
         "maintenance: task 'lens': no device 'laser-9'"),
        ([{**LENS, "kinds": ["laser"]}], "maintenance[lens].kinds[0]: Input should be"),
        ([{**LENS, "name": {"en": "Lens", "ru": "Линза"}}],
         "maintenance[lens]: its name needs kk, ru and en (missing kk)"),
        ([LENS, {**LENS, "kinds": [], "devices": ["laser-1"], "every_days": 30,
                 "every_active_h": None}],
         "maintenance: task 'lens' is given twice for device 'laser-1'"),
        ([{**LENS, "every_active_h": -1}],
         "maintenance[lens].every_active_h: Input should be greater than 0 (got -1)"),
        ([{**{k: v for k, v in LENS.items() if k != "every_active_h"}, "every_active_hours": 40}],
         "maintenance[lens].every_active_hours: unknown setting; did you mean 'every_active_h'?"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_the_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tasks: list[dict[str, Any]], line: str
) -> None:
    """Test that check-config refuses the file in two lines: the file, then the mistake at
    the task's id (and the device or kind it names)."""
    lines = check(tmp_path, tasks, capsys).splitlines()
    assert lines[0] == "FILE: invalid configuration", lines
    assert len(lines) == 2, lines
    assert lines[1].strip().startswith(line), lines


def test_tasks_apply_by_kind_and_by_device_with_names_in_each_language(tmp_path: Path) -> None:
    """Test a kind's task on each machine of that kind, a device's on that one only, and
    one name for every language or one in each."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    tube = {"kk": "Түтікті тексеру", "ru": "Проверить трубку", "en": "Check the tube"}
    data["maintenance"] = [
        LENS, {"id": "tube", "name": tube, "devices": ["laser-1"], "every_on_h": 500, "blocking": True},
    ]  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_site_config(path)
    laser = config.device("laser-1")
    solder = config.device("solder-1")
    assert laser is not None
    assert solder is not None
    assert [t.id for t in config.tasks_for(laser)] == ["lens", "tube"]
    assert config.tasks_for(solder) == []
    lens, tube_task = config.tasks_for(laser)
    assert lens.name_in("kk") == "Lens"
    assert tube_task.name_in("kk") == "Түтікті тексеру"
    assert tube_task.interval == ("every_on_h", 500.0)
    assert tube_task.blocking
