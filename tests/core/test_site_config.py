"""Site configuration: the example is valid, and every error names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from makerwatch.cli import main
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import MachineKind, load_site_config
from tests.support import KAZAKH_NAME, ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"


def write_variant(
    tmp_path: Path, change: dict[str, object] | None = None, text: str | None = None
) -> Path:
    """The example config with one top-level section replaced, or raw text."""
    path = tmp_path / "site.yaml"
    if text is None:
        data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        data.update(change or {})
        text = yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), "the error names the file"
    return message


def test_example_config_is_valid() -> None:
    """Test that the documented example loads with its defaults filled in."""
    config = load_site_config(EXAMPLE)
    assert config.site.timezone == "Asia/Aqtobe"
    assert config.device("solder-1") is not None
    assert config.devices[0].name == KAZAKH_NAME
    assert config.ingest.batch_max_points == 5000


def test_thresholds_default_by_kind() -> None:
    """Test that a device without thresholds takes those of its kind."""
    config = load_site_config(EXAMPLE)
    solder_2 = config.device("solder-2")
    assert solder_2 is not None
    assert solder_2.kind is MachineKind.SOLDERING_STATION
    assert solder_2.effective_thresholds.active_above_w == 15.0


def test_unknown_kind_names_the_device_key(tmp_path: Path) -> None:
    """Test that a bad kind is reported at devices[i].kind with the value given."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["devices"][2]["kind"] = "laser"
    message = error_for(write_variant(tmp_path, {"devices": data["devices"]}))
    assert "devices[2].kind" in message
    assert "'laser'" in message


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"site": {"id": "Aktobe City", "name": "x"}}, "site.id", "pattern"),
        (
            {"site": {"id": "aktobe", "name": "x", "timezone": "Mars/Olympus"}},
            "site.timezone",
            "unknown time zone",
        ),
        (
            {"site": {"id": "aktobe", "name": "x", "opening_hours": {"mon": ["19:00-10:00"]}}},
            "site.opening_hours",
            "closes before it opens",
        ),
        (
            {"site": {"id": "aktobe", "name": "x", "opening_hours": {"monday": ["10:00-19:00"]}}},
            "site.opening_hours",
            "not one of",
        ),
        (
            {
                "devices": [
                    {"id": "a", "name": "A", "kind": "other"},
                    {"id": "a", "name": "B", "kind": "other"},
                ]
            },
            "devices",
            "more than once",
        ),
        (
            {"devices": [{"id": "a", "name": "ends with \\", "kind": "other"}]},
            "devices[0].name",
            "backslash",
        ),
        (
            {"devices": [{"id": "a", "name": "two\nlines", "kind": "other"}]},
            "devices[0].name",
            "one line",
        ),
        (
            {
                "devices": [
                    {
                        "id": "a",
                        "name": "A",
                        "kind": "other",
                        "thresholds": {"idle_above_w": 5, "active_above_w": 2},
                    }
                ]
            },
            "devices[0].thresholds",
            "greater than idle_above_w",
        ),
        ({"devices": []}, "devices", "at least 1"),
        ({"mqtt": {"port": 70000}}, "mqtt.port", "less than or equal"),
        ({"influxdb": {"databse": "x"}}, "influxdb.databse", "Extra inputs"),
    ],
)
def test_error_names_key_path(
    tmp_path: Path, change: dict[str, object], key: str, words: str
) -> None:
    """Test that each kind of mistake is reported at its key path with a reason."""
    message = error_for(write_variant(tmp_path, change))
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(key + ":")), None)
    assert line is not None, f"no line for {key} in:\n{message}"
    assert words in line


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    """Test that a key given twice is refused rather than silently overwritten."""
    message = error_for(
        write_variant(tmp_path, text="site: {id: a, name: A}\nsite: {id: b, name: B}\n")
    )
    assert "duplicate key 'site'" in message


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    """Test that broken YAML is reported with its position."""
    message = error_for(write_variant(tmp_path, text="site: [unclosed\n"))
    assert "not valid YAML" in message
    assert "line" in message


def test_check_config_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that check-config exits 0 for a good file, and 1 naming the key for a bad one."""
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "ok: site 'aktobe'" in capsys.readouterr().out

    broken = write_variant(tmp_path, {"mqtt": {"receive_maximum": 0}})
    assert main(["check-config", str(broken)]) == 1
    err = capsys.readouterr().err
    assert str(broken) in err
    assert "mqtt.receive_maximum" in err


def test_a_device_id_the_server_uses_is_refused(tmp_path: Path) -> None:
    """Test that a device called `alerts` (whose board could write in the alert topics) is refused."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("- id: solder-2", "- id: alerts", 1)
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts.*reserved"):
        load_site_config(path)


def test_staff_tokens_name_the_person_and_must_be_unique(tmp_path: Path) -> None:
    """Test that a token finds its staff member, a wrong one nobody, and a shared token is refused."""
    config = load_site_config(EXAMPLE)
    staff = [{"name": "Айгерім", "token": "a" * 20}, {"name": "Ivan", "token": "b" * 20}]
    with_staff = type(config).model_validate({**config.model_dump(), "staff": staff})
    assert with_staff.staff_named_by("a" * 20) == "Айгерім"
    assert with_staff.staff_named_by("c" * 20) is None
    with pytest.raises(ValueError, match="same token"):
        type(config).model_validate({**config.model_dump(), "staff": [staff[0], staff[0]]})


@pytest.mark.parametrize(
    ("board", "refused"),
    [({"power_sensor": "ct", "ct_model": "sct013-005"}, True),
     ({"power_sensor": "ct", "ct_model": "sct013-005", "ct_turns": 10}, False),
     ({"power_sensor": "pzem"}, False)],
    ids=["ct-one-turn", "ct-ten-turns", "pzem"],
)  # fmt: skip
def test_a_threshold_the_power_sensor_cannot_resolve_is_refused(
    tmp_path: Path, board: dict[str, object], refused: bool
) -> None:
    """Test that a soldering station idling above 2 W on a one-turn SCT-013-005 (which cannot
    tell 11 W from nothing) is refused with what to do, and accepted on a PZEM or ten turns."""
    site = {"site": {"id": "aktobe", "name": "A"},
            "devices": [{"id": "solder-9", "name": "S", "kind": "soldering_station", "board": board}]}  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    if refused:
        with pytest.raises(
            ConfigError, match=r"(?s)devices\[0\]: idle_above_w 2 W .*about 11\.0 W.*PZEM-004T"
        ):
            load_site_config(path)
    else:
        assert load_site_config(path).devices[0].id == "solder-9"
