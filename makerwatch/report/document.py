"""The sponsor report from the statistics module's figures: HTML (self-contained, charts
inline), PDF (WeasyPrint, from the same HTML), CSV and JSON (the figures, as numbers).

WeasyPrint renders the one HTML template to PDF, so the PDF and the web page can
never say different things; it is pure Python over Pango (already on any desktop or
Debian server), with no browser to run.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from makerwatch.core.figures import Figure, every_figure, every_site_figure
from makerwatch.core.site_config import Language
from makerwatch.core.statistics import Figures, Statistics
from makerwatch.core.vocabulary import kind_name
from makerwatch.report import people
from makerwatch.report.charts import bar_chart, heatmap
from makerwatch.report.texts import Words

__all__ = [
    "FORMATS",
    "as_csv",
    "as_json",
    "as_pdf",
    "cells",
    "error_page",
    "html",
    "pdf_bytes",
    "report_name",
]

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "csv", "json")
TOP_MACHINES = 10

_templates = Environment(
    loader=PackageLoader("makerwatch.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def report_name(statistics: Statistics, language: Language, network: str | None) -> str:
    """Whose report it is: the site's name, or the network's."""
    words = Words(language)
    if network is None and len(statistics.sites) == 1:
        return statistics.sites[0].config.site.name
    return network or words.text("network_name")


def _figure_text(words: Words, figure: Figure, figures: Figures) -> str:
    value = figures[figure.key]
    if figure.unit == "share":
        return words.percent(value)
    return words.number(value or 0, figure.decimals)


def _card(words: Words, figure: Figure, statistics: Statistics, previous: str) -> dict[str, str]:
    """A headline figure: its value, its name, and its change on the period before (a
    share's in percentage points)."""
    total, before = statistics.total, statistics.previous
    if not figure.compared:
        change = ""
    elif figure.unit == "share":
        change = words.points_change(
            total[figure.key], before[figure.key] if before else None, previous
        )
    else:
        change = words.change(statistics.changes[figure.key], previous)
    return {
        "label": figure.names[words.language],
        "value": _figure_text(words, figure, total),
        "change": change,
    }


def period_label(statistics: Statistics, words: Words, previous: bool = False) -> str:
    period = statistics.sites[0].period if statistics.sites else None
    if period is None:
        return statistics.period_label
    if previous:
        period = period.previous()
    if period.kind == "month":
        return words.month(period.first)
    return f"{words.short_day(period.first)} – {words.day(period.last)}"


def html(
    statistics: Statistics,
    language: Language,
    *,
    network: str | None = None,
    links: dict[str, str] | None = None,
    periods: dict[str, str] | None = None,
    downloads: dict[str, str] | None = None,
) -> str:
    """The report as one self-contained HTML page (no external file, font or script);
    a web page adds `links` (languages), `periods` (earlier, later) and `downloads`.
    A site whose devices read cards has its people figures too."""
    words = Words(language)
    total = statistics.total
    previous_label = period_label(statistics, words, previous=True)
    headlines = [
        _card(words, figure, statistics, previous_label)
        for figure in every_figure()
        if figure.headline
    ]
    headlines.append(
        {
            "label": words.text("days_used"),
            "value": words.number(statistics.days_used, 0),
            "change": "",
        }
    )
    weeks = statistics.weeks
    kinds = sorted(statistics.by_kind.items(), key=lambda item: -item[1].machine_hours)
    names = {s.config.site.id: s.config.site.name for s in statistics.sites}
    sites = sorted(statistics.by_site.items(), key=lambda item: -item[1].machine_hours)
    devices = {
        (s.config.site.id, d.id): d.name_in(language)
        for s in statistics.sites
        for d in s.config.devices
    }

    def machine_name(site: str, device: str, fallback: str) -> str:
        return devices.get((site, device), fallback)

    last_day = min(
        (datetime.fromtimestamp(statistics.generated_ms / 1000, UTC).astimezone(ZoneInfo(s.config.site.timezone)).date()
         for s in statistics.sites),
        default=None,
    )  # fmt: skip
    added = [
        machine_name(m.site, m.device, m.name) for s in statistics.sites for m in s.machines_added
    ]
    has_use = total.machine_hours > 0
    context: dict[str, Any] = {
        "lang": language,
        "title": words.text("title", name=report_name(statistics, language, network)),
        "period": period_label(statistics, words),
        "partial": words.text("partial", date=words.day(last_day))
        if statistics.partial and last_day
        else "",
        "headlines": headlines,
        "simulated": words.text("simulated") if statistics.simulated else "",
        "no_base": words.text("no_base", previous=previous_label)
        if statistics.previous is None
        else "",
        "has_use": has_use,
        "nothing": words.text("nothing"),
        "weekly_title": words.text("weekly"),
        "weekly_chart": bar_chart(
            [words.days(w.first, w.last) for w in weeks],
            [w.machine_hours for w in weeks],
            words.number,
            whole=[w.whole for w in weeks],
            part_label=words.text("part_week"),
        )
        if has_use
        else "",
        "kinds_title": words.text("by_kind"),
        "kinds_chart": bar_chart(
            [kind_name(kind, language) for kind, _ in kinds],
            [f.machine_hours for _, f in kinds],
            words.number,
            horizontal=True,
        )
        if has_use
        else "",
        "busiest_title": words.text("busiest"),
        "busiest_chart": heatmap(
            words.weekdays(), statistics.busiest_hours, words.text("hour"), words.number
        )
        if has_use
        else "",
        "columns": [f.names[language] for f in every_figure() if f.column],
        "kinds": [
            {"name": kind_name(kind, language), "cells": cells(words, f)} for kind, f in kinds
        ],
        "sites_title": words.text("by_site"),
        "sites": [{"name": names.get(site, site), "cells": cells(words, f)} for site, f in sites]
        if len(statistics.sites) > 1
        else [],
        "sites_chart": bar_chart(
            [names.get(site, site) for site, _ in sites],
            [f.machine_hours for _, f in sites],
            words.number,
            horizontal=True,
        )
        if len(statistics.sites) > 1 and has_use
        else "",
        "top_title": words.text("top"),
        "top": [
            {
                "name": machine_name(m.site, m.device, m.name),
                "kind": words.kind(m.kind),
                "site": names.get(m.site, m.site),
                "cells": cells(words, m.figures),
            }
            for m in statistics.top_machines(TOP_MACHINES)
        ],
        "labels": {k: words.text(k) for k in ("machine", "kind", "site")},
        "show_site": len(statistics.sites) > 1,
        "added": words.text("added", names=", ".join(added)) if added else "",
        "methods_title": words.text("methods_title"),
        "methods": words.text("methods"),
        "generated": words.text("generated", date=words.day(last_day)) if last_day else "",
        "links": links or {},
        "thanks": [
            {
                "name": sponsor.name,
                "line": sponsor.thanks.get(language, ""),
                "logo": _logo_src(sponsor.logo),
            }
            for site in statistics.sites
            for sponsor in site.config.sponsors
            if sponsor.thanks or sponsor.logo
        ],
        "periods": periods or {},
        "downloads": downloads or {},
        "download_label": words.text("download"),
        "people": Markup(_people_section(statistics, words)),
    }
    return _templates.get_template("report.html.j2").render(context)


def _people_section(statistics: Statistics, words: Words) -> str:
    """The site figures' section, already escaped; "" where no device reads cards."""
    counts = statistics.people
    if counts is None:
        return ""
    return people.people_html(counts, words.language, lambda n: words.number(n, 0))


LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".svg": "image/svg+xml"}  # fmt: skip


def _logo_src(logo: str | None) -> str:
    """A sponsor's logo inside the page (the report is one self-contained file), or its
    URL; "" without one, or when its file cannot be read now (logged, not fatal)."""
    if logo is None or logo.startswith(("https://", "http://")):
        return logo or ""
    path = Path(logo)
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("sponsor logo %s left out: %s", logo, exc.strerror)
        return ""
    kind = LOGO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def cells(words: Words, figures: Figures) -> list[str]:
    """A row of the report's tables: the figures of the table that are its columns."""
    return [_figure_text(words, f, figures) for f in every_figure() if f.column]


def as_pdf(page: str, out: Path) -> None:
    out.write_bytes(pdf_bytes(page))


def pdf_bytes(page: str) -> bytes:
    # WeasyPrint warns of each CSS rule it skips (hundreds of lines that say nothing of
    # the document, and read as a failure) and tells its progress, from its import on
    # (it parses its own stylesheets then): shown only with -v.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("weasyprint").setLevel(logging.ERROR)
    from weasyprint import HTML  # imported here: only a PDF needs Pango

    pdf: bytes = HTML(string=page).write_pdf()
    return pdf


def _figures_dict(figures: Figures) -> dict[str, Any]:
    """Every figure of the table, as a number (a count as a whole one; a share without
    a base as null)."""
    numbers: dict[str, Any] = {}
    for figure in every_figure():
        value = figures[figure.key]
        numbers[figure.key] = (
            round(value) if figure.unit == "count" and value is not None else value
        )
    return numbers


def as_dict(statistics: Statistics) -> dict[str, Any]:
    """Every figure, as numbers: what the CSV and JSON formats hold."""
    return {
        "period": statistics.period_label,
        "partial": statistics.partial,
        "simulated": statistics.simulated,
        "generated": datetime.fromtimestamp(statistics.generated_ms / 1000, UTC).isoformat(),
        "total": _figures_dict(statistics.total),
        "previous": _figures_dict(statistics.previous) if statistics.previous else None,
        "changes": statistics.changes,
        "definitions": {
            **{f.key: {"unit": f.unit, "definition": f.definition} for f in every_figure()},
            **{f.key: {"unit": "people", "definition": f.definition} for f in every_site_figure()},
        },
        # Counted over each site, where a device reads cards (else null); a count from 1
        # to 2 is null with "suppressed": true.
        "people": None if statistics.people is None else people.as_numbers(statistics.people),
        "days_used": statistics.days_used,
        "by_kind": {kind: _figures_dict(f) for kind, f in sorted(statistics.by_kind.items())},
        "by_site": {site: _figures_dict(f) for site, f in sorted(statistics.by_site.items())},
        "sites": [
            {
                "site": s.config.site.id,
                "timezone": s.config.site.timezone,
                "start": datetime.fromtimestamp(s.period.start_ms / 1000, UTC).isoformat(),
                "end": datetime.fromtimestamp(s.period.end_ms / 1000, UTC).isoformat(),
                "days_used": s.days_used,
                "busiest_hours": s.busiest_hours,
            }
            for s in statistics.sites
        ],
        "machines": [
            {
                "site": m.site,
                "device": m.device,
                "name": m.name,
                "kind": m.kind,
                "days_used": m.days_used,
                **_figures_dict(m.figures),
            }
            for m in statistics.machines
        ],
        "busiest_hours": statistics.busiest_hours,
        "weekly_hours": {
            monday.isoformat(): hours for monday, hours in statistics.weekly_hours.items()
        },
    }


def as_json(statistics: Statistics) -> str:
    return json.dumps(as_dict(statistics), ensure_ascii=False, indent=2)


# What each CSV row says it is about; the figures' columns follow, from the table.
CSV_SCOPE = ("scope", "site", "device", "name", "kind")


def as_csv(statistics: Statistics) -> str:
    """One row per machine, then per kind, per site and the total (scope says which);
    then, where a device reads cards, one per people figure and group (scope "people")."""
    out = io.StringIO()
    columns = [*CSV_SCOPE, *(f.key for f in every_figure()), *people.CSV_COLUMNS]
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for m in statistics.machines:
        writer.writerow({"scope": "machine", "site": m.site, "device": m.device, "name": m.name,
                         "kind": m.kind, **_figures_dict(m.figures)})  # fmt: skip
    for kind, figures in sorted(statistics.by_kind.items()):
        writer.writerow({"scope": "kind", "kind": kind, **_figures_dict(figures)})
    for site, figures in sorted(statistics.by_site.items()):
        writer.writerow({"scope": "site", "site": site, **_figures_dict(figures)})
    writer.writerow({"scope": "total", **_figures_dict(statistics.total)})
    if statistics.people is not None:
        writer.writerows(people.csv_rows(statistics.people))
    return out.getvalue()


def error_page(language: Language, message: str, home: str) -> str:
    """What a reader of the sponsor page sees instead of figures, in their language."""
    words = Words(language)
    return _templates.get_template("error.html.j2").render(
        lang=language, message=message, home=home, home_label=words.text("this_month")
    )
