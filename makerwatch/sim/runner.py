"""Runs simulated boards on a simulated clock, in real time, accelerated or as fast as possible."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from makerwatch.core.usage import Usage, usage_from_states
from makerwatch.sim.board import SimulatedBoard
from makerwatch.sim.plug import SimulatedPlug
from makerwatch.sim.publisher import MqttPublisher, RecordingPublisher, Tally

__all__ = ["Simulation", "Summary"]


@dataclass
class Summary:
    """What was sent: the ground truth later checks compare stored data against."""

    tally: Tally
    seconds_simulated: float
    ended_ms: int  # the simulated time the boards stopped at (their offline status's time)

    def usage(self) -> dict[str, Usage]:
        return usage_from_states(self.tally.states)

    def table(self) -> str:
        usage = self.usage()
        devices = sorted(self.tally.messages)
        lines = [
            f"{'device':<14} {'messages':>9} {'readings':>9} {'machine-hours':>14} {'sessions':>9}"
        ]
        for device in devices:
            u = usage.get(device, Usage())
            lines.append(
                f"{device:<14} {self.tally.messages[device]:>9} {self.tally.readings[device]:>9} "
                f"{u.machine_hours:>14.2f} {u.sessions:>9}"
            )
        total_hours = sum(u.machine_hours for u in usage.values())
        total_sessions = sum(u.sessions for u in usage.values())
        lines.append(
            f"{'total':<14} {sum(self.tally.messages.values()):>9} {sum(self.tally.readings.values()):>9} "
            f"{total_hours:>14.2f} {total_sessions:>9}"
        )
        return "\n".join(lines)


class Simulation:
    def __init__(
        self,
        boards: list[SimulatedBoard | SimulatedPlug],
        publisher: MqttPublisher | RecordingPublisher,
        start_ms: int,
        end_ms: int,
        *,
        speed: float | None,
        step_ms: int = 1000,
    ) -> None:
        self.boards = boards
        self.publisher = publisher
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.speed = speed  # simulated seconds per real second; None: as fast as possible
        self.step_ms = step_ms  # how often boards deliver (their network step)

    def run(self, stop: threading.Event | None = None, *, final: bool = True) -> Summary:
        """Run until end_ms or `stop`; then every board says it stopped (an offline status
        stamped with the simulated time reached), so no one waits for its data."""
        stop = stop or threading.Event()
        wall_start = time.monotonic()
        t = self.start_ms
        while t < self.end_ms and not stop.is_set():
            t = min(self.end_ms, t + self.step_ms)
            if self.speed is not None:  # keep the simulated clock at `speed` x real time
                ahead_s = (t - self.start_ms) / 1000 / self.speed - (time.monotonic() - wall_start)
                if ahead_s > 0 and stop.wait(ahead_s):
                    break
            self._answer_commands(t)
            for board in self.boards:
                board.advance(t)
                board.deliver(self.publisher, t)
        ended = t
        if final:  # not `final`: a later run carries on with the same boards
            ended = max([board.switch_off(self.publisher, t) for board in self.boards], default=t)
            for board in self.boards:
                board.stop(self.publisher, ended)
        self.publisher.flush()
        return Summary(self.publisher.tally, (t - self.start_ms) / 1000, ended)

    def _answer_commands(self, t_ms: int) -> None:
        """Hand each board the commands the broker delivered to it (staff's calibrate,
        identify); its answers go out with its next delivery."""
        for device, name, payload in self.publisher.commands():
            board = next((b for b in self.boards if b.device.id == device), None)
            if isinstance(board, SimulatedBoard):
                board.command(name, payload, t_ms)
