"""The embedded daemons' logs stay bounded on a site that runs for years."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from makerwatch.ops import embedded
from makerwatch.ops.embedded import EmbeddedMosquitto, free_port
from tests.support import wait_until


def test_a_long_log_is_rotated_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a start finding its log over the limit keeps it as .1 (replacing an older
    .1) and begins a new one, and leaves a short log alone."""
    monkeypatch.setattr(embedded, "LOG_MAX_BYTES", 1000)
    log = tmp_path / "mosquitto" / "mosquitto.log"
    log.parent.mkdir()
    log.write_text("short\n")
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto"):
        pass
    assert log.read_text().startswith("short\n"), "under the limit: kept as it is"
    assert not log.with_name("mosquitto.log.1").exists()
    log.write_text("old line\n" * 200)
    log.with_name("mosquitto.log.1").write_text("older\n")
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto"):
        pass
    assert log.with_name("mosquitto.log.1").read_text() == "old line\n" * 200
    assert "old line" not in log.read_text()


def test_a_running_daemons_log_is_rotated_and_it_writes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that rotating while the daemon runs keeps what it wrote in .1 and that it goes
    on writing to the emptied log (it appends)."""
    monkeypatch.setattr(embedded, "LOG_MAX_BYTES", 10)
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto") as daemon:
        daemon.log_path.write_bytes(b"x" * 100)  # as if it had written that much
        daemon.rotate_log()
        # Mosquitto writes its log as it goes: a line of its own may follow the 100 bytes.
        assert daemon.log_path.with_name("mosquitto.log.1").read_bytes().startswith(b"x" * 100)
        assert b"x" * 100 not in daemon.log_path.read_bytes(), "emptied"
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5):
            pass  # something for it to log
    text = daemon.log_path.read_text()
    assert "New connection" in text
    assert "\x00" not in text, "appended at the new end, not after a hole"


async def test_mosquittos_log_is_written_as_it_goes(tmp_path: Path) -> None:
    """Test that Mosquitto's log shows a connection while it still runs, not when it exits
    (its stdout was buffered: an operator looking during a fault saw nothing)."""
    with EmbeddedMosquitto(free_port(), tmp_path / "mosquitto") as daemon:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5):
            await wait_until(
                lambda: "New connection" in daemon.log_path.read_text(), "the connection logged"
            )
        assert daemon.running
