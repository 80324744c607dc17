"""People in the sponsor figures (docs/members.md, "The figures"): how many members the
machines served, from the taps and sessions InfluxDB holds (card keys only, never a
name), with every count from 1 to SUPPRESS_BELOW - 1 shown as "fewer than 3", so no
one can be singled out. Each figure is defined here once; /sponsors and the report
show the same `PeopleFigures`.

- **members served**: distinct card keys with an allowed tap in the period (staff
  cards and refused taps are not members served);
- **new members**: those of them with no allowed tap before the period;
- **members per machine kind**: members served at machines of each kind;
- **hours per member**: the members served, by the hours of the sessions they opened
  in the period (HOURS_BANDS), a distribution with no one named;
- **refused taps**: taps the board refused (an untrained member or an unknown card).

Simulated taps (the simulator's) are left out unless the statistics were asked for them.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from makerwatch.core.protocol import TAP_MEASUREMENT, TapResult
from makerwatch.core.site_config import Language
from makerwatch.core.statistics import REAL_DATA, Query, Statistics, time_condition
from makerwatch.core.vocabulary import KIND_NAMES

__all__ = [
    "HOURS_BANDS",
    "SUPPRESS_BELOW",
    "PeopleFigures",
    "people_figures",
    "people_html",
    "suppressed",
]

SUPPRESS_BELOW = 3
# Hours at the machines per member in a period: [from, to) in hours, the last open.
HOURS_BANDS: tuple[tuple[float, float | None], ...] = ((0, 1), (1, 5), (5, 20), (20, None))
SESSION_MEASUREMENT = "session"

PEOPLE_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "People", "ru": "Люди", "kk": "Адамдар"},
    "served": {"en": "Members served", "ru": "Обслужено участников", "kk": "Қызмет көрсетілген қатысушылар"},
    "new": {"en": "New members", "ru": "Новые участники", "kk": "Жаңа қатысушылар"},
    "refused": {"en": "Refused cards", "ru": "Отклонённые карты", "kk": "Қабылданбаған карталар"},
    "per_kind": {"en": "Members by kind of machine", "ru": "Участники по видам оборудования",
                 "kk": "Жабдық түрі бойынша қатысушылар"},
    "hours": {"en": "Members by hours at the machines", "ru": "Участники по часам работы на оборудовании",
              "kk": "Жабдықта жұмыс сағаттары бойынша қатысушылар"},
    "band": {"en": "{low}–{high} h", "ru": "{low}–{high} ч", "kk": "{low}–{high} сағ"},
    "band_open": {"en": "{low} h or more", "ru": "{low} ч и больше", "kk": "{low} сағ және одан көп"},
    "fewer": {"en": "fewer than 3", "ru": "меньше 3", "kk": "3-тен аз"},
    "note": {
        "en": "Counted by card, never by name; a count from 1 to 2 is shown as “fewer than 3”.",
        "ru": "Считаются карты, а не имена; число от 1 до 2 показано как «меньше 3».",
        "kk": "Есімдер емес, карталар саналады; 1-ден 2-ге дейінгі сан «3-тен аз» деп көрсетіледі.",
    },
}  # fmt: skip


def suppressed(count: int) -> int | None:
    """A count as it may be shown: None (fewer than 3) for 1 and 2."""
    return None if 0 < count < SUPPRESS_BELOW else count


@dataclass(frozen=True)
class PeopleFigures:
    """Each count already suppressed: None means "fewer than 3"."""

    served: int | None
    new: int | None
    refused_taps: int | None
    per_kind: dict[str, int | None] = field(default_factory=dict)
    hours_bands: tuple[int | None, ...] = ()


def _values(series: list[dict[str, Any]]) -> Iterable[tuple[dict[str, str], list[Any]]]:
    for one in series:
        for values in one["values"]:
            yield one.get("tags", {}), values


@dataclass
class _Counted:
    """What the figures are made of, across sites, before any count is suppressed."""

    by_kind: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    earlier: set[str] = field(default_factory=set)  # cards allowed before the period
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    refused: int = 0

    @property
    def served(self) -> set[str]:
        return set().union(*self.by_kind.values())

    async def add_site(self, query: Query, where: str, before: str) -> None:
        allowed = f"FROM {TAP_MEASUREMENT} WHERE result = '{TapResult.ALLOWED.value}' AND "
        for tags, values in _values(
            await query(f'SELECT distinct("key") {allowed}{where} GROUP BY kind')
        ):
            self.by_kind[tags.get("kind", "")].add(str(values[1]))
        for _, values in _values(await query(f'SELECT distinct("key") {allowed}{before}')):
            self.earlier.add(str(values[1]))
        sessions = await query(
            f'SELECT "member", "duration_s" FROM {SESSION_MEASUREMENT} WHERE {where}'
        )
        for _, (_, member, duration_s) in _values(sessions):
            if member:
                self.seconds[str(member)] += float(duration_s or 0)
        refused = f"FROM {TAP_MEASUREMENT} WHERE result = '{TapResult.REFUSED.value}' AND {where}"
        self.refused += sum(
            int(v[1]) for _, v in _values(await query(f'SELECT count("key") {refused}'))
        )

    def hours_bands(self) -> list[int]:
        """The members served in each of HOURS_BANDS (a staff card's sessions are not a member's)."""
        bands = [0] * len(HOURS_BANDS)
        served = self.served
        for key, seconds in self.seconds.items():
            if key in served:
                bands[_band(seconds / 3600)] += 1
        return bands


def _band(hours: float) -> int:
    return next(
        i for i, (low, high) in enumerate(HOURS_BANDS) if high is None or low <= hours < high
    )


async def people_figures(query: Query, statistics: Statistics) -> PeopleFigures:
    """The people figures of the statistics' sites and period."""
    counted = _Counted()
    for site in statistics.sites:
        real = "" if site.simulated else f" AND {REAL_DATA}"
        at_site = f"site = '{site.config.site.id}'"
        period = time_condition(site.period.start_ms, site.period.end_ms)
        await counted.add_site(query, f"{at_site} AND {period}{real}",
                               f"{at_site} AND time < {site.period.start_ms}ms{real}")  # fmt: skip
    served = counted.served
    return PeopleFigures(
        served=suppressed(len(served)),
        new=suppressed(len(served - counted.earlier)),
        refused_taps=suppressed(counted.refused),
        per_kind={kind: suppressed(len(keys)) for kind, keys in sorted(counted.by_kind.items())},
        hours_bands=tuple(suppressed(n) for n in counted.hours_bands()),
    )


def band_label(index: int, language: Language) -> str:
    low, high = HOURS_BANDS[index]
    if high is None:
        return PEOPLE_TEXTS["band_open"][language].format(low=f"{low:g}")
    return PEOPLE_TEXTS["band"][language].format(low=f"{low:g}", high=f"{high:g}")


def people_html(figures: PeopleFigures, language: Language) -> str:
    """The figures as a section of the report's page (the same on /sponsors)."""

    def text(key: str) -> str:
        return html.escape(PEOPLE_TEXTS[key][language])

    def count(value: int | None) -> str:
        return text("fewer") if value is None else str(value)

    def row(label: str, value: int | None) -> str:
        return f'<tr><td>{html.escape(label)}</td><td class="n">{count(value)}</td></tr>'

    rows = [row(PEOPLE_TEXTS[k][language], getattr(figures, k))
            for k in ("served", "new")] + [row(PEOPLE_TEXTS["refused"][language], figures.refused_taps)]  # fmt: skip
    kinds = [row(_kind(kind, language), n) for kind, n in figures.per_kind.items()]
    bands = [row(band_label(i, language), n) for i, n in enumerate(figures.hours_bands)]
    return (
        f'<section class="people"><h2>{text("title")}</h2><table>{"".join(rows)}</table>'
        f"<h2>{text('per_kind')}</h2><table>{''.join(kinds)}</table>"
        f"<h2>{text('hours')}</h2><table>{''.join(bands)}</table>"
        f'<p class="note">{text("note")}</p></section>'
    )


def _kind(kind: str, language: Language) -> str:
    names = {k.value: v for k, v in KIND_NAMES.items()}
    return names[kind][language] if kind in names else kind
