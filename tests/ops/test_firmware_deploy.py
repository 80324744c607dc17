"""`makerwatch firmware deploy`: settings from the site file, a real mpy-cross build, mpremote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from makerwatch.cli import main
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.firmware_deploy import BoardSecrets, build, settings_for
from tests.support import ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"
SECRETS = BoardSecrets(wifi_ssid="makerspace-iot", wifi_password="pw", mqtt_host="192.168.1.10")


def test_settings_combine_site_file_and_secrets() -> None:
    """Test that identity, thresholds and wiring come from the site file and Wi-Fi from secrets."""
    settings = settings_for(load_site_config(EXAMPLE), "solder-1", SECRETS)
    assert settings["site"] == "aktobe"
    assert (settings["device"], settings["kind"]) == ("solder-1", "soldering_station")
    assert (settings["idle_above_w"], settings["active_above_w"]) == (2.0, 15.0)
    assert (settings["power_sensor"], settings["temp_sensor"], settings["relay_pin"]) == (
        "pzem",
        "max6675",
        26,
    )
    assert settings["relay_active_high"] is True
    assert settings["max_on_s"] == 14400
    assert (settings["wifi_ssid"], settings["mqtt_host"], settings["mqtt_port"]) == (
        "makerspace-iot",
        "192.168.1.10",
        1883,
    )


def test_unknown_device_names_the_known_ones() -> None:
    """Test that a device id not in the site file is refused with the list of ids."""
    with pytest.raises(
        ConfigError, match=r"'solder-9' is not in site 'aktobe' \(devices: solder-1"
    ):
        settings_for(load_site_config(EXAMPLE), "solder-9", SECRETS)


def test_bad_wiring_fails_check_config(tmp_path: Path) -> None:
    """Test that a wrong board setting is caught by check-config at its key path."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "temp_sensor: max6675", "temp_sensor: max9999"
    )
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"devices\[solder-1\]\.board\.temp_sensor: must be one of ds18b20, max6675, max31855, none \(got 'max9999'\)",
    ):
        load_site_config(path)


def test_build_compiles_every_module_and_writes_settings(tmp_path: Path) -> None:
    """Test the build: one .mpy (v6) per firmware module, main.py as source, settings.json."""
    settings = settings_for(load_site_config(EXAMPLE), "solder-1", SECRETS)
    files = build(settings, tmp_path / "out")
    modules = sorted(str(p.relative_to(tmp_path / "out")) for p in files if p.suffix == ".mpy")
    sources = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "firmware").rglob("*.py") if p.name != "main.py"
    )
    assert modules == sorted(s.removesuffix(".py") + ".mpy" for s in sources)
    assert all(p.read_bytes()[:2] == b"M\x06" for p in files if p.suffix == ".mpy")
    assert (tmp_path / "out" / "main.py").read_text() == (ROOT / "firmware" / "main.py").read_text()
    assert json.loads((tmp_path / "out" / "settings.json").read_text()) == settings
    # settings.json holds the Wi-Fi password: every output is the owner's alone.
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    modes = {p.stat().st_mode & 0o777 for p in files}
    assert modes == {0o600}


def test_dry_run_prints_the_mpremote_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that --dry-run builds and prints one mpremote command that copies and resets."""
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("wifi_ssid: a\nwifi_password: b\nmqtt_host: 10.0.0.2\n", encoding="utf-8")
    code = main(["firmware", "deploy", "--port", "/dev/ttyUSB0", "--device", "printer-1", "--config", str(EXAMPLE),
                 "--secrets", str(secrets), "--build", str(tmp_path / "out"), "--dry-run"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "mpremote connect /dev/ttyUSB0 exec" in out
    assert f"fs cp -r {tmp_path / 'out' / 'firmware'} :" in out
    assert out.rstrip().endswith("+ reset")
    assert json.loads((tmp_path / "out" / "settings.json").read_text())["power_sensor"] == "pzem"


def test_missing_board_is_a_clear_error(tmp_path: Path) -> None:
    """Test that deploying to a port with no board says so, through the real mpremote."""
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("wifi_ssid: a\nwifi_password: b\nmqtt_host: 10.0.0.2\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "firmware", "deploy", "--port", str(tmp_path / "ttyUSB9"),
         "--device", "solder-1", "--config", str(EXAMPLE), "--secrets", str(secrets), "--build", str(tmp_path / "out")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        f"could not copy to the board on {tmp_path / 'ttyUSB9'}: mpremote: failed to access"
        in result.stderr
    )


def test_a_site_ca_in_the_secrets_goes_on_the_board_and_turns_tls_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that `mqtt_ca` in the secrets file puts the site's CA on the board as ca.crt and
    points the board's settings at it; a file that is no certificate is one line naming it."""
    from makerwatch.ops.certificates import make_certificates

    ca = make_certificates(tmp_path / "tls", ["10.20.0.5"])
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(
        f"wifi_ssid: a\nwifi_password: b\nmqtt_host: 10.20.0.5\nmqtt_port: 8883\nmqtt_ca: {ca}\n"
    )
    args = ["firmware", "deploy", "--port", "/dev/ttyUSB0", "--device", "solder-1", "--config", str(EXAMPLE),
            "--secrets", str(secrets), "--build", str(tmp_path / "out"), "--dry-run"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert (settings["mqtt_ca_file"], settings["mqtt_port"]) == ("ca.crt", 8883)
    assert (tmp_path / "out" / "ca.crt").read_text() == ca.read_text()
    assert f"fs cp {tmp_path / 'out' / 'ca.crt'} :ca.crt +" in out
    assert "ca.key" not in out, "the CA's key never leaves the server"
    secrets.write_text(secrets.read_text().replace(str(ca), str(tmp_path / "tls" / "ca.key")))
    assert main(args) != 0
    err = capsys.readouterr().err
    assert f"mqtt_ca: {tmp_path / 'tls' / 'ca.key'} is not a PEM certificate" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def deploy_dry_run(tmp_path: Path, secrets: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "firmware", "deploy", "--port", "/dev/ttyUSB0",
         "--device", "solder-1", "--config", str(EXAMPLE), "--secrets", str(secrets),
         "--build", str(tmp_path / "out"), "--dry-run"],
        capture_output=True, text=True,
    )  # fmt: skip


def test_no_secrets_file_says_to_copy_the_example(tmp_path: Path) -> None:
    """Test that a missing secrets file is one line saying to copy the example, and nothing is built."""
    result = deploy_dry_run(tmp_path, tmp_path / "board-secrets.yaml")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"makerwatch: {tmp_path / 'board-secrets.yaml'}: no secrets file; copy board-secrets.example.yaml "
        f"to {tmp_path / 'board-secrets.yaml'} and fill in the Wi-Fi and the broker's address"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("edit", "key", "placeholder"),
    [({}, "wifi_password", "change-me"),
     ({"wifi_password": "s3cret-wifi"}, "mqtt_host", "192.168.1.10")],
)  # fmt: skip
def test_the_examples_placeholders_are_refused_with_the_line_to_fix(
    tmp_path: Path, edit: dict[str, str], key: str, placeholder: str
) -> None:
    """Test that the example copied as it is (or half filled in) is refused at the line of the
    first placeholder left, and nothing is built."""
    text = (ROOT / "board-secrets.example.yaml").read_text(encoding="utf-8")
    for name, value in edit.items():
        text = text.replace(f"{name}: change-me", f"{name}: {value}")
    secrets = tmp_path / "board-secrets.yaml"
    secrets.write_text(text, encoding="utf-8")
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if ln.startswith(f"{key}:"))
    result = deploy_dry_run(tmp_path, secrets)
    assert result.returncode == 1
    [message] = result.stderr.strip().splitlines()
    assert message.startswith(
        f"makerwatch: {secrets}:{line}: {key} is still the example's {placeholder!r}; put "
    )
    assert not (tmp_path / "out").exists()


def test_a_secrets_typo_is_one_line_with_did_you_mean(tmp_path: Path) -> None:
    """Test that a misspelt secrets key is named with the nearest known key, no traceback."""
    secrets = tmp_path / "board-secrets.yaml"
    secrets.write_text("wifi_ssid: a\nwifi_pasword: b\nmqtt_host: 10.0.0.2\n", encoding="utf-8")
    result = deploy_dry_run(tmp_path, secrets)
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  wifi_pasword: unknown setting; did you mean 'wifi_password'?"
    ], "one line for the typo, not also 'wifi_password: Field required'"
    assert "Traceback" not in result.stderr


READER = "      card_reader: mfrc522\n      card_sck_pin: 14\n      card_mosi_pin: 13\n" \
         "      card_miso_pin: 35\n      card_cs_pin: 32\n      card_rst_pin: 33\n"  # fmt: skip
CARD_SECRET = "a-long-site-card-secret-0123456789abcdef"


def site_with_reader(tmp_path: Path) -> Path:
    """The example site file, solder-1 with a card reader on its own pins."""
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "site.yaml"
    path.write_text(text.replace("      button_pin: 27\n", "      button_pin: 27\n" + READER, 1))
    return path


def test_the_card_secret_goes_only_to_a_board_with_a_reader(tmp_path: Path) -> None:
    """Test that a board with a reader gets the card secret and its access mode, a board
    without one never holds the secret, and a reader without a secret is one line."""
    config = load_site_config(site_with_reader(tmp_path))
    secrets = SECRETS.model_copy(update={"card_secret": CARD_SECRET})
    with_reader = settings_for(config, "solder-1", secrets)
    assert (with_reader["card_reader"], with_reader["card_secret"]) == ("mfrc522", CARD_SECRET)
    assert with_reader["access_mode"] == "off"  # until the site file says otherwise
    assert "card_secret" not in settings_for(config, "printer-1", secrets)
    enforcing = site_with_reader(tmp_path)
    enforcing.write_text(enforcing.read_text().replace(
        "    kind: soldering_station\n", "    kind: soldering_station\n    access: enforce\n", 1))  # fmt: skip
    assert (
        settings_for(load_site_config(enforcing), "solder-1", secrets)["access_mode"] == "enforce"
    )
    with pytest.raises(ConfigError) as refused:
        settings_for(config, "solder-1", SECRETS)
    assert str(refused.value) == (
        "device 'solder-1' has a card reader: put the site's card_secret (at least 32 "
        "characters) in the secrets file"
    )


def test_a_card_reader_on_a_pin_in_use_fails_check_config(tmp_path: Path) -> None:
    """Test that the reader's pins are checked with the board's others, at their key path."""
    path = site_with_reader(tmp_path)
    path.write_text(path.read_text().replace("card_cs_pin: 32", "card_cs_pin: 26"))
    with pytest.raises(ConfigError, match=r"relay_pin: GPIO 26 is already card_cs_pin"):
        load_site_config(path)


@pytest.mark.parametrize(
    ("secret", "says"),
    [("change-me-to-32-or-more-random-characters", "card_secret is still the example's"),
     ("too-short", "card_secret: at least 32 characters")],
)  # fmt: skip
def test_a_placeholder_or_short_card_secret_is_refused(
    tmp_path: Path, secret: str, says: str
) -> None:
    """Test that the example's card secret left as it is, or one too short to keep keys from
    being reversed, is refused in one line before anything is built."""
    secrets = tmp_path / "board-secrets.yaml"
    secrets.write_text(
        f"wifi_ssid: a\nwifi_password: b\nmqtt_host: 10.0.0.2\ncard_secret: {secret}\n",
        encoding="utf-8",
    )
    result = deploy_dry_run(tmp_path, secrets)
    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
