"""Machine use: the figures of the monthly report since its first issue (docs/statistics.md
has each with its InfluxQL). Machine-hours and on-hours are sums of usage segments
(makerwatch/core/usage.py), cut at every quarter hour so a local day, week or month is a
plain sum; energy is summed from ingest's daily rollup."""

from __future__ import annotations

from makerwatch.core.figures.base import Figure
from makerwatch.core.protocol import MachineState
from makerwatch.core.usage import USAGE_MEASUREMENT
from makerwatch.core.vocabulary import TERMS

__all__ = ["ENERGY_ROLLUP", "FIGURES"]

# Energy is rolled up by ingest into one point per machine and local day: the
# trapezoidal integral of its power readings that day (an integral over several
# machines' readings mixed together would mean nothing). Raw readings may then expire.
ENERGY_ROLLUP = "energy_daily"

FIGURES = (
    Figure(
        "machine_hours",
        {"en": "Machine-hours", "ru": "Машино-часы", "kk": "Машина-сағат"},
        "hours",
        "Hours in `active`, the machine doing work, as its board measured it.",
        query=(
            f"SELECT sum(seconds) / 3600 AS machine_hours FROM {USAGE_MEASUREMENT} "
            f"WHERE state = '{MachineState.ACTIVE}' AND {{where}}{{group_by}}"
        ),
        column=True,
    ),
    Figure(
        "sessions",
        {"en": "Sessions", "ru": "Сеансы работы", "kk": "Жұмыс сеанстары"},
        "count",
        "Times a machine left `off`; a session counts in the period where it starts.",
        query=(
            "SELECT count(state) AS sessions FROM state "
            f"WHERE previous = '{MachineState.OFF}' AND {{where}}{{group_by}}"
        ),
        column=True,
    ),
    Figure(
        "energy_kwh",
        {"en": "Energy, kWh", "ru": "Энергия, кВт·ч", "kk": "Энергия, кВт·сағ"},
        "kwh",
        "The trapezoidal integral of each machine's power readings, per local day, summed.",
        query=f"SELECT sum(kwh) AS energy_kwh FROM {ENERGY_ROLLUP} WHERE {{where}}{{group_by}}",
        column=True,
    ),
    Figure(
        "utilisation",
        TERMS["utilisation"],
        "share",
        "Machine-hours over the opening hours each machine was there for.",
        share_of=("machine_hours", "open_hours"),
        column=True,
    ),
    Figure(
        "on_hours",
        {
            "en": "Hours switched on",
            "ru": "Часы во включённом состоянии",
            "kk": "Қосулы тұрған сағаттар",
        },
        "hours",
        "Hours in `idle` or `active` (switched on).",
        query=f"SELECT sum(seconds) / 3600 AS on_hours FROM {USAGE_MEASUREMENT} WHERE {{where}}{{group_by}}",
    ),
    Figure(
        "open_hours",
        {"en": "Opening hours", "ru": "Часы работы", "kk": "Жұмыс сағаттары"},
        "hours",
        "The opening hours each machine was there for (from its first message), summed.",
        headline=False,
        compared=False,
    ),
    Figure(
        "machines",
        {"en": "Machines", "ru": "Единиц оборудования", "kk": "Жабдық саны"},
        "count",
        "Machines that reported in the period.",
        compared=False,
    ),
)
