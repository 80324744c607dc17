"""The report's charts, drawn with matplotlib as SVG text to inline in HTML (and so in
the PDF). Text stays text (svg.fonttype none): it is searchable, and small."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

__all__ = ["bar_chart", "heatmap"]

# matplotlib's style settings are global: one chart at a time (the web page draws in
# worker threads).
_drawing = threading.Lock()

INK = "#1f2933"
BAR = "#2b6cb0"
PART = "#a3bffa"  # a bar that holds only part of its span (a week cut by the period's edges)

# A number with so many decimals, as the reader's language writes it (Words.number).
Number = Callable[[float, int], str]


def _ticks(number: Number) -> FuncFormatter:
    return FuncFormatter(lambda value, _: number(value, 0 if float(value).is_integer() else 1))


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


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    number: Number,
    *,
    horizontal: bool = False,
    whole: Sequence[bool] | None = None,
    part_label: str = "",
) -> str:
    """Bars with their values written on them (the numbers, not only lengths, are read);
    the bars that are not `whole` are drawn pale, with `part_label` in a legend."""
    colours = [BAR if w else PART for w in (whole or [True] * len(values))]
    with _drawing, plt.rc_context(STYLE):
        height = max(1.6, 0.35 * len(labels) + 0.6) if horizontal else 2.6
        figure, axes = plt.subplots(figsize=(6.6, height))
        positions = range(len(labels))
        ticks = _ticks(number)
        if horizontal:
            bars = axes.barh(positions, values, color=colours)
            axes.set_yticks(list(positions), labels)
            axes.invert_yaxis()
            axes.xaxis.set_major_formatter(ticks)
        else:
            bars = axes.bar(positions, values, color=colours)
            axes.set_xticks(list(positions), labels)
            axes.yaxis.set_major_formatter(ticks)
            axes.tick_params(axis="x", labelsize=8)  # a week's days, side by side
        axes.bar_label(bars, [number(v, 1) for v in values], padding=2, color=INK)
        if PART in colours and part_label:
            axes.legend(handles=[Patch(color=PART, label=part_label)], frameon=False,
                        loc="upper left", bbox_to_anchor=(0, 1.15))  # fmt: skip
        return _svg(figure)


def heatmap(
    rows: Sequence[str], values: Sequence[Sequence[float]], hour_label: str, number: Number
) -> str:
    """Weekday x hour of the day: darker is busier; the scale is beside it."""
    with _drawing, plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(6.6, 2.4))
        image = axes.imshow(values, aspect="auto", cmap="Blues", vmin=0)
        axes.set_yticks(range(len(rows)), rows)
        axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        axes.set_xlabel(hour_label)
        scale = figure.colorbar(image, ax=axes, fraction=0.03, pad=0.02)
        scale.ax.yaxis.set_major_formatter(_ticks(number))
        return _svg(figure)
