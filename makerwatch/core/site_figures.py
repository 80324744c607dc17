"""The site figures of the figures table (makerwatch/core/figures, `SiteFigure`: people)
counted for one site and period from InfluxDB. Counts are kept as counted; whatever
shows one passes it through `figures.shown` (1 and 2 become "fewer than 3")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from makerwatch.core.figures import SUPPRESS_BELOW, SiteFigure, every_site_figure
from makerwatch.core.figures.people import ALLOWED, HOURS_BANDS, SESSION_MEASUREMENT

__all__ = [
    "ALL",
    "Counts",
    "Query",
    "add",
    "band_label",
    "count_site",
    "site_figure_query",
    "suppressed_query",
]

# Runs InfluxQL, returns the series (InfluxClient.query, time in epoch ms).
Query = Callable[[str], Awaitable[list[dict[str, Any]]]]
# A figure's counts by its group's value; a figure without a group has one, under ALL.
Counts = dict[str, dict[str, int]]
ALL = ""


def site_figure_query(figure: SiteFigure, where: str, group_by: Iterable[str] = ()) -> str:
    """The figure's InfluxQL for `where`, grouped by its own group and `group_by`."""
    if figure.query is None:
        raise KeyError(f"figure {figure.key!r} has no query of its own")
    groups = [*([figure.group] if figure.group else []), *group_by]
    return figure.query.format(
        where=where, group_by=f" GROUP BY {', '.join(groups)}" if groups else ""
    )


def suppressed_query(figure: SiteFigure, where: str) -> str:
    """The figure's InfluxQL with each count under SUPPRESS_BELOW left out by InfluxDB
    itself (a field condition on a subquery drops the row), so the number never reaches
    a dashboard, not even its "Inspect" view; what is left is the report's number."""
    group = f" GROUP BY {figure.group}" if figure.group else ""
    return (
        f'SELECT "{figure.key}" FROM ({site_figure_query(figure, where)}) '
        f'WHERE "{figure.key}" >= {SUPPRESS_BELOW}{group}'
    )


def _rows(series: list[dict[str, Any]]) -> Iterable[tuple[dict[str, str], list[Any]]]:
    for one in series:
        for values in one["values"]:
            yield one.get("tags") or {}, values


def _counts(figure: SiteFigure, series: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tags, values in _rows(series):
        group = tags.get(figure.group, "") if figure.group else ALL
        counts[group] = counts.get(group, 0) + int(values[1] or 0)
    return counts


async def _count(
    query: Query, figure: SiteFigure, at_site: str, start_ms: int, end_ms: int
) -> dict[str, int]:
    period = f"{at_site} AND time >= {start_ms}ms AND time < {end_ms}ms"
    if figure.query is None:
        return await _hours_bands(query, period)
    if not figure.new_only:
        return _counts(figure, await query(site_figure_query(figure, period)))
    ever, before = await asyncio.gather(
        query(site_figure_query(figure, f"{at_site} AND time < {end_ms}ms")),
        query(site_figure_query(figure, f"{at_site} AND time < {start_ms}ms")),
    )
    earlier = _counts(figure, before)
    return {group: n - earlier.get(group, 0) for group, n in _counts(figure, ever).items()}


def band_label(index: int) -> str:
    """A band of HOURS_BANDS as CSV and JSON name it: "1-5", "20+" (hours)."""
    low, high = HOURS_BANDS[index]
    return f"{low:g}+" if high is None else f"{low:g}-{high:g}"


async def _hours_bands(query: Query, period: str) -> dict[str, int]:
    """The members served, by the hours of the sessions they opened (a staff card's
    sessions are not a member's)."""
    allowed, sessions = await asyncio.gather(
        query(f'SELECT distinct("key") {ALLOWED} AND {period}'),
        query(f'SELECT "member", "duration_s" FROM {SESSION_MEASUREMENT} WHERE {period}'),
    )  # fmt: skip
    served = {str(values[1]) for _, values in _rows(allowed)}
    seconds: dict[str, float] = {}
    for _, (_, member, duration_s) in _rows(sessions):
        if member and str(member) in served:
            seconds[str(member)] = seconds.get(str(member), 0.0) + float(duration_s or 0)
    bands = dict.fromkeys((band_label(i) for i in range(len(HOURS_BANDS))), 0)
    for total in seconds.values():
        hours = total / 3600
        index = next(
            i for i, (low, high) in enumerate(HOURS_BANDS) if high is None or low <= hours < high
        )
        bands[band_label(index)] += 1
    return bands


async def count_site(query: Query, at_site: str, start_ms: int, end_ms: int) -> Counts:
    """Every site figure for [start_ms, end_ms); `at_site` holds the site's (and the
    data's) conditions."""
    figures = every_site_figure()
    counted = await asyncio.gather(*(_count(query, f, at_site, start_ms, end_ms) for f in figures))
    return {f.key: counts for f, counts in zip(figures, counted, strict=True)}


def add(a: Counts, b: Counts) -> Counts:
    """Two sites' counts together (a card key is a site's own, so members add up)."""
    total: Counts = {}
    for key in a.keys() | b.keys():
        groups = a.get(key, {}), b.get(key, {})
        total[key] = {
            g: groups[0].get(g, 0) + groups[1].get(g, 0)
            for g in groups[0].keys() | groups[1].keys()
        }
    return total
