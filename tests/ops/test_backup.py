"""Backup of a running site and restore into a fresh folder, with the real InfluxDB."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from makerwatch.members.store import MembersStore
from makerwatch.ops.embedded import EmbeddedInfluxDB, free_port
from tests.ops.test_up import EXAMPLE, influx_cli, run_up, wait_for
from tests.support import WAIT_TIMEOUT_S

QUERIES = (
    "SELECT * FROM telemetry",
    "SELECT * FROM state",
    "SELECT * FROM usage",
    "SHOW MEASUREMENTS",
    'SHOW TAG VALUES FROM telemetry WITH KEY = "device"',
)


def makerwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "makerwatch.cli", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_backup_of_a_running_site_restores_to_identical_results(tmp_path: Path) -> None:
    """Test that `backup` of `up` while it runs, restored with `restore` into a new folder,
    answers every query exactly as the running site did."""
    stack = run_up(tmp_path, free_port(), free_port(), "--no-sim")
    try:
        wait_for(lambda: "subscribed to" in stack.text() or stack.process.poll() is not None, "up")
        now = time.time()
        messages = [("telemetry", {"v": 1, "ts": now - 60 + i, "seq": i, "power_w": 40.0 + i, "temp_c": 300.5})
                    for i in range(1, 6)]  # fmt: skip
        messages.append(
            (
                "state",
                {
                    "v": 1,
                    "ts": now,
                    "seq": 9,
                    "state": "off",
                    "previous": "active",
                    "previous_duration_s": 1800,
                },
            )
        )
        for kind, body in messages:
            subprocess.run(["mosquitto_pub", "-p", str(stack.mqtt_port), "-q", "1", "-t",
                            f"makerspace/aktobe/solder-1/{kind}", "-m", json.dumps(body)],
                           check=True, timeout=10)  # fmt: skip
        wait_for(
            lambda: len(influx_cli(stack, "SELECT * FROM usage")) >= 2,
            "the readings and usage stored",
        )
        before = {query: influx_cli(stack, query) for query in QUERIES}
        member = makerwatch("members", "add", "Aigerim Serikova", "--data", str(tmp_path / "var"))
        assert member.returncode == 0, member.stderr

        made = makerwatch("backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "backup"),
                          "--config", str(EXAMPLE))  # fmt: skip
        assert made.returncode == 0, made.stderr
        # Ingest's rollups may write between the two: the backup is one of them.
        after_backup = {query: influx_cli(stack, query) for query in QUERIES}
        assert "saved InfluxDB" in made.stdout
        assert (tmp_path / "backup" / "spool").is_dir()
        # A link in the data folder (the spool's, to /etc) is not followed: refused, named.
        (tmp_path / "var" / "spool" / "etc").symlink_to("/etc")
        linked = makerwatch(
            "backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "b0")
        )
        assert linked.returncode == 1
        refusal = [line for line in linked.stderr.splitlines() if "using the running" not in line]
        assert (
            "\n".join(refusal) + "\n"
            == f"makerwatch: {tmp_path / 'var' / 'spool' / 'etc'}: a symbolic link; a backup holds only regular files and folders\n"
        )
        (tmp_path / "var" / "spool" / "etc").unlink()

        again = makerwatch(
            "backup", "--data", str(tmp_path / "var"), "--out", str(tmp_path / "backup")
        )
        assert again.returncode == 1
        assert "not empty" in again.stderr
    finally:
        stack.process.send_signal(signal.SIGTERM)
        stack.process.wait(WAIT_TIMEOUT_S)

    for secret in ("makerspace.yaml", "members.sqlite"):  # tokens, names: the owner only
        assert stat.S_IMODE((tmp_path / "backup" / secret).stat().st_mode) == 0o600, secret
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["files"]["makerspace.yaml"]["bytes"] == len(EXAMPLE.read_bytes())
    # The site file holds the staff tokens: the owner's only, like the rest of the backup.
    assert stat.S_IMODE((tmp_path / "backup" / "makerspace.yaml").stat().st_mode) == 0o600
    assert all(
        name.startswith(("influxdb/", "spool/", "makerspace.yaml", "members.sqlite"))
        for name in manifest["files"]
    )
    # A broker configuration in the backup (one that lets anyone in, say) is left out
    # unless asked for, and said so either way.
    broker = tmp_path / "backup" / "broker"
    (broker / "credentials").mkdir(parents=True)
    (broker / "mosquitto.conf").write_text("listener 1883\nallow_anonymous true\n")
    (broker / "acl").write_text("topic readwrite #\n")
    (broker / "credentials" / "ingest.json").write_text(
        '{"mqtt_user": "ingest", "mqtt_password": "x"}\n'
    )
    write_manifest(tmp_path / "backup")
    restored = makerwatch(
        "restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "new")
    )
    assert restored.returncode == 0, restored.stderr
    new_site = tmp_path / "new" / "makerspace.yaml"
    assert f"makerwatch up --data {tmp_path / 'new'} --config {new_site}" in restored.stdout
    assert (
        "left out the backup's broker configuration (broker/mosquitto.conf, broker/acl)"
        in restored.stdout
    )
    assert not (tmp_path / "new" / "broker" / "mosquitto.conf").exists()
    assert not (tmp_path / "new" / "broker" / "acl").exists()
    assert (tmp_path / "new" / "broker" / "credentials" / "ingest.json").read_text() == (
        broker / "credentials" / "ingest.json"
    ).read_text()
    asked = makerwatch("restore", "--from", str(tmp_path / "backup"), "--data",
                       str(tmp_path / "asked"), "--broker-configuration")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert (
        "took the broker's configuration from the backup (broker/mosquitto.conf, broker/acl)"
        in asked.stdout
    )
    assert (tmp_path / "asked" / "broker" / "mosquitto.conf").read_text() == (
        broker / "mosquitto.conf"
    ).read_text()
    with EmbeddedInfluxDB(free_port(), tmp_path / "new" / "influxdb") as influxdb:
        stack.influx_port = influxdb.port
        after = {query: influx_cli(stack, query) for query in QUERIES}
    assert after in (before, after_backup)
    assert len(after["SELECT * FROM telemetry"]) == 5
    assert (tmp_path / "new" / "makerspace.yaml").read_text() == EXAMPLE.read_text()
    for secret in ("makerspace.yaml", "members.sqlite"):
        assert stat.S_IMODE((tmp_path / "new" / secret).stat().st_mode) == 0o600, secret
    restored_members = MembersStore(tmp_path / "new" / "members.sqlite").members()
    assert [m.name for m in restored_members] == ["Aigerim Serikova"]
    twice = makerwatch(
        "restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "new")
    )
    assert twice.returncode == 1
    assert "already holds a site" in twice.stderr


def test_backup_without_a_running_site_is_one_line(tmp_path: Path) -> None:
    """Test that backing up a folder with no site, or restoring a non-backup, says so."""
    result = makerwatch("backup", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "b"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"makerwatch: no InfluxDB of `makerwatch up` in {tmp_path / 'nothing'}"
    )
    result = makerwatch("restore", "--from", str(tmp_path), "--data", str(tmp_path / "new"))
    assert result.returncode == 1
    assert "is not a backup made by `makerwatch backup`" in result.stderr


# --- a backup folder is untrusted input ------------------------------------------------

HOST_SECRET = "root:$6$not-for-a-backup:19000:0:99999:7:::\n"


def write_manifest(backup: Path) -> None:
    """List every file under `backup` as `backup` does, reading through links as an
    attacker who crafts a folder would, so the checksums match what a link points at."""
    files = {}
    for path in sorted(backup.rglob("*")):
        relative = path.relative_to(backup).as_posix()
        if relative == "manifest.json" or path.is_dir() or stat.S_ISFIFO(path.stat().st_mode):
            continue
        body = path.read_bytes()
        files[relative] = {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    (backup / "manifest.json").write_text(json.dumps({"files": files}))


def crafted_backup(tmp_path: Path) -> Path:
    """A folder that passes for a backup: an InfluxDB backup file and a manifest."""
    backup = tmp_path / "crafted"
    (backup / "influxdb").mkdir(parents=True)
    (backup / "influxdb" / "20261207T000000Z.meta").write_bytes(b"not a real meta file")
    (backup / "broker" / "credentials").mkdir(parents=True)
    (backup / "broker" / "credentials" / "ingest.json").write_text('{"mqtt_user": "ingest"}\n')
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "shadow").write_text(HOST_SECRET)
    return backup


def _passwd_link(backup: Path, host: Path) -> str:
    (backup / "broker" / "passwd").symlink_to(host / "shadow")
    write_manifest(backup)
    return "broker/passwd: a symbolic link"


def _spool_link(backup: Path, host: Path) -> str:
    (backup / "spool").symlink_to(host)
    write_manifest(backup)
    return "spool: a symbolic link"


def _etc_spool(backup: Path, host: Path) -> str:
    (backup / "spool").symlink_to("/etc")
    (backup / "manifest.json").write_text(json.dumps({"files": {
        "influxdb/20261207T000000Z.meta": {"bytes": 20, "sha256": hashlib.sha256(b"not a real meta file").hexdigest()},
        "broker/credentials/ingest.json": {"bytes": 24, "sha256": hashlib.sha256(b'{"mqtt_user": "ingest"}\n').hexdigest()},
        "spool/hostname": {"bytes": 1, "sha256": "0" * 64},
    }}))  # fmt: skip
    return "spool: a symbolic link"


def _hard_link(backup: Path, host: Path) -> str:
    os.link(host / "shadow", backup / "broker" / "passwd")
    write_manifest(backup)
    return "broker/passwd: a hard link"


def _fifo(backup: Path, host: Path) -> str:
    (backup / "spool").mkdir()
    os.mkfifo(backup / "spool" / "spool.log")
    write_manifest(backup)
    return "spool/spool.log: a FIFO"


def _dot_dot(backup: Path, host: Path) -> str:
    write_manifest(backup)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["files"]["../host/shadow"] = {"bytes": len(HOST_SECRET), "sha256": hashlib.sha256(HOST_SECRET.encode()).hexdigest()}  # fmt: skip
    (backup / "manifest.json").write_text(json.dumps(manifest))
    return "'../host/shadow' is not a path inside the backup"


def _unlisted(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "broker" / "acl").write_text("topic readwrite #\n")
    return "broker/acl: not in the backup's manifest"


def _changed(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "broker" / "credentials" / "ingest.json").write_text('{"mqtt_user": "attack"}\n')
    return "broker/credentials/ingest.json: its SHA-256 differs"


def _longer(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "broker" / "credentials" / "ingest.json").write_text('{"mqtt_user": "ingest2"}\n')
    return "broker/credentials/ingest.json: more than the 24 bytes the manifest says"


def _shorter(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "broker" / "credentials" / "ingest.json").write_text('{"mqtt_user": "x"}\n')
    return "broker/credentials/ingest.json: 19 bytes, the manifest says 24"


def _missing(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "broker" / "credentials" / "ingest.json").unlink()
    return "broker/credentials/ingest.json: in the backup's manifest but missing"


def _manifest_link(backup: Path, host: Path) -> str:
    write_manifest(backup)
    (backup / "manifest.json").rename(host / "manifest.json")
    (backup / "manifest.json").symlink_to(host / "manifest.json")
    return "manifest.json: a symbolic link"


def _old_manifest(backup: Path, host: Path) -> str:
    (backup / "manifest.json").write_text(json.dumps({"made": "2026-11-29T03:15:00+0500"}))
    return "manifest.json: lists no files with their checksums"


@pytest.mark.parametrize(
    "craft",
    [_passwd_link, _spool_link, _etc_spool, _hard_link, _fifo, _dot_dot, _unlisted, _changed,
     _longer, _shorter, _missing, _manifest_link, _old_manifest],
    ids=lambda craft: craft.__name__.strip("_"),
)  # fmt: skip
def test_restore_reads_only_the_listed_regular_files_inside_the_backup(
    tmp_path: Path, craft: Callable[[Path, Path], str]
) -> None:
    """Test that a link (to a file, a folder, /etc), a hard link, a FIFO, a path out of the
    backup, a file unlisted, changed, cut or missing, or a manifest without checksums is
    refused in one line naming the file, before anything is written: no data folder, no
    staging folder, nothing of the host copied."""
    backup = crafted_backup(tmp_path)
    expected = craft(backup, tmp_path / "host")
    target = tmp_path / "restored" / "var"
    result = makerwatch("restore", "--from", str(backup), "--data", str(target))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("makerwatch: ")
    assert expected in result.stderr, result.stderr
    assert not target.exists()
    left = list((tmp_path / "restored").iterdir()) if (tmp_path / "restored").exists() else []
    assert left == [], "nothing half done"


def test_a_restore_that_fails_half_way_leaves_nothing(tmp_path: Path) -> None:
    """Test that a backup whose files all check out but whose InfluxDB part the real
    influxd cannot restore leaves no data folder and no staging folder behind."""
    backup = crafted_backup(tmp_path)
    write_manifest(backup)
    target = tmp_path / "restored" / "var"
    result = makerwatch("restore", "--from", str(backup), "--data", str(target))
    assert result.returncode == 1
    assert "influxd restore failed" in result.stderr
    assert result.stderr.count("\n") == 1
    assert list((tmp_path / "restored").iterdir()) == []
