"""A simulated board answers staff's commands as a board does: the demo of `makerwatch up`
through the real Mosquitto, calibrated with the command `board calibrate` and the phone
page send."""

from __future__ import annotations

import threading

import pytest

from makerwatch.core.protocol import CalibrateCommand
from makerwatch.ops.board_calibrate import CalibrationRefused, calibrate
from makerwatch.ops.embedded import EmbeddedMosquitto
from makerwatch.sim.commands import start_demo
from tests.sim.ended import wait_for_statuses
from tests.sim.test_demo import CONFIG, demo_seen


async def answer_of(port: int, command: CalibrateCommand) -> str:
    """What solder-1 answered: 'applied: ...' or 'refused: ...'."""
    try:
        return "applied: " + await calibrate("127.0.0.1", port, CONFIG.site.id, "solder-1", command)
    except CalibrationRefused as refusal:
        return f"refused: {refusal}"


@pytest.mark.parametrize(
    ("command", "answers"),
    [
        # A simulated board has no clamp (power_sensor "none"): the firmware says so.
        (CalibrateCommand(v=1, known_w=60), ("refused: no power sensor fitted",)),
        # Its heat now (cold or hot) decides whether the offset is one a board takes.
        (
            CalibrateCommand(v=1, reference_c=24),
            ("applied: temp_offset_c ", "refused: temp_offset_c would be"),
        ),
    ],
)
async def test_a_simulated_board_answers_a_calibration(
    mosquitto: EmbeddedMosquitto, command: CalibrateCommand, answers: tuple[str, ...]
) -> None:
    """Test that a simulated soldering station answers a calibration with the firmware's
    own answer: the correction it keeps, or why not (whichever its sensors and its
    machine's present heat give), never silence."""
    stop = threading.Event()
    thread = start_demo(CONFIG, "127.0.0.1", mosquitto.port, 1, stop)
    try:
        assert demo_seen(mosquitto.port)
        # Its birth: it listens for commands from before it says it is online.
        await wait_for_statuses(mosquitto.port, CONFIG, online=True)
        answer = await answer_of(mosquitto.port, command)
        assert answer.startswith(answers), answer
    finally:
        stop.set()
        thread.join(30)
