"""What a sponsor figure is made of (its entry in makerwatch/core/figures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from makerwatch.core.site_config import Language

__all__ = ["COUNTED", "Figure", "Unit"]

# hours (machine-hours, ...), a count (sessions, ...), energy in kWh, or a share of one.
Unit = Literal["hours", "count", "kwh", "share"]
# Figures the statistics count themselves, for each machine: the opening hours it was
# there for, and the machine itself (1).
COUNTED = ("open_hours", "machines")


@dataclass(frozen=True)
class Figure:
    """One sponsor figure. Exactly one of `query` and `share_of` says how it is
    computed, unless the statistics count it (`COUNTED`)."""

    key: str  # its name in CSV, JSON and the InfluxQL's column
    names: dict[Language, str]  # as a card, a column and a panel title name it
    unit: Unit
    definition: str  # one plain sentence, as docs/statistics.md's table says it
    # Per machine and additive: InfluxQL with {where} (site, data and time conditions)
    # and {group_by} to fill in, answering one column named `key`. A group's figure is
    # the sum of its machines'.
    query: str | None = None
    # A share: (numerator, denominator), two other figures' keys; a group's share is the
    # sum over the sum, never an average of shares.
    share_of: tuple[str, str] | None = None
    headline: bool = True  # a card of the report and /sponsors
    compared: bool = True  # its change on the period before is shown
    column: bool = False  # a column of the report's tables (four fit A4 in every language)

    def __post_init__(self) -> None:
        if self.query is not None and self.share_of is not None:
            raise ValueError(f"figure {self.key}: a query or a share, not both")
        if self.query is None and self.share_of is None and self.key not in COUNTED:
            raise ValueError(f"figure {self.key}: needs a query or a share")
        if set(self.names) != {"en", "ru", "kk"}:
            raise ValueError(f"figure {self.key}: needs its name in en, ru and kk")

    @property
    def decimals(self) -> int:
        return 0 if self.unit == "count" else 1
