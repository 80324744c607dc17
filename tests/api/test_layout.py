"""The floor board's layout from the site file's `board:` section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from makerwatch.api.layout import board_layout
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import load_site_config
from tests.support import ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"


def site_with(tmp_path: Path, board: object) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["board"] = board
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_by_default_every_machine_is_shown_grouped_by_kind_in_name_order() -> None:
    """Test that without a `board:` choice every machine is in its kind's group, once,
    numbers in names read as numbers."""
    config = load_site_config(EXAMPLE)
    layout = board_layout(config)
    shown = [d for group in layout for d in group["devices"]]
    assert sorted(shown) == sorted(d.id for d in config.devices)
    solder = layout[0]
    assert solder["names"]["en"] == "Soldering stations"
    assert solder["devices"] == ["solder-1", "solder-2", "solder-3"]


def test_staff_groups_come_first_in_their_order_and_hidden_machines_are_left_out(
    tmp_path: Path,
) -> None:
    """Test that a named group comes first with its machines in the order given, in each
    language, and that a hidden machine is in no group."""
    board = {"groups": [{"name": {"kk": "Бірінші зал", "ru": "Первый зал", "en": "Front room"},
                         "devices": ["cnc-1", "laser-1"]}], "hidden": ["solder-3"]}  # fmt: skip
    layout = board_layout(load_site_config(site_with(tmp_path, board)))
    assert layout[0] == {
        "names": {"en": "Front room", "ru": "Первый зал", "kk": "Бірінші зал"},
        "devices": ["cnc-1", "laser-1"],
    }
    shown = [d for group in layout for d in group["devices"]]
    assert "solder-3" not in shown
    assert shown.count("cnc-1") == 1


@pytest.mark.parametrize(
    ("board", "said"),
    [
        ({"hidden": ["laser-9"]}, "board.hidden: no device 'laser-9'"),
        (
            {"groups": [{"name": "A", "devices": ["laser-9"]}]},
            "board.groups[0]: no device 'laser-9'",
        ),
        (
            {"groups": [{"name": "A", "devices": ["cnc-1"]}, {"name": "B", "devices": ["cnc-1"]}]},
            "board.groups[1]: 'cnc-1' is already in a group",
        ),
        ({"groups": [{"name": "A", "devices": []}]}, "board.groups[A].devices"),
        ({"order": []}, "board.order: unknown setting"),
    ],
)
def test_a_board_section_naming_what_is_not_there_is_one_line_naming_it(
    tmp_path: Path, board: object, said: str
) -> None:
    """Test that a wrong `board:` section fails to load with a line naming the key."""
    path = site_with(tmp_path, board)
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: invalid configuration"
    assert len(lines) == 2, lines
    assert said in lines[1]
