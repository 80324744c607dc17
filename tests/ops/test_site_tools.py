"""`makerwatch config init` and `makerwatch service install`, run as processes."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from makerwatch.core.site_config import load_site_config
from tests.support import ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"


def makerwatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "makerwatch.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, stdin=subprocess.DEVNULL)  # fmt: skip


def test_config_init_writes_a_valid_site_file_with_working_staff_tokens(tmp_path: Path) -> None:
    """Test that flags give a site file every tool accepts, private to its owner and group,
    with a token per staff member printed once and naming them."""
    out = tmp_path / "config" / "makerspace.yaml"
    result = makerwatch(
        "config", "init", "--out", str(out), "--site-id", "oral", "--name", "Makerspace Oral",
        "--timezone", "Asia/Oral", "--language", "kk", "--hours", "mon-fri 10:00-19:00",
        "--hours", "sat 12:00-18:00", "--device", "solder-1:soldering_station:Дәнекерлеу 1",
        "--device", "cnc-1:cnc_router:ЧПУ «Фреза» #2", "--staff", "Айгерім Сейітова",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = load_site_config(out)
    assert config.site.opening_hours["sat"] == ["12:00-18:00"]
    assert "sun" not in config.site.opening_hours
    assert [d.default_name for d in config.devices] == ["Дәнекерлеу 1", "ЧПУ «Фреза» #2"]
    assert config.alerts.language == "kk"
    token = result.stdout.split("staff token for Айгерім Сейітова (shown once, give it to them): ")[
        1
    ].strip()
    assert config.staff_named_by(token) == "Айгерім Сейітова"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    check = makerwatch("check-config", str(out))
    assert check.returncode == 0, check.stderr
    again = makerwatch("config", "init", "--out", str(out), "--site-id", "x", "--name", "x",
                       "--device", "a:other:b")  # fmt: skip
    assert again.returncode == 1
    assert "exists: give --force" in again.stderr


def test_config_init_without_a_terminal_names_what_is_missing(tmp_path: Path) -> None:
    """Test that, with nobody to ask, missing answers and bad ones are one line each."""
    missing = makerwatch("config", "init", "--out", str(tmp_path / "s.yaml"), "--name", "X")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == "makerwatch: missing --site-id, --device (or run it in a terminal to be asked)"
    )
    bad = makerwatch("config", "init", "--out", str(tmp_path / "s.yaml"), "--site-id", "Bad Id",
                     "--name", "X", "--device", "a:other:b")  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith("makerwatch: site.id:")
    assert bad.stderr.count("\n") == 1
    hours = makerwatch("config", "init", "--out", str(tmp_path / "s.yaml"), "--site-id", "a",
                       "--name", "X", "--device", "a:other:b", "--hours", "weekdays 9-5")  # fmt: skip
    assert hours.returncode == 1
    assert "expected e.g. 'mon-fri 10:00-19:00'" in hours.stderr
    assert not (tmp_path / "s.yaml").exists()


def test_service_install_writes_a_unit_systemd_accepts(tmp_path: Path) -> None:
    """Test that the unit passes `systemd-analyze verify`, runs `up --lan` with absolute
    paths, and lets `up` stop its daemons itself; a broken unit fails the same check."""
    result = makerwatch("service", "install", "--config", str(EXAMPLE), "--data", str(tmp_path / "data"),
                        "--out", str(tmp_path), "--user", "root")  # fmt: skip
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "makerwatch.service"
    text = unit.read_text()
    assert f"up --lan --config {EXAMPLE.resolve()} --data {tmp_path / 'data'}" in text
    assert "KillMode=mixed" in text
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert str(unit) not in verify.stderr, verify.stderr
    # The same check bites: a command systemd cannot run fails, a bad setting is named.
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace(f"ExecStart={sys.executable}", "ExecStart=python"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode != 0
    broken.write_text(text.replace("KillMode=mixed", "KillMode=sometimes"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert str(broken) in verify.stderr
