"""Site configuration: the example is valid, and every error names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from makerwatch.cli import main
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import MachineKind, load_site_config, parse_yaml
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
    """Test that a bad kind is reported at devices[<its id>].kind with the value given."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["devices"][2]["kind"] = "laser"
    message = error_for(write_variant(tmp_path, {"devices": data["devices"]}))
    assert f"devices[{data['devices'][2]['id']}].kind" in message
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
            "devices[a].name",
            "backslash",
        ),
        (
            {"devices": [{"id": "a", "name": "two\nlines", "kind": "other"}]},
            "devices[a].name",
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
            "devices[a].thresholds",
            "greater than idle_above_w",
        ),
        ({"devices": []}, "devices", "at least 1"),
        ({"mqtt": {"port": 70000}}, "mqtt.port", "less than or equal"),
        ({"influxdb": {"databse": "x"}}, "influxdb.databse", "did you mean 'database'?"),
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


def test_merge_keys_load_and_a_merged_key_set_again_is_an_override() -> None:
    """Test that YAML's merge keys work as PyYAML's safe loader has them (a key set again
    beside `<<` overrides), while a key written twice in one mapping is still refused."""
    text = "a: &a {kind: laser, name: Лазер}\nb:\n  <<: *a\n  name: Екінші лазер\n"
    assert parse_yaml(text) == {
        "a": {"kind": "laser", "name": "Лазер"},
        "b": {"kind": "laser", "name": "Екінші лазер"},
    }
    with pytest.raises(yaml.YAMLError, match="duplicate key 'name' \\(line 4\\)"):
        parse_yaml("a: &a {kind: laser}\nb:\n  name: x\n  name: y\n  <<: *a\n")


def test_an_unhashable_yaml_key_is_a_one_line_error_with_its_place(tmp_path: Path) -> None:
    """Test that a list as a key is refused with the file and line, not a traceback."""
    message = error_for(write_variant(tmp_path, text="site: {id: a, name: A}\n? [x]\n: 1\n"))
    assert message.startswith(f"{tmp_path / 'site.yaml'}:2:3: not valid YAML at line 2:"), message
    assert "unhashable" in message


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
            ConfigError,
            match=r"(?s)devices\[solder-9\]: idle_above_w 2 W .*about 11\.0 W.*PZEM-004T",
        ):
            load_site_config(path)
    else:
        assert load_site_config(path).devices[0].id == "solder-9"


def board_variant(tmp_path: Path, board: dict[str, object], **device: object) -> Path:
    """The example with the laser cutter's board (and device keys) replaced."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    laser = next(d for d in data["devices"] if d["id"] == "laser-1")
    laser["board"] = board
    laser.update(device)
    return write_variant(tmp_path, {"devices": data["devices"]})


def mistakes(message: str) -> list[str]:
    return [line.strip() for line in message.splitlines()[1:]]


@pytest.mark.parametrize(
    ("board", "line"),
    [({"power_sensor": "ct", "ct_model": "sct013-30"},
      "devices[laser-1].board.ct_model: must be one of sct013-005, sct013-010, sct013-015, "
      "sct013-020, sct013-030, sct013-050, sct013-060, custom (got 'sct013-30'); "
      "did you mean 'sct013-030'?"),
     ({"power_sensor": "pzem", "ct_pim": 34},
      "devices[laser-1].board.ct_pim: unknown board setting; did you mean 'ct_pin'?"),
     ({"power_sensor": "pzem", "relay_pinn": 26},
      "devices[laser-1].board.relay_pinn: unknown board setting; did you mean 'relay_pin'?"),
     ({"power_sensor": "pzem", "button_pin": 35},
      "devices[laser-1].board.button_pin: GPIO 35 has no internal pull-up"),
     ({"power_sensor": "pzem", "relay_pin": 12, "relay_active_high": True},
      "devices[laser-1].board.relay_pin: GPIO 12 is a boot strapping pin: held high at reset"),
     ({"power_sensor": "pzem", "led_pin": 0},
      "devices[laser-1].board.led_pin: GPIO 0 is a boot strapping pin: held low at reset")],
    ids=["ct-model-typo", "ct-pim", "relay-pinn", "button-35", "relay-12", "led-0"],
)  # fmt: skip
def test_each_board_mistake_is_one_line_at_the_device_id(
    tmp_path: Path, board: dict[str, object], line: str
) -> None:
    """Test that a board mistake is reported once, under the device's id (not its index), with
    a suggestion for a near-miss."""
    found = mistakes(error_for(board_variant(tmp_path, board)))
    assert len(found) == 1, found
    assert found[0].startswith(line), found


def test_a_button_on_an_input_only_pin_is_accepted_with_an_external_pull_up(
    tmp_path: Path,
) -> None:
    """Test that button_external_pull_up: true lets a button sit on GPIO 34-39."""
    board = {"power_sensor": "pzem", "button_pin": 35, "button_external_pull_up": True}
    config = load_site_config(board_variant(tmp_path, board))
    assert config.device("laser-1") is not None


@pytest.mark.parametrize(
    ("text", "line"),
    [("site:\n  id: aktobe\n  name: A\n  opening_hour: {}\ndevices: []\n",
      "site.opening_hour: unknown setting; did you mean 'opening_hours'?"),
     ("site: {id: aktobe, name: A, timzone: Asia/Oral}\n",
      "site.timzone: unknown setting; did you mean 'timezone'?"),
     ("mqt: {}\n", "mqt: unknown section; did you mean 'mqtt'?"),
     ("alerts: {langauge: kk}\n", "alerts.langauge: unknown setting; did you mean 'language'?"),
     ("alerts: {rules: [{rule: left_on, idle_longer_then_min: 5}]}\n",
      "alerts.rules[0].idle_longer_then_min: unknown setting; did you mean 'idle_longer_than_min'?")],
)  # fmt: skip
def test_unknown_keys_say_so_plainly_with_did_you_mean(
    tmp_path: Path, text: str, line: str
) -> None:
    """Test that a typo at site, section or list-item level reads as an unknown setting with
    the nearest known key, not pydantic's "Extra inputs are not permitted"."""
    base = "" if text.startswith("site") else "site: {id: aktobe, name: A}\n"
    devices = "" if "devices:" in text else "devices: [{id: a, name: A, kind: other}]\n"
    message = error_for(write_variant(tmp_path, text=base + text + devices))
    assert line in mistakes(message), message
    assert "Extra inputs" not in message


def test_a_device_typo_is_named_at_its_id(tmp_path: Path) -> None:
    """Test that an unknown device key is named under the device's id with a suggestion."""
    message = error_for(board_variant(tmp_path, {"power_sensor": "pzem"}, thresholdz={}))
    assert mistakes(message) == [
        "devices[laser-1].thresholdz: unknown setting; did you mean 'thresholds'?"
    ]


def test_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    """Test that broken YAML is reported as file:line:column, not PyYAML's "<unicode string>"."""
    path = write_variant(tmp_path, text="site:\n  id: a\n  name: [x\ndevices: 1\n")
    message = error_for(path)
    assert message.startswith(f"{path}:4:8: not valid YAML at line 4: ")
    assert "<unicode string>" not in message
    assert "\n" not in message


def test_a_misspelt_required_key_is_one_mistake(tmp_path: Path) -> None:
    """Test that `nmae:` for `name:` reads as one unknown key, not also "name: Field required"."""
    text = "site: {id: aktobe, nmae: A}\ndevices: [{id: a, name: A, kind: other}]\n"
    message = error_for(write_variant(tmp_path, text=text))
    assert mistakes(message) == ["site.nmae: unknown setting; did you mean 'name'?"]


def test_influxdb_takes_a_token_or_a_user_not_both(tmp_path: Path) -> None:
    """Test that a 2.x/3.x token is accepted alone and refused beside a 1.x user."""
    config = load_site_config(write_variant(tmp_path, {"influxdb": {"token": "abc-123=="}}))
    assert config.influxdb.token == "abc-123=="
    both = {"influxdb": {"token": "abc", "username": "u", "password": "p"}}
    assert mistakes(error_for(write_variant(tmp_path, both))) == [
        "influxdb: give a token (2.x, 3.x) or a username and password (1.x), not both"
    ]


@pytest.mark.parametrize(
    ("access", "board", "lines"),
    [("enforce", {"card_reader": "mfrc522"},
      ["devices[laser-1].board.relay_pin: access enforce needs a relay to switch the machine on"]),
     ("log", {},
      ["devices[laser-1].board.card_reader: access log needs a card reader fitted (mfrc522)"]),
     ("enforce", {},
      ["devices[laser-1].board.card_reader: access enforce needs a card reader fitted (mfrc522)",
       "devices[laser-1].board.relay_pin: access enforce needs a relay to switch the machine on"])],
    ids=["enforce-no-relay", "log-no-reader", "enforce-neither"],
)  # fmt: skip
def test_an_access_mode_needs_what_it_uses_on_the_board(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    access: str,
    board: dict[str, object],
    lines: list[str],
) -> None:
    """Test that check-config refuses a device whose `access:` is enforce without a relay or a
    reader, or log without a reader, one line each at the board key that lacks it."""
    path = board_variant(tmp_path, board, access=access)
    assert mistakes(error_for(path)) == lines
    assert main(["check-config", str(path)]) == 1
    assert mistakes(capsys.readouterr().err) == lines


def test_an_access_mode_wired_for_it_is_accepted(tmp_path: Path) -> None:
    """Test that a reader and a relay are all enforce needs, and the mode is read as given."""
    board = {"card_reader": "mfrc522", "relay_pin": 26, "relay_active_high": True}
    laser = load_site_config(board_variant(tmp_path, board, access="enforce")).device("laser-1")
    assert laser is not None
    assert (laser.access, laser.board) == ("enforce", board)
