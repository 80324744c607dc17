"""A staff action's answer from the board: what the floor board shows after "sent".

The board answers `cmd/identify` with an `identify` event and `cmd/relay` with a
`relay` event carrying the relay's new position (docs/protocol.md, Event); a machine
stating `off` confirms a switch-off too. An action waits for the first answer from
its machine after it was sent, for a limited time: no answer is shown as such, never
as done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from makerwatch.core.points import Point
from makerwatch.core.protocol import EVENT_MEASUREMENT, STATE_MEASUREMENT, calibration_answer

__all__ = [
    "ANSWER_WITHIN_S",
    "CALIBRATE_WITHIN_S",
    "BoardAnswer",
    "Confirmations",
    "calibrate_answer",
    "identify_answer",
    "switch_off_answer",
]

ANSWER_WITHIN_S = 15.0  # a board on the network answers within a second or two
CALIBRATE_WITHIN_S = 30.0  # a calibration waits for the board's next few readings


@dataclass(frozen=True)
class BoardAnswer:
    confirmed: bool
    detail: str  # the board's own words ("blinking 10 s", "no relay fitted"), or ""
    refused: bool = False  # the board answered no (a calibration without a load on)


# Reads one point: the answer it gives, or None when it answers nothing.
Reading = Callable[[Point], BoardAnswer | None]


def identify_answer(point: Point) -> BoardAnswer | None:
    if point.measurement == EVENT_MEASUREMENT and point.fields.get("event") == "identify":
        return BoardAnswer(True, str(point.fields.get("detail") or ""))
    return None


def switch_off_answer(point: Point) -> BoardAnswer | None:
    fields = point.fields
    if point.measurement == STATE_MEASUREMENT and fields.get("state") == "off":
        return BoardAnswer(True, "")
    if point.measurement != EVENT_MEASUREMENT or fields.get("event") != "relay":
        return None
    detail = str(fields.get("detail") or "")
    # A board without a relay says so in its relay event: nothing was switched.
    return BoardAnswer(fields.get("relay_on") is False and detail != "no relay fitted", detail)


def calibrate_answer(point: Point) -> BoardAnswer | None:
    if point.measurement != EVENT_MEASUREMENT:
        return None
    answer = calibration_answer(
        str(point.fields.get("event")), str(point.fields.get("detail") or "")
    )
    return None if answer is None else BoardAnswer(answer[0], answer[1], refused=not answer[0])


class Confirmations:
    """Actions waiting for their board's answer; `observe` is an ingest observer."""

    def __init__(self) -> None:
        self._waiting: list[tuple[str, Reading, asyncio.Future[BoardAnswer]]] = []

    async def observe(self, points: list[Point]) -> None:
        if not self._waiting:
            return  # the usual case: every reading passes here
        for point in points:
            device = point.tags.get("device", "")
            for waiting in list(self._waiting):
                wanted, read, answer = waiting
                found = read(point) if wanted == device and not answer.done() else None
                if found is not None:
                    answer.set_result(found)

    def expect(self, device: str, read: Reading) -> asyncio.Future[BoardAnswer]:
        """Start waiting (before the command goes, so a quick answer is not missed)."""
        answer: asyncio.Future[BoardAnswer] = asyncio.get_running_loop().create_future()
        self._waiting.append((device, read, answer))
        return answer

    async def wait(
        self, answer: asyncio.Future[BoardAnswer], within_s: float = ANSWER_WITHIN_S
    ) -> BoardAnswer:
        """The board's answer, or not confirmed once `within_s` has passed."""
        try:
            return await asyncio.wait_for(asyncio.shield(answer), within_s)
        except TimeoutError:
            return BoardAnswer(False, "")
        finally:
            self._waiting = [w for w in self._waiting if w[2] is not answer]
            answer.cancel()
