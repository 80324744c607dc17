"""The previous month's report, sent to each sponsor of the site file in their language
as a PDF attachment: by e-mail through the site's SMTP server, and/or as a document in
a Telegram chat through the site's bot (the staff chat's). The service sends on the
first day of each month (`MonthlySchedule`; on the next days of the first week if it was
not running on the 1st); `makerwatch report --send` by hand.

Each delivery the service makes is stored in InfluxDB (`sponsor_report`: the site, the
month, the sponsor and where it went), so a restart neither sends a month again to
whoever has it nor forgets whoever does not.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from makerwatch.core.errors import UnreachableError
from makerwatch.core.points import Point
from makerwatch.core.ports import PointSink
from makerwatch.core.site_config import SiteConfig, SmtpSettings, Sponsor, TelegramBot
from makerwatch.core.statistics import Query, Statistics, quoted, statistics
from makerwatch.report import document
from makerwatch.report.texts import Words

__all__ = [
    "SENT_MEASUREMENT",
    "MonthlySchedule",
    "deliver",
    "previous_month",
    "run_monthly",
    "send_due_month",
    "send_month",
    "sent_already",
]

log = logging.getLogger(__name__)

# One point per delivery the service made: tags site, month, sponsor, to (email or chat).
SENT_MEASUREMENT = "sponsor_report"
# A month's report is sent on its 1st, or on the next days of the first week when the
# service was not running (or the mail server was away) all of the 1st.
CATCH_UP_DAYS = 7
# (sponsor's name, "email" or "chat"): one delivery.
Delivery = tuple[str, str]
Delivered = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True)
class Letter:
    """One sponsor's report: the PDF and the words around it, in their language."""

    sponsor: Sponsor
    subject: str
    body: str
    file_name: str
    pdf: bytes


def previous_month(today: date) -> str:
    return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"


def letter(stats: Statistics, sponsor: Sponsor) -> Letter:
    words = Words(sponsor.language)
    name = document.report_name(stats, sponsor.language, None)
    period = document.period_label(stats, words)
    page = document.html(stats, sponsor.language)
    site = stats.sites[0].config.site.id
    return Letter(
        sponsor,
        words.text("mail_subject", name=name, period=period),
        words.text("mail_body", name=name, period=period),
        f"makerwatch-{site}-{stats.period_label}-{sponsor.language}.pdf",
        document.pdf_bytes(page),
    )


def _email(smtp: SmtpSettings, one: Letter) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(one.sponsor.emails)
    message["Subject"] = one.subject
    message.set_content(one.body)
    message.add_attachment(one.pdf, maintype="application", subtype="pdf", filename=one.file_name)
    connect = smtplib.SMTP_SSL if smtp.security == "tls" else smtplib.SMTP
    try:
        with connect(smtp.host, smtp.port, timeout=smtp.timeout_s) as server:
            if smtp.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise UnreachableError(f"cannot send mail through {smtp.host}:{smtp.port}: {exc}") from exc


async def _chat(bot: TelegramBot, chat: int, one: Letter) -> None:
    from telegram import Bot
    from telegram.error import TelegramError

    api = Bot(bot.token, base_url=f"{bot.api_url.rstrip('/')}/bot")
    try:
        async with api:
            await api.send_document(
                chat, one.pdf, filename=one.file_name, caption=one.subject[:1024]
            )
    except TelegramError as exc:
        raise UnreachableError(f"cannot send the report to chat {chat}: {exc}") from exc


def deliveries(config: SiteConfig) -> list[Delivery]:
    """Every delivery the site file asks for: each sponsor's e-mail and chat."""
    wanted = []
    for sponsor in config.sponsors:
        if sponsor.emails and config.smtp is not None:
            wanted.append((sponsor.name, "email"))
        if sponsor.chat is not None and config.alerts.telegram is not None:
            wanted.append((sponsor.name, "chat"))
    return wanted


async def _send(config: SiteConfig, one: Letter, to: str) -> str:
    sponsor = one.sponsor
    if to == "email":
        assert config.smtp is not None
        await asyncio.to_thread(_email, config.smtp, one)
        return f"{sponsor.name}: {one.file_name} to {', '.join(sponsor.emails)}"
    assert config.alerts.telegram is not None
    assert sponsor.chat is not None
    await _chat(config.alerts.telegram, sponsor.chat, one)
    return f"{sponsor.name}: {one.file_name} to chat {sponsor.chat}"


async def deliver(
    config: SiteConfig,
    stats: Statistics,
    done: frozenset[Delivery] = frozenset(),
    delivered: Delivered | None = None,
) -> list[str]:
    """Send the report to every sponsor but for the deliveries `done`; one line per
    delivery, saying where it went; `delivered` is told of each once it has gone."""
    lines = []
    sponsors = {sponsor.name: sponsor for sponsor in config.sponsors}
    letters: dict[str, Letter] = {}
    for name, to in deliveries(config):
        if (name, to) in done:
            continue
        if name not in letters:
            letters[name] = await asyncio.to_thread(letter, stats, sponsors[name])
        lines.append(await _send(config, letters[name], to))
        if delivered is not None:
            await delivered((name, to))
    return lines


async def sent_already(query: Query, site: str, month: str) -> frozenset[Delivery]:
    """The deliveries of the month's report the service has made (stored in InfluxDB)."""
    series = await query(
        f'SELECT last("sent") FROM "{SENT_MEASUREMENT}" WHERE "site" = {quoted(site)} '
        f'AND "month" = {quoted(month)} GROUP BY "sponsor", "to"'
    )
    return frozenset((s["tags"]["sponsor"], s["tags"]["to"]) for s in series)


async def send_month(config: SiteConfig, query: Query, month: str, now_ms: int) -> list[str]:
    """The month's report (real data only) to each sponsor of the site."""
    stats = await statistics(query, [config], month, now_ms)
    return await deliver(config, stats)


class MonthlySchedule:
    """Due once a month, from its first day in the site's time zone, with the month before
    it: `due()` answers that month the first time it is asked in the month's first week
    (what was sent already is stored, see `sent_already`), then None until the next
    month. The clock is injected (seconds since the epoch)."""

    def __init__(self, zone: str, clock: Callable[[], float]) -> None:
        self._zone = ZoneInfo(zone)
        self._clock = clock
        self._sent: str | None = None

    def due(self) -> str | None:
        today = datetime.fromtimestamp(self._clock(), UTC).astimezone(self._zone).date()
        month = previous_month(today)
        if today.day > CATCH_UP_DAYS or month == self._sent:
            return None
        self._sent = month
        return month

    def failed(self, month: str) -> None:
        """The month's delivery did not go through: due again at the next look."""
        if self._sent == month:
            self._sent = None


CHECK_EVERY_S = 600.0


async def run_monthly(
    config: SiteConfig, query: Query, sink: PointSink, clock: Callable[[], float]
) -> None:
    """The service's side: from each month's first day, the month before to every sponsor
    who has not had it (retried every 10 minutes while the mail server or InfluxDB is away)."""
    schedule = MonthlySchedule(config.site.timezone, clock)
    while True:
        if (month := schedule.due()) is not None:
            try:
                await send_due_month(config, query, sink, month, clock)
            except UnreachableError as exc:
                schedule.failed(month)
                log.warning("sponsor reports for %s not sent yet: %s", month, exc)
        await asyncio.sleep(CHECK_EVERY_S)


async def send_due_month(
    config: SiteConfig, query: Query, sink: PointSink, month: str, clock: Callable[[], float]
) -> None:
    """The month's report to each sponsor who has not had it from the service (in
    InfluxDB, `sent_already`); each delivery is stored in `sink` as it goes."""
    done = await sent_already(query, config.site.id, month)
    if set(deliveries(config)) <= done:
        return  # sent before a restart

    async def remember(delivery: Delivery) -> None:
        sponsor, to = delivery
        tags = {"site": config.site.id, "month": month, "sponsor": sponsor, "to": to}
        await sink.store([Point(SENT_MEASUREMENT, tags, {"sent": True}, int(clock() * 1000))])

    stats = await statistics(query, [config], month, int(clock() * 1000))
    for line in await deliver(config, stats, done, remember):
        log.info("sponsor report sent: %s", line)
