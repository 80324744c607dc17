"""The site figures (makerwatch/core/figures, `SiteFigure`: people) as the report shows
them: a section of the page (HTML, PDF, /sponsors) and numbers for CSV and JSON. Every
count goes through `figures.shown`: from 1 to 2 it is "fewer than 3" on the page, and
null with `"suppressed": true` in CSV and JSON (docs/report.md)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from makerwatch.core.figures import (
    FEWER_THAN,
    SUPPRESS_BELOW,
    SiteFigure,
    every_site_figure,
    shown,
)
from makerwatch.core.figures.people import HOURS_BANDS
from makerwatch.core.site_config import Language
from makerwatch.core.site_figures import ALL, Counts, band_label
from makerwatch.core.vocabulary import kind_name

__all__ = ["CSV_COLUMNS", "as_numbers", "csv_rows", "people_html"]

PEOPLE_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "People", "ru": "Люди", "kk": "Адамдар"},
    "band": {"en": "{low}–{high} h", "ru": "{low}–{high} ч", "kk": "{low}–{high} сағ"},
    "band_open": {"en": "{low} h or more", "ru": "{low} ч и больше", "kk": "{low} сағ және одан көп"},
    "note": {
        "en": "Counted by card, never by name; a count from 1 to {top} is shown as “{fewer}”.",
        "ru": "Считаются карты, а не имена; число от 1 до {top} показано как «{fewer}».",
        "kk": "Есімдер емес, карталар саналады; 1-ден {top}-ге дейінгі сан «{fewer}» деп көрсетіледі.",
    },
}  # fmt: skip
# The CSV's columns for the site figures' rows (scope "people").
CSV_COLUMNS = ("figure", "group", "count", "suppressed")


def _groups(figure: SiteFigure, counts: Counts) -> list[tuple[str, int]]:
    """The figure's counts in the order shown: bands in order, kinds by name."""
    mine = counts.get(figure.key, {})
    if figure.group is None:
        return [(ALL, mine.get(ALL, 0))]
    if figure.group == "band":
        return [(band_label(i), mine.get(band_label(i), 0)) for i in range(len(HOURS_BANDS))]
    return sorted(mine.items())


def _group_name(figure: SiteFigure, group: str, language: Language) -> str:
    if figure.group == "band":
        low, high = HOURS_BANDS[[band_label(i) for i in range(len(HOURS_BANDS))].index(group)]
        key = "band_open" if high is None else "band"
        return PEOPLE_TEXTS[key][language].format(low=f"{low:g}", high=f"{high or 0:g}")
    return kind_name(group, language)


def people_html(counts: Counts, language: Language, number: Callable[[int], str] = str) -> str:
    """The section of the report's page (the same on /sponsors and in the PDF): the
    figures without a group in one table, then a table for each grouped one."""

    def row(label: str, count: int) -> str:
        value = shown(count)
        text = FEWER_THAN[language] if value is None else number(value)
        return f'<tr><td>{html.escape(label)}</td><td class="n">{html.escape(text)}</td></tr>'

    figures = every_site_figure()
    plain = [row(f.names[language], _groups(f, counts)[0][1]) for f in figures if f.group is None]
    parts = [
        f"<h2>{html.escape(PEOPLE_TEXTS['title'][language])}</h2><table>{''.join(plain)}</table>"
    ]
    for figure in (f for f in figures if f.group is not None):
        if not _groups(figure, counts):
            continue  # no kind had a member: no empty table
        rows = [row(_group_name(figure, g, language), n) for g, n in _groups(figure, counts)]
        parts.append(
            f"<h2>{html.escape(figure.names[language])}</h2><table>{''.join(rows)}</table>"
        )
    note = PEOPLE_TEXTS["note"][language].format(top=SUPPRESS_BELOW - 1, fewer=FEWER_THAN[language])
    note = html.escape(note)
    return f'<section class="people">{"".join(parts)}<p class="note">{note}</p></section>'


def _number(count: int) -> dict[str, Any]:
    """A count as CSV and JSON hold it: null and suppressed from 1 to 2."""
    value = shown(count)
    return {"count": value, "suppressed": value is None}


def as_numbers(counts: Counts) -> dict[str, Any]:
    """JSON's "people": {"count": n or null, "suppressed": …} per figure, and per group
    of a grouped one."""
    numbers: dict[str, Any] = {}
    for figure in every_site_figure():
        groups = _groups(figure, counts)
        numbers[figure.key] = (
            _number(groups[0][1]) if figure.group is None else {g: _number(n) for g, n in groups}
        )
    return numbers


def csv_rows(counts: Counts) -> list[dict[str, Any]]:
    """The CSV's rows of scope "people": one per figure, and per group of a grouped one."""
    return [
        {"scope": "people", "figure": figure.key, "group": group, "count": shown(count),
         "suppressed": "true" if shown(count) is None else "false"}
        for figure in every_site_figure()
        for group, count in _groups(figure, counts)
    ]  # fmt: skip
