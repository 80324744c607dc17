"""The server's clock, checked against the boards' NTP time.

Boards send `ts` only once NTP has set their clocks, so together they are a better
clock than one server whose time may be stepped or drift. Each board's latest
reading is kept against the server's monotonic clock (which no step moves), so
"what time the boards say it is now" survives a step of the server's wall clock.
A reading ahead of the server is refused only when the other boards disagree with
it too; the server's offset from the boards is reported, never acted on. Only
fresh readings speak for the time, so a clock running ahead of the boards' looks
like a backlog and is not reported; one running behind is.

The time ingest stamps a reading without `ts` with (`SteadyClock`) is the wall clock
carried on by the monotonic clock: it follows the wall clock while the two move
together, and a step of the wall clock (more than STEP_S between two readings of it)
is followed only once the boards' NTP time agrees with the new wall time. Until then,
or with no board to ask, readings are stamped by the time before the step.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

__all__ = ["BoardClock", "SteadyClock"]

log = logging.getLogger(__name__)

FORGET_AFTER_S = 3600.0  # a board silent this long no longer speaks for the time
CHECK_EVERY_S = 10.0  # how often the server's offset is looked at for the log
# The wall clock moving this much more or less than the monotonic clock between two
# readings is a step (NTP slews a clock by at most 0.5 ms a second).
STEP_S = 2.0


class BoardClock:
    def __init__(self, max_skew_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_skew_s = max_skew_s
        self._monotonic = monotonic
        # device -> (its latest ts, the monotonic time it was received)
        self._latest: dict[str, tuple[float, float]] = {}
        self._warned = False
        self._checked_at = -CHECK_EVERY_S

    def observe(self, device: str, ts: float, now: float) -> None:
        """A board's reading with its NTP time `ts`, received at server time `now`. A reading
        older than the skew is a backlog (buffered, or queued while ingest was away) and
        says nothing about the time now."""
        if ts < now - self._max_skew_s:
            return
        mono = self._monotonic()
        self._latest[device] = (ts, mono)
        if mono - self._checked_at < CHECK_EVERY_S:
            return  # the median over every board is not needed per reading
        self._checked_at = mono
        offset = self.server_offset_s(now)
        # Only fresh readings are kept, so the offset can only show a server clock behind.
        behind = offset is not None and offset > self._max_skew_s
        if behind and not self._warned:
            log.warning("the server clock is %.0f s behind the boards' NTP time", offset)
        self._warned = behind

    def too_far_ahead(self, device: str, ts: float, now: float) -> bool:
        """Is `ts` ahead of both the server clock and the other boards by more than the skew?"""
        if ts <= now + self._max_skew_s:
            return False
        boards_now = self._boards_now(exclude=device)
        return boards_now is None or ts > boards_now + self._max_skew_s

    def agrees_with(self, t: float) -> bool:
        """Do the boards that spoke lately say it is `t` now (within the skew)?"""
        boards_now = self._boards_now()
        return boards_now is not None and abs(t - boards_now) <= self._max_skew_s

    def server_offset_s(self, now: float) -> float | None:
        """How far the boards' time is ahead of the server's, once any board has spoken."""
        boards_now = self._boards_now()
        return None if boards_now is None else boards_now - now

    def _boards_now(self, exclude: str | None = None) -> float | None:
        mono = self._monotonic()
        estimates = [
            ts + (mono - received)
            for device, (ts, received) in self._latest.items()
            if device != exclude and mono - received < FORGET_AFTER_S
        ]
        return statistics.median(estimates) if estimates else None


class SteadyClock:
    """The server's time, which no step of its wall clock moves unless the boards agree."""

    def __init__(
        self,
        boards: BoardClock,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._boards = boards
        self._wall = wall
        self._monotonic = monotonic
        self._anchor: tuple[float, float] | None = None  # (wall time, monotonic time)
        self._reported_step_s: float | None = None

    def __call__(self) -> float:
        wall, mono = self._wall(), self._monotonic()
        if self._anchor is None:
            self._anchor = (wall, mono)
            return wall
        steady = self._anchor[0] + (mono - self._anchor[1])
        step_s = wall - steady
        if abs(step_s) <= STEP_S or self._boards.agrees_with(wall):
            if abs(step_s) > STEP_S:
                log.warning(
                    "the server clock stepped by %+.0f s and the boards' NTP time agrees: "
                    "stamping by it from now on",
                    step_s,
                )
            self._anchor, self._reported_step_s = (wall, mono), None
            return wall
        if self._reported_step_s is None or abs(step_s - self._reported_step_s) > STEP_S:
            self._reported_step_s = step_s
            log.warning(
                "the server clock stepped by %+.0f s; readings without ts are stamped by the "
                "time before the step until the boards' NTP time agrees with it",
                step_s,
            )
        return steady
