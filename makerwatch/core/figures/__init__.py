"""The sponsor figures, one entry each: what it means, its name in kk/ru/en, its unit,
and how it is computed (a query, a share of two others, or counted by the statistics).

The report (HTML, PDF, CSV, JSON), /sponsors and Grafana's sponsor dashboard read every
figure from this table and nothing else (tests/core/test_figures.py adds a throwaway one
and finds it in each). To add figures: a module here with a tuple `FIGURES` of `Figure`
entries (per machine, adding up) or of `SiteFigure` entries (counted over a site: people),
and one line below; a figure with a query needs nothing more.
"""

from __future__ import annotations

from makerwatch.core.figures import people, usage
from makerwatch.core.figures.base import (
    COUNTED,
    FEWER_THAN,
    SUPPRESS_BELOW,
    Figure,
    SiteFigure,
    Unit,
    shown,
)

__all__ = [
    "COUNTED",
    "FEWER_THAN",
    "FIGURES",
    "SITE_FIGURES",
    "SUPPRESS_BELOW",
    "Figure",
    "SiteFigure",
    "Unit",
    "by_key",
    "every_figure",
    "every_site_figure",
    "shown",
]

# In the order the report, the page and the dashboard show them.
FIGURES: tuple[Figure, ...] = (*usage.FIGURES,)
# Counted over a site (people), shown only where some device reads cards; same order rule.
SITE_FIGURES: tuple[SiteFigure, ...] = (*people.FIGURES,)


def every_figure() -> tuple[Figure, ...]:
    """The table, read when a document or a dashboard is made (not when imported)."""
    return FIGURES


def every_site_figure() -> tuple[SiteFigure, ...]:
    """The site figures, read when a document or a dashboard is made."""
    return SITE_FIGURES


def by_key(key: str) -> Figure:
    """The figure named `key`; KeyError names it when there is none."""
    for figure in FIGURES:
        if figure.key == key:
            return figure
    raise KeyError(f"no sponsor figure {key!r} (makerwatch/core/figures)")
