"""A simulated machine: a timeline of power stretches built from visits and a profile."""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from makerwatch.sim.profiles import Level, Profile

__all__ = ["AMBIENT_C", "SimulatedMachine", "Visit"]

AMBIENT_C = 22.0


@dataclass(frozen=True)
class Visit:
    """A person using the machine from start to end; `left_on_from_ms` starts an
    unattended stretch in the profile's first work level (e.g. an iron left in its stand)."""

    start_ms: int
    end_ms: int
    left_on_from_ms: int | None = None


@dataclass(frozen=True)
class Stretch:
    start_ms: int
    end_ms: int
    mean_w: float
    noise_w: float


class SimulatedMachine:
    """Power and temperature at any simulated time; deterministic for a given rng.

    Its visits are planned as the clock reaches them and the stretches already over are
    dropped, so a board simulated for a year holds a few stretches, not a year of them.
    It is asked about times that never go back (a board's clock)."""

    def __init__(self, profile: Profile, visits: Iterable[Visit], rng: random.Random) -> None:
        self.profile = profile
        self._rng = rng
        self._visits = iter(visits)
        self._ahead: deque[Stretch] = deque()  # from the latest one started, in order
        self._temp_c = AMBIENT_C
        self._temp_at_ms: int | None = None

    def _draw(self, level: Level, start_ms: int, limit_ms: int) -> Stretch:
        seconds = self._rng.uniform(*level.seconds)
        end = min(limit_ms, start_ms + int(seconds * 1000))
        return Stretch(start_ms, end, self._rng.uniform(*level.power_w), level.noise_w)

    def _visit_stretches(self, visit: Visit) -> list[Stretch]:
        stretches: list[Stretch] = []
        t = visit.start_ms
        busy_until = visit.left_on_from_ms or visit.end_ms
        work = self.profile.work
        warm_up = [self.profile.warm_up] if self.profile.warm_up else []
        for level in itertools.chain(warm_up, itertools.cycle(work)):
            if t >= busy_until:
                break
            stretch = self._draw(level, t, busy_until)
            stretches.append(stretch)
            t = stretch.end_ms
        if visit.left_on_from_ms is not None:  # nobody switched it off
            stretches.append(Stretch(t, visit.end_ms, sum(work[0].power_w) / 2, work[0].noise_w))
        elif self.profile.cool_down is not None:
            stretches.append(self._draw(self.profile.cool_down, t, t + 10**9))
        return stretches

    def _reach(self, t_ms: int) -> None:
        """Plan until a stretch starts after t_ms (or no visit is left), then drop those
        that a later one started before t_ms replaced."""
        ahead = self._ahead
        while not ahead or ahead[-1].start_ms <= t_ms:
            visit = next(self._visits, None)
            if visit is None:
                break
            ahead.extend(self._visit_stretches(visit))
        while len(ahead) > 1 and ahead[1].start_ms <= t_ms:
            ahead.popleft()

    def stretch_at(self, t_ms: int) -> Stretch | None:
        self._reach(t_ms)
        first = self._ahead[0] if self._ahead else None
        if first is not None and first.start_ms <= t_ms < first.end_ms:
            return first
        return None

    def next_change_ms(self, t_ms: int) -> int:
        """When the machine next switches on (or the end of time), for an off machine."""
        self._reach(t_ms)
        later = [s.start_ms for s in itertools.islice(self._ahead, 2) if s.start_ms > t_ms]
        return later[0] if later else 2**62

    def power_w(self, t_ms: int) -> float:
        stretch = self.stretch_at(t_ms)
        if stretch is None:
            return 0.0
        return max(0.0, self._rng.gauss(stretch.mean_w, stretch.noise_w))

    def temp_c(self, t_ms: int) -> float | None:
        """A first-order heater: toward the set point while on, toward ambient when off."""
        if self.profile.working_temp_c is None:
            return None
        target = AMBIENT_C if self.stretch_at(t_ms) is None else self.profile.working_temp_c
        if self._temp_at_ms is not None:
            dt_s = (t_ms - self._temp_at_ms) / 1000
            self._temp_c += (target - self._temp_c) * (
                1 - math.exp(-dt_s / self.profile.temp_tau_s)
            )
        self._temp_at_ms = t_ms
        return round(self._temp_c, 1)
