"""The previous month's report, sent to each sponsor of the site file in their language
as a PDF attachment: by e-mail through the site's SMTP server, and/or as a document in
a Telegram chat through the site's bot (the staff chat's). The service sends on the
first day of each month (`MonthlySchedule`); `makerwatch report --send` by hand.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from makerwatch.core.errors import UnreachableError
from makerwatch.core.site_config import SiteConfig, SmtpSettings, Sponsor, TelegramBot
from makerwatch.core.statistics import Query, Statistics, statistics
from makerwatch.report import document
from makerwatch.report.texts import Words

__all__ = ["MonthlySchedule", "deliver", "previous_month", "run_monthly", "send_month"]

log = logging.getLogger(__name__)


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


async def deliver(config: SiteConfig, stats: Statistics) -> list[str]:
    """Send the report to every sponsor; one line per delivery, saying where it went."""
    done = []
    for sponsor in config.sponsors:
        one = await asyncio.to_thread(letter, stats, sponsor)
        if sponsor.emails and config.smtp is not None:
            await asyncio.to_thread(_email, config.smtp, one)
            done.append(f"{sponsor.name}: {one.file_name} to {', '.join(sponsor.emails)}")
        if sponsor.chat is not None and config.alerts.telegram is not None:
            await _chat(config.alerts.telegram, sponsor.chat, one)
            done.append(f"{sponsor.name}: {one.file_name} to chat {sponsor.chat}")
    return done


async def send_month(config: SiteConfig, query: Query, month: str, now_ms: int) -> list[str]:
    """The month's report (real data only) to each sponsor of the site."""
    stats = await statistics(query, [config], month, now_ms)
    return await deliver(config, stats)


class MonthlySchedule:
    """Due once a month, on its first day in the site's time zone, with the month before
    it: `due()` answers that month the first time it is asked on that day, then None
    until the next month's first day. The clock is injected (seconds since the epoch)."""

    def __init__(self, zone: str, clock: Callable[[], float]) -> None:
        self._zone = ZoneInfo(zone)
        self._clock = clock
        self._sent: str | None = None

    def due(self) -> str | None:
        today = datetime.fromtimestamp(self._clock(), UTC).astimezone(self._zone).date()
        month = previous_month(today)
        if today.day != 1 or month == self._sent:
            return None
        self._sent = month
        return month

    def failed(self, month: str) -> None:
        """The month's delivery did not go through: due again at the next look."""
        if self._sent == month:
            self._sent = None


CHECK_EVERY_S = 600.0


async def run_monthly(config: SiteConfig, query: Query, clock: Callable[[], float]) -> None:
    """The service's side: on each month's first day, the month before to every sponsor
    (retried every 10 minutes that day while the mail server or InfluxDB is away)."""
    schedule = MonthlySchedule(config.site.timezone, clock)
    while True:
        if (month := schedule.due()) is not None:
            try:
                for line in await send_month(config, query, month, int(clock() * 1000)):
                    log.info("sponsor report sent: %s", line)
            except UnreachableError as exc:
                schedule.failed(month)
                log.warning("sponsor reports for %s not sent yet: %s", month, exc)
        await asyncio.sleep(CHECK_EVERY_S)
