"""`makerwatch config init` and `makerwatch service install`, run as processes."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

from makerwatch.api.invites import StaffDevices
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
        "--data", str(tmp_path / "var"), "--url", "https://192.0.2.7:8090",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    link = re.search(
        r"sign-in link for Айгерім Сейітова's phone .*: (https://192\.0\.2\.7:8090/#invite=[\w-]+)",
        result.stdout,
    )
    assert link is not None, result.stdout
    assert (tmp_path / "var" / "invite-айгерім-сейітова.png").exists()
    assert StaffDevices(tmp_path / "var").listed(0)[1][0].name == "Айгерім Сейітова"
    config = load_site_config(out)
    assert config.site.opening_hours["sat"] == ["12:00-18:00"]
    assert "sun" not in config.site.opening_hours
    assert [d.default_name for d in config.devices] == ["Дәнекерлеу 1", "ЧПУ «Фреза» #2"]
    assert config.alerts.language == "kk"
    token = result.stdout.split("staff token for Айгерім Сейітова (shown once, give it to them): ")[
        1
    ].split()[0]
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


def config_init_answering(
    tmp_path: Path, answers: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    """`config init` driven as a person at the terminal would: each answer a line on stdin."""
    return subprocess.run([sys.executable, "-m", "makerwatch.cli", "config", "init", "--out",
                           str(tmp_path / "site.yaml"), "--data", str(tmp_path / "var"), *flags],
                          input=answers, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_config_init_asks_for_the_time_zone_language_machines_and_staff(tmp_path: Path) -> None:
    """Test that the questions list Kazakhstan's zones with their cities, take as many
    machines and staff as given, ask again after each wrong answer (not ending), and
    write a site file for Oral in Asia/Oral."""
    answers = "\n".join([
        "Oral City", "oral",                 # a bad id, asked again
        "Makerspace Oral",
        "Europe/Uralsk", "3",                # not a zone; then Oral's number in the list
        "de", "kk",                          # not a language; then kk
        "weekdays 9-5", "mon-fri 10:00-19:00, sat 12:00-18:00",
        "",                                  # no machine yet: a site needs one
        "laser:laser:Laser",                 # not a kind
        "solder-1:soldering_station:Дәнекерлеу 1",
        "solder-1:soldering_station:again",  # the same id twice
        "laser-1:laser_cutter:Лазер",
        "cnc-1:cnc_router:ЧПУ",
        "",
        "Айгерім Сейітова", "Daniyar",
        "",
    ]) + "\n"  # fmt: skip
    result = config_init_answering(tmp_path, answers)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for zone, cities in (("Asia/Almaty", "Almaty, Astana"), ("Asia/Aqtobe", "Aktobe"), ("Asia/Oral", "Oral"),
                         ("Asia/Qostanay", "Kostanay"), ("Asia/Qyzylorda", "Kyzylorda"),
                         ("Asia/Atyrau", "Atyrau"), ("Asia/Aqtau", "Aktau")):  # fmt: skip
        assert re.search(rf"^  \d\. {zone}: {cities}", out, re.M), out
    assert "'Oral City': lower-case letters, digits and -, up to 32 characters; try again" in out
    assert (
        "'Europe/Uralsk': give a number from the list or an IANA name such as Asia/Oral; try again"
        in out
    )
    assert "'de': one of kk, ru, en; try again" in out
    assert "opening hours 'weekdays 9-5': expected e.g. 'mon-fri 10:00-19:00'; try again" in out
    assert "a site needs at least one machine; try again" in out
    assert "device 'laser:laser:Laser': expected ID:KIND:NAME" in out
    assert "'solder-1' is already a machine of this site; try again" in out
    config = load_site_config(tmp_path / "site.yaml")
    assert config.site.id == "oral"
    assert config.site.timezone == "Asia/Oral"
    assert config.alerts.language == "kk"
    assert config.site.opening_hours["sat"] == ["12:00-18:00"]
    assert [d.id for d in config.devices] == ["solder-1", "laser-1", "cnc-1"]
    assert [m.name for m in config.staff] == ["Айгерім Сейітова", "Daniyar"]
    assert out.count("(shown once, give it to them)") == 2
    assert len(re.findall(r"^sign-in link for .*'s phone .*#invite=", out, re.M)) == 2


def test_config_init_whose_answers_end_early_names_what_is_missing(tmp_path: Path) -> None:
    """Test that answers ending before the machines leave no file and one line."""
    result = config_init_answering(tmp_path, "oral\nMakerspace Oral\n")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "makerwatch: missing --device (or run it in a terminal to be asked)"
    )
    assert not (tmp_path / "site.yaml").exists()
