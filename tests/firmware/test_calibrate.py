"""`makerwatch board calibrate` end to end: the command through the real Mosquitto to the
firmware's own main loop on the host (tests/firmware/board.py), whose clamp sees a
simulated known load and whose thermocouple a known temperature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from makerwatch.core.protocol import CalibrateCommand
from makerwatch.ops.board_calibrate import CalibrationRefused, calibrate
from tests.firmware.board import board_settings, recording, running_board
from tests.firmware.conftest import Site
from tests.support import wait_until


def power(reading: dict[str, float]) -> float:
    return reading["power_w"]


async def test_a_known_load_corrects_the_clamp_and_the_board_keeps_it(
    tmp_path: Path, site: Site
) -> None:
    """Test that against a 60 W load the board reads 5 % low, the calibration makes it read
    60 W, and the factor is kept in settings.json for the next boot."""
    port = site.mosquitto.port
    settings = board_settings(site.id, port, mains_v=230.0)
    async with recording(port, site.id, "calibrate-recorder") as recorder:
        with running_board(settings, tmp_path) as board:
            # 60 W at 230 V is 0.261 A; the clamp (as fitted) reads 5 % low.
            board.signals.current_a = 60 / 230 * 0.95
            await wait_until(lambda: len(recorder.readings()) >= 4, "readings under load")
            before = power(recorder.readings()[-1])
            applied = await calibrate(
                "127.0.0.1", port, site.id, "solder-1", CalibrateCommand(v=1, known_w=60)
            )
            seen = len(recorder.readings())
            await wait_until(lambda: len(recorder.readings()) >= seen + 2, "readings after")
            after = power(recorder.readings()[-1])
    assert applied.startswith("ct_calibration 1.05"), applied
    assert before == pytest.approx(57.0, abs=0.6)
    assert after == pytest.approx(60.0, abs=0.6)
    kept = json.loads((tmp_path / "settings.json").read_text())
    assert kept["ct_calibration"] == pytest.approx(60 / before, rel=0.01)
    assert kept["device"] == "solder-1", "the rest of the settings as they were"


async def test_a_reference_temperature_sets_the_offset(tmp_path: Path, site: Site) -> None:
    """Test that a thermocouple reading 3 C high against a 25 C reference gets a -3 C offset,
    applied to the readings that follow and kept in settings.json."""
    port = site.mosquitto.port
    async with recording(port, site.id, "calibrate-recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path) as board:
            board.signals.thermocouple_c = 28.0
            await wait_until(lambda: len(recorder.readings()) >= 2, "readings")
            applied = await calibrate(
                "127.0.0.1", port, site.id, "solder-1", CalibrateCommand(v=1, reference_c=25)
            )
            seen = len(recorder.readings())
            await wait_until(lambda: len(recorder.readings()) >= seen + 2, "readings after")
    assert applied.startswith("temp_offset_c -3.0 ("), applied
    assert recorder.readings()[-1]["temp_c"] == pytest.approx(25.0, abs=0.3)
    assert json.loads((tmp_path / "settings.json").read_text())["temp_offset_c"] == -3.0


async def test_calibrating_with_no_load_on_is_refused(tmp_path: Path, site: Site) -> None:
    """Test that a calibration with the known load not switched on is refused with the
    board's reason, and nothing is changed."""
    port = site.mosquitto.port
    async with recording(port, site.id, "calibrate-recorder") as recorder:
        with running_board(board_settings(site.id, port), tmp_path):
            await wait_until(lambda: len(recorder.readings()) >= 4, "readings")
            with pytest.raises(CalibrationRefused, match="is the known load switched on"):
                await calibrate(
                    "127.0.0.1", port, site.id, "solder-1", CalibrateCommand(v=1, known_w=60)
                )
    assert "ct_calibration" not in json.loads((tmp_path / "settings.json").read_text())
