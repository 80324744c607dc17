"""The values of the sponsor figures for one machine or a group of them, and their
change on the period before."""

from __future__ import annotations

from collections.abc import Mapping

from makerwatch.core.figures import by_key

__all__ = ["Figures", "change"]


class Figures:
    """The figures of one machine or of a group of them, by their keys in the figures
    table: `figures["sessions"]`. A share is worked out from its two parts; a figure
    nothing counted is 0."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, float] | None = None, /, **named: float) -> None:
        self.values: dict[str, float] = {**(values or {}), **named}

    def __getitem__(self, key: str) -> float | None:
        share_of = by_key(key).share_of
        if share_of is None:
            return self.values.get(key, 0.0)
        part, whole = (self.values.get(k, 0.0) for k in share_of)
        return part / whole if whole else None

    def __add__(self, other: Figures) -> Figures:
        keys = self.values.keys() | other.values.keys()
        return Figures({k: self.values.get(k, 0.0) + other.values.get(k, 0.0) for k in keys})

    def __eq__(self, other: object) -> bool:
        """The same figures: a figure one side lacks counts as 0 on that side, as it reads."""
        if not isinstance(other, Figures):
            return NotImplemented
        keys = self.values.keys() | other.values.keys()
        return all(self.values.get(k, 0.0) == other.values.get(k, 0.0) for k in keys)

    __hash__ = None  # type: ignore[assignment]  # mutable values: no hash, as a dict has none

    def __repr__(self) -> str:
        return f"Figures({self.values!r})"

    # The figures the statistics themselves sort, chart and add by (and tests read).
    @property
    def machine_hours(self) -> float:
        return self.values.get("machine_hours", 0.0)

    @property
    def on_hours(self) -> float:
        return self.values.get("on_hours", 0.0)

    @property
    def sessions(self) -> int:
        return round(self.values.get("sessions", 0.0))

    @property
    def energy_kwh(self) -> float:
        return self.values.get("energy_kwh", 0.0)

    @property
    def open_hours(self) -> float:
        return self.values.get("open_hours", 0.0)

    @property
    def machines(self) -> int:
        return round(self.values.get("machines", 0.0))

    @property
    def utilisation(self) -> float | None:
        """Machine-hours as a share of opening hours (above 1 when machines run after closing)."""
        return self["utilisation"]


def change(current: float | None, previous: float | None) -> float | None:
    """The relative change against the previous period, or None without a base."""
    if current is None or not previous:
        return None
    return (current - previous) / previous
