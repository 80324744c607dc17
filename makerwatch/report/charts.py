"""The report's charts, drawn with matplotlib as SVG text to inline in HTML (and so in
the PDF). Text stays text (svg.fonttype none): it is searchable, and small."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["bar_chart", "heatmap"]

# matplotlib's style settings are global: one chart at a time (the web page draws in
# worker threads).
_drawing = threading.Lock()

INK = "#1f2933"
BAR = "#2b6cb0"
STYLE: Any = {  # matplotlib types rcParams keys as literals; this dict is checked by matplotlib itself
    "svg.fonttype": "none",
    "svg.hashsalt": "makerwatch",  # the same figures give the same SVG
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or doctype


def bar_chart(labels: Sequence[str], values: Sequence[float], *, horizontal: bool = False) -> str:
    """Bars with their values written on them (the numbers, not only lengths, are read)."""
    with _drawing, plt.rc_context(STYLE):
        height = max(1.6, 0.35 * len(labels) + 0.6) if horizontal else 2.6
        figure, axes = plt.subplots(figsize=(6.6, height))
        positions = range(len(labels))
        if horizontal:
            bars = axes.barh(positions, values, color=BAR)
            axes.set_yticks(list(positions), labels)
            axes.invert_yaxis()
        else:
            bars = axes.bar(positions, values, color=BAR)
            axes.set_xticks(list(positions), labels)
        axes.bar_label(bars, fmt="%.1f", padding=2, color=INK)
        return _svg(figure)


def heatmap(rows: Sequence[str], values: Sequence[Sequence[float]], hour_label: str) -> str:
    """Weekday x hour of the day: darker is busier; the scale is beside it."""
    with _drawing, plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(6.6, 2.4))
        image = axes.imshow(values, aspect="auto", cmap="Blues", vmin=0)
        axes.set_yticks(range(len(rows)), rows)
        axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        axes.set_xlabel(hour_label)
        figure.colorbar(image, ax=axes, fraction=0.03, pad=0.02)
        return _svg(figure)
