"""How each kind of machine draws power and heats up: data, easy to add to.

A session is a warm-up, then the work levels in turn (e.g. soldering iron in its
stand, then soldering, then in the stand again...) until the session's length,
then a cool-down. Numbers are typical of makerspace machines on 220 V.
"""

from __future__ import annotations

from dataclasses import dataclass

from makerwatch.core.site_config import MachineKind

__all__ = ["PROFILES", "Level", "Profile"]


@dataclass(frozen=True)
class Level:
    """A stretch at one power level."""

    power_w: tuple[float, float]  # the stretch's mean power is drawn from this range
    noise_w: float  # standard deviation of sample-to-sample noise
    seconds: tuple[float, float]  # the stretch's length is drawn from this range


@dataclass(frozen=True)
class Profile:
    warm_up: Level | None
    work: tuple[Level, ...]
    cool_down: Level | None
    session_minutes: tuple[float, float]
    sessions_per_open_hour: float  # mean arrivals in an ordinary open hour
    unattended: bool = False  # keeps running after closing (a long print)
    working_temp_c: float | None = None  # heater set point; None: no temperature sensor
    temp_tau_s: float = 30.0  # how fast it heats and cools


IN_STAND = Level(power_w=(3, 6), noise_w=0.3, seconds=(20, 300))

PROFILES: dict[MachineKind, Profile] = {
    MachineKind.SOLDERING_STATION: Profile(
        warm_up=Level((55, 65), 2, (20, 40)),
        work=(IN_STAND, Level((25, 60), 5, (5, 60))),
        cool_down=None,
        session_minutes=(20, 180),
        sessions_per_open_hour=0.35,
        working_temp_c=350.0,
        temp_tau_s=25.0,
    ),
    MachineKind.PRINTER_3D: Profile(
        warm_up=Level((230, 260), 8, (180, 360)),  # bed and hot end heating
        work=(Level((80, 120), 10, (1800, 28800)),),  # printing for hours
        cool_down=Level((5, 8), 0.5, (300, 1200)),
        session_minutes=(40, 480),
        sessions_per_open_hour=0.12,
        unattended=True,
    ),
    MachineKind.LASER_CUTTER: Profile(
        warm_up=Level((110, 130), 5, (60, 180)),  # chiller, fans, controller
        work=(Level((550, 650), 20, (30, 600)), Level((110, 130), 5, (60, 600))),
        cool_down=Level((110, 130), 5, (120, 300)),
        session_minutes=(20, 120),
        sessions_per_open_hour=0.15,
    ),
    MachineKind.CNC_ROUTER: Profile(
        warm_up=None,
        work=(Level((30, 60), 3, (120, 900)), Level((400, 900), 40, (300, 2400))),
        cool_down=None,
        session_minutes=(30, 180),
        sessions_per_open_hour=0.1,
    ),
    MachineKind.VINYL_CUTTER: Profile(
        warm_up=None,
        work=(Level((5, 8), 0.5, (60, 600)), Level((15, 25), 2, (30, 180))),
        cool_down=None,
        session_minutes=(10, 60),
        sessions_per_open_hour=0.15,
    ),
    MachineKind.SEWING_MACHINE: Profile(
        warm_up=None,
        work=(Level((4, 7), 0.4, (20, 300)), Level((40, 100), 8, (5, 60))),
        cool_down=None,
        session_minutes=(20, 120),
        sessions_per_open_hour=0.2,
    ),
    MachineKind.OTHER: Profile(
        warm_up=None,
        work=(Level((5, 8), 0.5, (60, 600)), Level((30, 60), 3, (60, 600))),
        cool_down=None,
        session_minutes=(15, 90),
        sessions_per_open_hour=0.1,
    ),
}
