"""`makerwatch backup` and `makerwatch restore`: a running site's InfluxDB (InfluxDB's own
online, portable backup), its broker's passwords and ACLs, and the spool of batches
not yet written, into a folder; and back into a fresh data folder.

A backup folder is read as untrusted input (it may have been on another disk, or in
other hands, and restore runs as root): restore reads only regular files inside it,
each opened without following a link at any level, and only those its manifest lists,
with the size and SHA-256 the manifest gives. Everything is copied and checked into a
staging folder beside the new data folder first; only then is InfluxDB restored there
and the folder renamed into place, so a failure at any step leaves no data folder.
The broker's configuration (mosquitto.conf, acl, passwd: who may connect and what
they may do) is taken from a backup only when asked for.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from makerwatch import __version__
from makerwatch.core.errors import ToolError
from makerwatch.ops.embedded import EmbeddedInfluxDB, free_port
from makerwatch.ops.system_tools import system_tool

__all__ = ["BROKER_CONFIGURATION", "backup", "restore"]

KEPT_AS_FILES = ("broker", "spool")  # copied as they are, next to the database
SITE_FILE = "makerspace.yaml"
# The members store (docs/members.md): copied with SQLite's online backup, which gives
# a consistent copy while ingest and the command line write to it.
MEMBERS_FILE = "members.sqlite"
MANIFEST = "manifest.json"
# Who may connect to the broker and what they may do: never taken from a backup unasked.
BROKER_CONFIGURATION = ("broker/mosquitto.conf", "broker/acl", "broker/passwd")
TIMEOUT_S = 3600.0
RESTORE_WAIT_S = 120.0
CHUNK_BYTES = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Never through a link, at any level; a FIFO must not block the open.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _rpc_address(influx_dir: Path) -> str:
    """Where the running InfluxDB of `makerwatch up --data` takes backups."""
    try:
        config = (influx_dir / "influxdb.conf").read_text(encoding="utf-8")
    except OSError:
        raise ToolError(f"no InfluxDB of `makerwatch up` in {influx_dir.parent}") from None
    match = re.search(r'^bind-address = "([^"]+)"', config, re.M)
    if match is None or match[1].endswith(":0"):
        raise ToolError(f"{influx_dir}/influxdb.conf names no backup port: restart `makerwatch up`")
    return match[1]


def _influxd(*args: str) -> None:
    result = subprocess.run(
        [system_tool("influxd", "influxdb"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        raise ToolError(f"influxd {args[0]} failed: {' '.join(last) or result.returncode}")


# --- reading a folder without following links ----------------------------------------


def _what(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@contextmanager
def _opened_folder(path: Path) -> Iterator[int]:
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise ToolError(f"{path}: cannot be read as a folder ({exc.strerror})") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _files_under(folder_fd: int, where: Path, prefix: str = "") -> list[str]:
    """Every regular file under the folder, as relative paths; anything else (a link, a
    device, a FIFO, a socket) is refused naming it."""
    files: list[str] = []
    with os.scandir(folder_fd) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            relative = prefix + entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISREG(mode):
                files.append(relative)
            elif stat.S_ISDIR(mode):
                try:
                    fd = os.open(entry.name, _DIR_FLAGS, dir_fd=folder_fd)
                except OSError as exc:
                    raise ToolError(f"{where / relative}: {exc.strerror}") from None
                try:
                    files += _files_under(fd, where, relative + "/")
                finally:
                    os.close(fd)
            else:
                raise ToolError(
                    f"{where / relative}: {_what(mode)}; a backup holds only regular files and folders"
                )
    return files


def _copy_file(
    folder_fd: int, relative: str, where: Path, out: Path, limit_bytes: int | None = None
) -> tuple[int, str]:
    """Copy one regular file under the folder to `out` (new, owner-only), opening every
    part of its path without following links; (bytes, sha256) of what was copied. A file
    longer than `limit_bytes` is not copied on (a disk is not filled for a lie)."""
    opened: list[int] = []
    try:
        parent = folder_fd
        *folders, name = relative.split("/")
        for part in folders:
            parent = os.open(part, _DIR_FLAGS, dir_fd=parent)
            opened.append(parent)
        fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
        opened.append(fd)
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ToolError(f"{where / relative}: {_what(status.st_mode)}; not copied")
        if status.st_nlink != 1:  # another name for it may be any file of the host
            raise ToolError(
                f"{where / relative}: a hard link ({status.st_nlink} names); not copied"
            )
        digest, size = hashlib.sha256(), 0
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(out, "xb", opener=lambda path, flags: os.open(path, flags, 0o600)) as copy:
            while chunk := os.read(fd, CHUNK_BYTES):
                digest.update(chunk)
                copy.write(chunk)
                size += len(chunk)
                if limit_bytes is not None and size > limit_bytes:
                    raise ToolError(
                        f"{where / relative}: more than the {limit_bytes} bytes the manifest says; not restored"
                    )
        return size, digest.hexdigest()
    except OSError as exc:  # ELOOP: a link where a folder or the file was
        reason = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise ToolError(f"{where / relative}: {reason}; not copied") from None
    finally:
        for fd in reversed(opened):
            os.close(fd)


def _copy_folder(source: Path, out: Path) -> None:
    """Copy the regular files under `source` to `out`; a link or a device is refused."""
    with _opened_folder(source) as fd:
        for relative in _files_under(fd, source):
            _copy_file(fd, relative, source, out / relative)


# --- backup ----------------------------------------------------------------------------


def backup(data: Path, out: Path, site_file: Path | None = None) -> list[str]:
    """Back up the site running from `data` (and its site file) into `out` (new or
    empty); what was saved."""
    address = _rpc_address(data / "influxdb")
    if out.exists() and any(out.iterdir()):
        raise ToolError(f"{out} is not empty: back up into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    try:
        _influxd("backup", "-portable", "-host", address, str(out / "influxdb"))
    except ToolError as exc:
        raise ToolError(f"{exc} (is `makerwatch up --data {data}` running?)") from None
    saved = ["InfluxDB (every database, portable format)"]
    for name in KEPT_AS_FILES:
        if (data / name).is_dir():
            _copy_folder(data / name, out / name)
            saved.append(f"{name}/")
    if (data / MEMBERS_FILE).is_file():
        _copy_sqlite(data / MEMBERS_FILE, out / MEMBERS_FILE)
        saved.append("the members store")
    if site_file is not None:  # it holds the staff tokens: the owner only, from the start
        with (
            site_file.open("rb") as source,
            open(
                out / SITE_FILE, "xb", opener=lambda path, flags: os.open(path, flags, 0o600)
            ) as copy,
        ):
            shutil.copyfileobj(source, copy)
        saved.append(f"the site file ({site_file})")
    with _opened_folder(out) as fd:  # every file as it is now in the backup
        files = {}
        for relative in _files_under(fd, out):
            digest, size = hashlib.sha256(), 0
            with (out / relative).open("rb") as copy:
                while chunk := copy.read(CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
            files[relative] = {"bytes": size, "sha256": digest.hexdigest()}
    manifest = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "makerwatch": __version__,
        "data": str(data.resolve()),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return saved


def _copy_sqlite(source: Path, out: Path) -> None:
    out.touch(mode=0o600)  # names and e-mail addresses: the owner only, from the start
    with closing(sqlite3.connect(source)) as db, closing(sqlite3.connect(out)) as copy:
        db.backup(copy)


# --- restore ---------------------------------------------------------------------------


def restore(source: Path, data: Path, *, broker_configuration: bool = False) -> list[str]:
    """Restore a backup into `data`, a folder with no site in it yet; what the operator
    should know (one line each). `broker_configuration`: take mosquitto.conf, the ACL and
    the password file from the backup too."""
    if data.exists() and (not data.is_dir() or any(data.iterdir())):
        raise ToolError(f"{data} already holds a site: restore into a new folder")
    with _opened_folder(source) as folder:
        manifest = _read_manifest(source, folder)
        present = set(_files_under(folder, source)) - {MANIFEST}
        for relative in sorted(present - manifest.keys()):
            raise ToolError(f"{source / relative}: not in the backup's manifest; not restored")
        for relative in sorted(manifest.keys() - present):
            raise ToolError(f"{source / relative}: in the backup's manifest but missing")
        if not any(name.startswith("influxdb/") for name in manifest):
            raise ToolError(f"{source} is not a backup made by `makerwatch backup` (no influxdb/)")
        data.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{data.name}.restoring-", dir=data.parent))
        try:
            copied = staging / "backup"
            for relative, (size, sha256) in sorted(manifest.items()):
                got = _copy_file(folder, relative, source, copied / relative, size)
                if got[0] != size:
                    raise ToolError(
                        f"{source / relative}: {got[0]} bytes, the manifest says {size}; not restored"
                    )
                if got[1] != sha256:
                    raise ToolError(
                        f"{source / relative}: its SHA-256 differs from the manifest's; not restored"
                    )
            notices = _assemble(copied, staging, broker_configuration)
            if data.exists():
                data.rmdir()  # empty, checked above
            staging.rename(data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return notices


def _read_manifest(source: Path, folder: int) -> dict[str, tuple[int, str]]:
    where = source / MANIFEST
    try:
        fd = os.open(MANIFEST, _FILE_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        raise ToolError(f"{source} is not a backup made by `makerwatch backup`") from None
    except OSError as exc:
        reason = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise ToolError(f"{where}: {reason}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > 64 * 1024**2:
            raise ToolError(f"{where}: not a manifest written by `makerwatch backup`")
        with os.fdopen(os.dup(fd), "rb") as file:
            body = json.loads(file.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ToolError(f"{where}: not JSON ({exc})") from None
    finally:
        os.close(fd)
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict):
        raise ToolError(
            f"{where}: lists no files with their checksums (a backup made before they were "
            "listed: make a new one)"
        )
    listed: dict[str, tuple[int, str]] = {}
    for name, entry in files.items():
        parts = name.split("/")
        if name.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in name:
            raise ToolError(f"{where}: {name!r} is not a path inside the backup")
        if name == MANIFEST:
            raise ToolError(f"{where}: lists itself")
        size = entry.get("bytes") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if (
            type(size) is not int
            or size < 0
            or not isinstance(sha256, str)
            or not _SHA256.fullmatch(sha256)
        ):
            raise ToolError(f"{where}: {name!r} has no size and SHA-256")
        listed[name] = (size, sha256)
    return listed


def _assemble(copied: Path, staging: Path, broker_configuration: bool) -> list[str]:
    """Build the data folder in `staging` from the checked copy of the backup."""
    notices = []
    _restore_influxdb(copied / "influxdb", staging / "influxdb")
    configuration = [name for name in BROKER_CONFIGURATION if (copied / name).exists()]
    if configuration and broker_configuration:
        notices.append(
            f"took the broker's configuration from the backup ({', '.join(configuration)}), "
            "as --broker-configuration asked: read it before starting the broker"
        )
    elif configuration:
        for name in configuration:
            (copied / name).unlink()
        notices.append(
            f"left out the backup's broker configuration ({', '.join(configuration)}): "
            "`up --lan` and `broker provision` write it anew from the site file; "
            "--broker-configuration takes it from the backup"
        )
    for name in (*KEPT_AS_FILES, SITE_FILE, MEMBERS_FILE):
        if (copied / name).exists():
            (copied / name).rename(staging / name)
    shutil.rmtree(copied)
    return notices


def _tsm_files_in(backup: Path) -> Counter[tuple[str, str]]:
    """How many TSM files each database and retention policy has in a portable backup,
    by its own manifest and shard archives."""
    expected: Counter[tuple[str, str]] = Counter()
    for manifest in backup.glob("*.manifest"):
        for entry in json.loads(manifest.read_text(encoding="utf-8")).get("files", []):
            with tarfile.open(backup / entry["fileName"]) as archive:
                tsm = sum(name.endswith(".tsm") for name in archive.getnames())
                expected[entry["database"], entry["policy"]] += tsm
    return expected


def _tsm_files_under(influxdb: Path) -> Counter[tuple[str, str]]:
    return Counter((f.parent.parent.parent.name, f.parent.parent.name)
                   for f in (influxdb / "data").glob("*/*/*/*.tsm"))  # fmt: skip


def _restore_influxdb(backup: Path, out: Path) -> None:
    """influxd's portable restore into a new InfluxDB at `out`. influxd answers before
    the restored shards are on disk, and an InfluxDB stopped then loses them (seen under
    load): it is stopped only once every TSM file of the backup is in place."""
    try:
        expected = _tsm_files_in(backup)
    except (OSError, ValueError, KeyError, TypeError, tarfile.TarError) as exc:
        raise ToolError(f"{backup}: not an InfluxDB portable backup ({exc})") from None
    with EmbeddedInfluxDB(free_port(), out) as influxdb:
        _influxd("restore", "-portable", "-host", f"127.0.0.1:{influxdb.rpc_port}", str(backup))
        deadline = time.monotonic() + RESTORE_WAIT_S
        while True:
            restored = _tsm_files_under(out)
            missing = sorted(
                f"{db}.{rp}" for (db, rp), n in expected.items() if restored[db, rp] < n
            )
            if not missing:
                return
            if time.monotonic() > deadline:
                raise ToolError(
                    f"influxd restore did not write the data of {', '.join(missing)} "
                    f"within {RESTORE_WAIT_S:.0f} s; nothing was restored"
                )
            time.sleep(0.05)  # poll interval while influxd writes the shards
