"""The sponsor figures, one entry each: what it means, its name in kk/ru/en, its unit,
and how it is computed (a query, a share of two others, or counted by the statistics).

The report (HTML, PDF, CSV, JSON), /sponsors and Grafana's sponsor dashboard read every
figure from this table and nothing else (tests/core/test_figures.py adds a throwaway one
and finds it in each). To add figures: a module here with a tuple `FIGURES` of `Figure`
entries, and one line below; a figure with a query needs nothing more.
"""

from __future__ import annotations

from makerwatch.core.figures import usage
from makerwatch.core.figures.base import COUNTED, Figure, Unit

__all__ = ["COUNTED", "FIGURES", "Figure", "Unit", "by_key", "every_figure"]

# In the order the report, the page and the dashboard show them.
FIGURES: tuple[Figure, ...] = (*usage.FIGURES,)


def every_figure() -> tuple[Figure, ...]:
    """The table, read when a document or a dashboard is made (not when imported)."""
    return FIGURES


def by_key(key: str) -> Figure:
    """The figure named `key`; KeyError names it when there is none."""
    for figure in FIGURES:
        if figure.key == key:
            return figure
    raise KeyError(f"no sponsor figure {key!r} (makerwatch/core/figures)")
