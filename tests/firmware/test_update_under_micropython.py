"""Firmware updates over MQTT, sent by makerwatch/ops/firmware_update.py to the whole board
program under real MicroPython 1.27 (the WebAssembly port on Node) through the real
Mosquitto: a good update switches; a corrupted chunk, a wrong hash, an unsigned update
and a version that never connects leave the board on its old version, and say so.

The port runs .py sources (it cannot load the ESP32's .mpy), so the update carries the
firmware package's sources, FW_VERSION changed: the same files, chunks and checks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.core.agent import FW_VERSION
from makerwatch.ops.firmware_update import BoardFile, Outcome, update_boards
from tests.firmware.board import recording
from tests.firmware.conftest import Site
from tests.firmware.test_board_under_micropython import micropython_board, micropython_settings
from tests.firmware.test_day_under_micropython import ESP32_HEAP_BYTES
from tests.support import ROOT, wait_until

NEW_VERSION = "0.3.0-test"
KEY = secrets.token_hex(32)


def firmware_files(replace: dict[str, tuple[str, str]] | None = None) -> list[BoardFile]:
    """The firmware package's sources as a new version; `replace`: path -> (old, new) text."""
    replace = {"firmware/core/agent.py": ('FW_VERSION = "0.2.0"', f'FW_VERSION = "{NEW_VERSION}"'),
               **(replace or {})}  # fmt: skip
    files = []
    for source in sorted((ROOT / "firmware").rglob("*.py")):
        path = source.relative_to(ROOT).as_posix()
        if path == "firmware/main.py":
            continue
        text = source.read_text(encoding="utf-8")
        if path in replace:
            old, new = replace[path]
            assert old in text, (path, old)
            text = text.replace(old, new)
        files.append(BoardFile(path, text.encode()))
    return files


@dataclass(frozen=True)
class MisdescribedFile(BoardFile):
    """A file whose manifest entry gives a SHA-256 that is not its own."""

    @property
    def sha256(self) -> str:
        return "0" * 64


async def run_update(
    tmp_path: Path,
    site: Site,
    files: list[BoardFile],
    *,
    key: str = KEY,
    corrupt: Callable[[int, int, bytes], bytes] | None = None,
) -> tuple[Outcome, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Update a running board; (outcome, its status messages, its update events, the run)."""
    port = site.mosquitto.port
    settings = micropython_settings(site, update_key=KEY, update_trial_s=10)
    async with recording(port, site.id, "mp-recorder") as recorder:
        async with micropython_board(tmp_path, settings, seconds=300) as board:
            await wait_until(lambda: bool(recorder.of("status")), "the birth message", within_s=30)
            [outcome] = await update_boards(
                "127.0.0.1", port, site.id, [("solder-1", key)], NEW_VERSION, files,
                lambda device, line: None, restart_timeout_s=90, corrupt=corrupt,
            )  # fmt: skip
            await wait_until(lambda: recorder.of("status")[-1]["online"], "the board online")
            seen = len(recorder.of("telemetry"))  # seq starts again at a restart: messages
            await wait_until(lambda: len(recorder.of("telemetry")) >= seen + 2, "readings go on")
        updates = [e for e in recorder.of("event") if e["event"] == "update"]
        assert recorder.invalid == []  # every message valid for the server's models
    assert board.result is not None
    assert board.result["peak_live_bytes"] < ESP32_HEAP_BYTES // 2, board.result
    return outcome, recorder.of("status"), updates, board.result


def running(statuses: list[dict[str, Any]]) -> str:
    return str([s for s in statuses if s["online"]][-1]["fw"])


async def test_a_signed_update_switches_the_board_to_the_new_version(
    tmp_path: Path, site: Site
) -> None:
    """Test that a good update is written, checked file by file, switched to, and confirmed
    by the new version once it is connected, with the board's heap within an ESP32's."""
    files = firmware_files()
    outcome, statuses, updates, result = await run_update(tmp_path, site, files)
    assert outcome.ok, outcome
    assert running(statuses) == NEW_VERSION
    assert [e["reason"] for e in updates] == ["accepted"] + ["file"] * len(files) + [
        "switching", "confirmed"]  # fmt: skip
    assert result["boots"] == 2


async def test_a_corrupted_chunk_leaves_the_board_on_its_version(
    tmp_path: Path, site: Site
) -> None:
    """Test that one byte changed in flight fails its file's SHA-256: the update is
    abandoned, reported, and the board never restarts."""

    def flip(file: int, chunk: int, payload: bytes) -> bytes:
        return payload[:-1] + bytes([payload[-1] ^ 1]) if (file, chunk) == (2, 0) else payload

    outcome, statuses, updates, result = await run_update(
        tmp_path, site, firmware_files(), corrupt=flip
    )
    assert not outcome.ok
    assert "SHA-256 does not match" in outcome.detail, outcome
    assert updates[-1]["reason"] == "failed"
    assert running(statuses) == FW_VERSION
    assert result["boots"] == 1


async def test_a_wrong_hash_in_the_manifest_leaves_the_board_on_its_version(
    tmp_path: Path, site: Site
) -> None:
    """Test that a file whose manifest hash is not its own is refused once written."""
    files = firmware_files()
    files[0] = MisdescribedFile(files[0].path, files[0].data)
    outcome, statuses, _, result = await run_update(tmp_path, site, files)
    assert not outcome.ok
    assert outcome.detail == f"{files[0].path}: SHA-256 does not match the manifest"
    assert running(statuses) == FW_VERSION
    assert result["boots"] == 1


async def test_an_update_not_signed_for_the_board_is_refused(tmp_path: Path, site: Site) -> None:
    """Test that a manifest signed with another key is refused before anything is written."""
    outcome, statuses, updates, result = await run_update(
        tmp_path, site, firmware_files(), key=secrets.token_hex(32)
    )
    assert not outcome.ok
    assert outcome.detail == "manifest: not signed for this board"
    assert [e["reason"] for e in updates] == ["failed"]
    assert running(statuses) == FW_VERSION
    assert result["boots"] == 1


async def test_a_version_that_never_connects_is_rolled_back_by_the_board(
    tmp_path: Path, site: Site
) -> None:
    """Test that a new version which cannot connect restarts at the end of its trial, and
    the board goes back to the version it ran before and says so."""
    broken = {"firmware/runtime.py": (
        "        address = socket.getaddrinfo(",
        '        raise OSError("this version cannot connect")\n        address = socket.getaddrinfo(',
    )}  # fmt: skip
    outcome, statuses, updates, result = await run_update(tmp_path, site, firmware_files(broken))
    assert not outcome.ok
    assert f"firmware {NEW_VERSION} did not connect and report within 10 s" in outcome.detail
    assert f"back on {FW_VERSION}" in outcome.detail
    assert updates[-1]["reason"] == "rolled_back"
    assert running(statuses) == FW_VERSION
    assert result["boots"] == 3  # the trial's restart, then the rollback's
