"""Notifications through apprise (Telegram, e-mail, Slack, Discord, ntfy, webhooks...).

Each channel has its own outbox and worker, so a slow or dead channel delays
neither ingestion nor the other channels. An outbox holds at most one message per
subject (an alert, whatever its news): a newer notification about it takes the
waiting one's place, so a flapping alert is one message with its latest state, and
an unsent "the alert holds" is kept ahead of later news that does not say so (an
all-clear, an acknowledgement). Subjects take turns, one message each a round, so
one alert's storm delays another's first message by one send at most; within a
round safety goes first, then normal, then info. The outbox is bounded: when it is
full, the least important waiting message is dropped (the oldest of them) and
counted by severity; safety only when everything waiting is safety. Each channel
sends at most `max_per_minute`, evenly spaced (Telegram allows a bot about 20 a
minute in a group), and outside safety stays silent in its quiet hours. Failed
deliveries are retried with backoff and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from firmware.core.backoff import Backoff
from makerwatch.core.opening_hours import parse_daily_span, within_daily_span
from makerwatch.core.site_config import Channel, Language, Severity

__all__ = ["Notification", "Notifier", "Route", "Sender", "apprise_route"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_FIRST_S = 2.0
DRAIN_S = 10.0  # at shutdown, time given to what still waits
OUTBOX_SIZE = 200  # messages waiting per channel, safety ones included
RANK = {Severity.SAFETY: 0, Severity.NORMAL: 1, Severity.INFO: 2}


# Notifications about the system itself (data lost at the broker), not a machine: every
# channel gets them, whatever rules it lists.
OPERATIONS = "operations"


@dataclass(frozen=True)
class Notification:
    rule: str
    title: str | Callable[[Language], str]  # one, or in a channel's language
    body: Callable[[Language], str]  # the text in a channel's language
    severity: Severity = Severity.NORMAL
    # Notifications with the same key replace each other while waiting (an alert's repeats).
    coalesce_key: str | None = None
    # The active alert it is about, where a channel can offer actions on it (chat buttons):
    # set while the alert holds (fired, repeated), which is what the outbox relies on.
    alert_id: str | None = None
    # The alert it is about, whatever its news (resolved and acknowledged too): all of one
    # alert's notifications wait as one message per channel.
    about: str | None = None
    # Called once a channel has delivered it (the alert service records that staff were
    # told, across restarts).
    delivered: Callable[[], None] | None = None

    @property
    def subject(self) -> str | None:
        """What it waits as one message with: its alert, else its coalesce key; None for a
        notification about nothing in particular, which waits on its own."""
        return self.about or self.alert_id or self.coalesce_key


# Delivers one notification in a language; True once delivered.
Sender = Callable[[Notification, Language], Awaitable[bool]]


@dataclass(frozen=True)
class Route:
    """Where notifications go and under what terms: an apprise channel or the staff chat."""

    name: str
    rules: list[str]  # rule names (the site file's)
    language: Language | None
    max_per_minute: float
    quiet_hours: str | None
    send: Sender


def apprise_route(channel: Channel) -> Route:
    import apprise  # a large library: loaded only for a site with channels

    target = apprise.Apprise()
    target.add(channel.url)  # checked when the site file was loaded

    async def send(note: Notification, language: Language) -> bool:
        title = note.title if isinstance(note.title, str) else note.title(language)
        return bool(await asyncio.to_thread(target.notify, body=note.body(language), title=title))

    return Route(channel.name, channel.rules, channel.language, channel.max_per_minute,
                 channel.quiet_hours, send)  # fmt: skip


class _Bucket:
    """Sends spaced evenly, `per_minute` a minute: a bucket of one token, so no burst
    (Telegram also asks for about one message a second in a chat at most)."""

    def __init__(self, per_minute: float) -> None:
        self._rate_per_s = per_minute / 60
        self._tokens = 1.0
        self._at = time.monotonic()

    def wait_s(self) -> float:
        """Take a token; returns how long to wait before using it (0 when one is free)."""
        now = time.monotonic()
        self._tokens = min(1.0, self._tokens + (now - self._at) * self._rate_per_s)
        self._at = now
        self._tokens -= 1  # may go below zero: the wait pays the debt back
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate_per_s


@dataclass
class _Waiting:
    """One message waiting on a channel: the latest notification about its subject and,
    when that one does not say the alert holds, the unsent one before it that did."""

    latest: Notification
    order: int  # when its subject began waiting: its place among equals
    held: Notification | None = None

    def update(self, note: Notification) -> None:
        """`note` is newer news of the same subject: the channel gets the latest state, and
        staff who were never told that the alert holds are still told."""
        if note.alert_id is not None:
            self.held = None  # the alert holds: the newest text says all of it
        elif self.latest.alert_id is not None:
            self.held = self.latest
        self.latest = note

    @property
    def severity(self) -> Severity:
        """That of the most important news it carries."""
        parts = (self.latest,) if self.held is None else (self.held, self.latest)
        return min((n.severity for n in parts), key=RANK.__getitem__)

    @property
    def rank(self) -> int:
        return RANK[self.severity]

    def message(self) -> Notification:
        held, latest = self.held, self.latest
        if held is None:
            return latest
        return dataclasses.replace(
            latest,
            body=lambda language: f"{held.body(language)}\n\n{latest.body(language)}",
            severity=self.severity,
            delivered=_both(held.delivered, latest.delivered),
        )


def _both(
    first: Callable[[], None] | None, second: Callable[[], None] | None
) -> Callable[[], None] | None:
    """Both callbacks, in turn (either may be missing)."""
    if first is None or second is None:
        return first or second

    def both() -> None:
        first()
        second()

    return both


class _Outbox:
    """One channel's waiting messages: one per subject, subjects in turn, bounded.

    Turns are rounds: a subject sent in round r may go again in round r + 1; the next
    message is the one of the earliest round, most important first, then the longest
    waiting. Messages without a subject share one turn between them.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._waiting: dict[int, _Waiting] = {}  # by order
        self._by_subject: dict[str, _Waiting] = {}
        self._order = itertools.count()
        self._round = 0
        # Subjects already sent this round, with the round they may go again. Forgotten
        # when the round moves past it, so this holds no more than the subjects of one round.
        self._next_round: dict[str | None, int] = {}
        self.ready = asyncio.Event()  # something waits
        self.idle = asyncio.Event()  # nothing waits and nothing is being sent
        self.idle.set()

    def put(self, note: Notification) -> tuple[Notification | None, bool]:
        """Queue `note`: returns the message dropped to make room, if any, and whether
        `note` was merged into the waiting message of its subject."""
        subject = note.subject
        if subject is not None and subject in self._by_subject:
            self._by_subject[subject].update(note)
            return None, True
        new = _Waiting(note, next(self._order))
        dropped = None
        if len(self._waiting) >= self._size:
            # The least important waiting one goes, the oldest of them.
            least = max(self._waiting.values(), key=lambda w: (w.rank, -w.order))
            if least.rank < new.rank:
                return note, False  # nothing waiting matters less than this one
            self._remove(least)
            dropped = least.message()
        self._waiting[new.order] = new
        if subject is not None:
            self._by_subject[subject] = new
        self.idle.clear()
        self.ready.set()
        return dropped, False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def waits_for(self, subject: str | None) -> bool:
        return subject is not None and subject in self._by_subject

    def take(self) -> Notification | None:
        if not self._waiting:
            self.ready.clear()
            return None
        turn = min(
            self._waiting.values(),
            key=lambda w: (self._round_of(w.latest.subject), w.rank, w.order),
        )
        self._remove(turn)
        self._round = self._round_of(turn.latest.subject)
        self._next_round = {s: r for s, r in self._next_round.items() if r > self._round}
        self._next_round[turn.latest.subject] = self._round + 1
        if not self._waiting:
            self.ready.clear()
        return turn.message()

    def _round_of(self, subject: str | None) -> int:
        return max(self._round, self._next_round.get(subject, 0))

    def _remove(self, waiting: _Waiting) -> None:
        del self._waiting[waiting.order]
        subject = waiting.latest.subject
        if subject is not None:
            del self._by_subject[subject]


class Notifier:
    def __init__(
        self,
        channels: Sequence[Channel | Route],
        default_language: Language,
        retry_first_s: float = RETRY_FIRST_S,
        timezone: str = "UTC",
        outbox_size: int = OUTBOX_SIZE,
    ) -> None:
        self._channels = [c if isinstance(c, Route) else apprise_route(c) for c in channels]
        self._language = default_language
        self.retry_first_s = retry_first_s
        self._zone = ZoneInfo(timezone)
        self._outbox_size = outbox_size
        self._outboxes = {c.name: _Outbox(outbox_size) for c in self._channels}
        self._tasks: list[asyncio.Task[None]] = []
        self.sent: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.quiet: Counter[str] = Counter()  # not sent: the channel's quiet hours
        self.coalesced: Counter[str] = Counter()  # merged into a waiting message of their alert
        self.dropped_by_severity: Counter[tuple[str, str]] = Counter()  # (channel, severity)

    def add(self, route: Route) -> None:
        """One more route (the staff chat), before start()."""
        self._channels.append(route)
        self._outboxes[route.name] = _Outbox(self._outbox_size)

    def start(self) -> None:
        for channel in self._channels:
            self._tasks.append(
                asyncio.create_task(self._worker(channel), name=f"notify-{channel.name}")
            )

    async def close(self, drain_s: float = DRAIN_S) -> None:
        """Send what waits (safety first) for up to `drain_s`, then stop."""
        with contextlib.suppress(TimeoutError):
            idle = [outbox.idle.wait() for outbox in self._outboxes.values()]
            await asyncio.wait_for(asyncio.gather(*idle), drain_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def send(self, notification: Notification) -> None:
        """Queue for every channel that wants this rule; never waits."""
        for channel in self._channels:
            if notification.rule != OPERATIONS and notification.rule not in channel.rules:
                continue
            outbox = self._outboxes[channel.name]
            # In quiet hours a waiting safety message still takes its alert's latest state.
            quiet = notification.severity is not Severity.SAFETY and self._quiet(channel)
            if quiet and not outbox.waits_for(notification.subject):
                self.quiet[channel.name] += 1
                continue
            dropped, merged = outbox.put(notification)
            self.coalesced[channel.name] += merged
            if dropped is not None:
                self.dropped[channel.name] += 1
                self.dropped_by_severity[(channel.name, dropped.severity.value)] += 1

    def waiting(self) -> dict[str, int]:
        """Messages waiting per channel (never more than the outbox size)."""
        return {name: outbox.waiting for name, outbox in self._outboxes.items()}

    def _quiet(self, channel: Route) -> bool:
        if channel.quiet_hours is None:
            return False
        now = datetime.now(self._zone).time()
        return within_daily_span(parse_daily_span(channel.quiet_hours), now)

    async def _worker(self, channel: Route) -> None:
        language = channel.language or self._language
        outbox = self._outboxes[channel.name]
        bucket = _Bucket(channel.max_per_minute)
        while True:
            await outbox.ready.wait()
            await asyncio.sleep(
                bucket.wait_s()
            )  # the channel's rate limit (0 when a token is free)
            note = outbox.take()
            if note is not None:
                await self._deliver(channel, note, language)
            if outbox.waiting == 0:
                outbox.idle.set()

    async def _deliver(self, channel: Route, note: Notification, language: Language) -> None:
        first_ms = round(self.retry_first_s * 1000)
        backoff = Backoff(first_ms=first_ms, max_ms=first_ms << MAX_ATTEMPTS)  # never capped
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                delivered = await channel.send(note, language)
            except Exception as exc:  # a channel's fault is its own: logged, retried
                log.warning("channel %s: %s: %s", channel.name, type(exc).__name__, exc)
                delivered = False
            if delivered:
                self.sent[channel.name] += 1
                if note.delivered is not None:
                    note.delivered()
                return
            if attempt == MAX_ATTEMPTS:
                self.failed[channel.name] += 1
                log.error("channel %s: gave up after %d attempts: %s",
                          channel.name, attempt, note.body(language)[:200])  # fmt: skip
                return
            self.retried[channel.name] += 1
            delay = backoff.next_s()
            log.warning("channel %s: delivery failed (attempt %d), retrying in %.0f s",
                        channel.name, attempt, delay)  # fmt: skip
            await asyncio.sleep(delay)  # backoff between delivery attempts
