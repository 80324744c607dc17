"""/sponsors: the report of one site as a page a sponsor browses (its languages, the
period before and after, downloads of the period shown) and, instead of a traceback or
JSON, a page in the reader's language when the address is wrong or the figures cannot
be read. The HTTP API calls `answer`; it knows nothing of documents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from makerwatch.core.errors import UnreachableError
from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.statistics import Period, Statistics
from makerwatch.core.vocabulary import LANGUAGE_NAMES
from makerwatch.report import document
from makerwatch.report.texts import Words

__all__ = ["Answer", "answer"]

Figures = Callable[[str | None, bool], Awaitable[Statistics]]
TYPES = {
    "html": "text/html",
    "pdf": "application/pdf",
    "csv": "text/csv",
    "json": "application/json",
}


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the one-line reason of an error, for a client that asked for JSON


def _language(query: Mapping[str, str], accept_language: str) -> Language:
    """The language asked for, else the browser's first known one, else English."""
    asked = query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def _error(status: int, language: Language, message: str, reason: str) -> Answer:
    page = document.error_page(language, message, f"?{urlencode({'lang': language})}")
    return Answer(status, "text/html", page.encode(), error=reason)


def _href(period: Period, language: Language, simulated: bool, **more: str) -> str:
    query = {"period": period.label, "lang": language, **({"simulated": "1"} if simulated else {})}
    return "?" + urlencode(query | more)


async def answer(
    query: Mapping[str, str],
    accept_language: str,
    figures: Figures,
    now_ms: int,
) -> Answer:
    """The page, a download of it (format=pdf, csv or json) or an error page."""
    language = _language(query, accept_language)
    words = Words(language)
    if query.get("lang", language) != language:
        return _error(400, language, words.text("bad_request"),
                      f"lang must be one of {', '.join(LANGUAGES)}")  # fmt: skip
    out_format = query.get("format", "html")
    if out_format not in document.FORMATS:
        return _error(400, language, words.text("bad_request"),
                      f"format must be one of {', '.join(document.FORMATS)}")  # fmt: skip
    simulated = query.get("simulated") == "1"
    try:
        stats = await figures(query.get("period"), simulated)
    except ValueError as exc:
        example = f"{datetime.fromtimestamp(now_ms / 1000, UTC):%Y-%m}"
        message = words.text("bad_period", period=query.get("period", ""), example=example)
        return _error(400, language, message, str(exc))
    except UnreachableError as exc:
        return _error(503, language, words.text("unreachable"), str(exc))
    period = stats.sites[0].period
    name = f"makerwatch-{stats.sites[0].config.site.id}-{period.label}.{out_format}"
    attachment = {"Content-Disposition": f'attachment; filename="{name}"'}
    if out_format == "json":
        return Answer(200, TYPES["json"], document.as_json(stats).encode(), attachment)
    if out_format == "csv":
        return Answer(200, TYPES["csv"], document.as_csv(stats).encode(), attachment)
    links = {label: _href(period, code, simulated) for code, label in LANGUAGE_NAMES.items()}
    later = period.following()
    periods = {f"← {words.text('earlier')}": _href(period.previous(), language, simulated)}
    if later.start_ms <= now_ms:  # nothing to show of a period not begun
        periods[f"{words.text('later')} →"] = _href(later, language, simulated)
    downloads = {
        kind.upper(): _href(period, language, simulated, format=kind)
        for kind in ("pdf", "csv", "json")
    }
    # Charts take a moment to draw: not on the event loop, which acknowledges readings.
    page = await asyncio.to_thread(
        document.html, stats, language, links=links, periods=periods, downloads=downloads
    )
    if out_format == "pdf":
        return Answer(
            200, TYPES["pdf"], await asyncio.to_thread(document.pdf_bytes, page), attachment
        )
    return Answer(200, TYPES["html"], page.encode())
