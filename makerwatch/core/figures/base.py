"""What a sponsor figure is made of (its entry in makerwatch/core/figures)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from makerwatch.core.site_config import Language

__all__ = [
    "COUNTED",
    "FEWER_THAN",
    "SITE_COUNTED",
    "SUPPRESS_BELOW",
    "Figure",
    "SiteFigure",
    "Unit",
    "shown",
]

# hours (machine-hours, ...), a count (sessions, ...), energy in kWh, or a share of one.
Unit = Literal["hours", "count", "kwh", "share"]
# Figures the statistics count themselves, for each machine: the opening hours it was
# there for, and the machine itself (1).
COUNTED = ("open_hours", "machines")
# The site figure the statistics count themselves: members by their hours at the machines
# (a card key is a field, which InfluxQL cannot group by).
SITE_COUNTED = ("hours_bands",)
_FIELDS = re.compile(r"\{\w+\}")


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


# A count of people from 1 to SUPPRESS_BELOW - 1 is never shown as a number, so no one
# can be singled out: the report says FEWER_THAN, CSV and JSON say null (and `suppressed`).
SUPPRESS_BELOW = 3
_FEWER: dict[Language, str] = {"en": "fewer than {n}", "ru": "меньше {n}", "kk": "{n}-тен аз"}
FEWER_THAN: dict[Language, str] = {
    language: text.format(n=SUPPRESS_BELOW) for language, text in _FEWER.items()
}


def shown(count: int) -> int | None:
    """A count of people as it may be shown: None ("fewer than 3") for 1 and 2."""
    return None if 0 < count < SUPPRESS_BELOW else count


@dataclass(frozen=True)
class SiteFigure:
    """A figure counted over a whole site, not per machine: distinct people do not add up
    over machines (a member at two machines is one member). Shown only for a site where
    some device reads cards, every count through `shown`. A network's figure is the sum
    of its sites' (a card key is the site's own: HMAC with the site's card secret)."""

    key: str  # its name in CSV, JSON and the InfluxQL's column
    names: dict[Language, str]
    definition: str  # one plain sentence, as docs/statistics.md's table says it
    # InfluxQL with {where} (site, data and time conditions) and {group_by}, answering
    # one count in a column named `key`; Grafana's sponsor panel runs the same query.
    # None for the one figure the statistics count themselves (SITE_COUNTED).
    query: str | None
    # One count per value of this tag (members per kind); for the counted figure, per
    # band of hours ("band").
    group: str | None = None
    # Only what is first seen in the period: the count up to the period's end less the
    # count before its start (InfluxQL cannot subtract, so not in Grafana).
    new_only: bool = False

    def __post_init__(self) -> None:
        if set(self.names) != {"en", "ru", "kk"}:
            raise ValueError(f"figure {self.key}: needs its name in en, ru and kk")
        if self.query is None and self.key not in SITE_COUNTED:
            raise ValueError(f"figure {self.key}: needs a query")
        places = set(_FIELDS.findall(self.query or "{where}{group_by}"))
        if not {"{where}", "{group_by}"} <= places:
            raise ValueError(f"figure {self.key}: its query needs {{where}} and {{group_by}}")

    @property
    def in_grafana(self) -> bool:
        """One InfluxQL statement gives it, so a dashboard panel can show it."""
        return self.query is not None and not self.new_only
