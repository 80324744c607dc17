"""Notifications through apprise (Telegram, e-mail, Slack, Discord, ntfy, webhooks...).

Each channel has its own outbox and worker, so a slow or dead channel delays
neither ingestion nor the other channels. The outbox is ordered by severity: a
safety notification (a soldering station left on) goes out before anything else
waiting and is never dropped; when the outbox is full, the least important waiting
notification is dropped and counted. A newer repeat of an alert replaces its
older repeat still waiting, so a backlog never turns into a burst of repeats. Each
channel sends at most `max_per_minute`, evenly spaced (Telegram allows a bot about
20 a minute in a group), and outside safety stays silent in its quiet hours.
Failed deliveries are retried with backoff and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import apprise

from makerwatch.core.opening_hours import parse_daily_span, within_daily_span
from makerwatch.core.site_config import Channel, Language, RuleName, Severity

__all__ = ["Notification", "Notifier", "Route", "Sender", "apprise_route"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_FIRST_S = 2.0
DRAIN_S = 10.0  # at shutdown, time given to what still waits
OUTBOX_SIZE = 200  # per channel, not counting safety notifications, which always wait
RANK = {Severity.SAFETY: 0, Severity.NORMAL: 1, Severity.INFO: 2}


# Notifications about the system itself (data lost at the broker), not a machine: every
# channel gets them, whatever rules it lists.
OPERATIONS = "operations"


@dataclass(frozen=True)
class Notification:
    rule: str
    title: str
    body: Callable[[Language], str]  # the text in a channel's language
    severity: Severity = Severity.NORMAL
    # Notifications with the same key replace each other while waiting (an alert's repeats).
    coalesce_key: str | None = None
    # The active alert it is about, where a channel can offer actions on it (chat buttons).
    alert_id: str | None = None


# Delivers one notification in a language; True once delivered.
Sender = Callable[[Notification, Language], Awaitable[bool]]


@dataclass(frozen=True)
class Route:
    """Where notifications go and under what terms: an apprise channel or the staff chat."""

    name: str
    rules: list[RuleName]
    language: Language | None
    max_per_minute: float
    quiet_hours: str | None
    send: Sender


def apprise_route(channel: Channel) -> Route:
    target = apprise.Apprise()
    target.add(channel.url)  # checked when the site file was loaded

    async def send(note: Notification, language: Language) -> bool:
        return bool(
            await asyncio.to_thread(target.notify, body=note.body(language), title=note.title)
        )

    return Route(channel.name, channel.rules, channel.language, channel.max_per_minute,
                 channel.quiet_hours, send)  # fmt: skip


@dataclass(order=True)
class _Waiting:
    rank: int
    order: int
    note: Notification = field(compare=False)


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


class _Outbox:
    """One channel's waiting notifications, most important first, bounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._heap: list[_Waiting] = []
        self._by_key: dict[str, _Waiting] = {}
        self._order = itertools.count()
        self.ready = asyncio.Event()  # something waits
        self.idle = asyncio.Event()  # nothing waits and nothing is being sent
        self.idle.set()

    def put(self, note: Notification) -> Notification | None:
        """Queue `note`; returns the notification dropped to make room, if any."""
        if note.coalesce_key is not None and note.coalesce_key in self._by_key:
            self._by_key[note.coalesce_key].note = note  # the newer text, in the older's place
            return None
        waiting = _Waiting(RANK[note.severity], next(self._order), note)
        dropped = None
        if note.severity is not Severity.SAFETY and len(self._heap) >= self._size:
            # The least important waiting one goes, the oldest of them; safety never does.
            droppable = [w for w in self._heap if w.note.severity is not Severity.SAFETY]
            least = max(droppable, key=lambda w: (w.rank, -w.order), default=None)
            if least is None or least.rank < waiting.rank:
                return note  # nothing waiting matters less than this one
            self._heap.remove(least)  # the heap is bounded, so this stays cheap
            heapq.heapify(self._heap)
            self._forget(least)
            dropped = least.note
        heapq.heappush(self._heap, waiting)
        self.idle.clear()
        if note.coalesce_key is not None:
            self._by_key[note.coalesce_key] = waiting
        self.ready.set()
        return dropped

    @property
    def waiting(self) -> int:
        return len(self._heap)

    def take(self) -> Notification | None:
        if not self._heap:
            self.ready.clear()
            return None
        waiting = heapq.heappop(self._heap)
        self._forget(waiting)
        if not self._heap:
            self.ready.clear()
        return waiting.note

    def _forget(self, waiting: _Waiting) -> None:
        if waiting.note.coalesce_key is not None:
            self._by_key.pop(waiting.note.coalesce_key, None)


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
        self._retry_first_s = retry_first_s
        self._zone = ZoneInfo(timezone)
        self._outbox_size = outbox_size
        self._outboxes = {c.name: _Outbox(outbox_size) for c in self._channels}
        self._tasks: list[asyncio.Task[None]] = []
        self.sent: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.quiet: Counter[str] = Counter()  # not sent: the channel's quiet hours
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
            if notification.severity is not Severity.SAFETY and self._quiet(channel):
                self.quiet[channel.name] += 1
                continue
            dropped = self._outboxes[channel.name].put(notification)
            if dropped is not None:
                self.dropped[channel.name] += 1
                self.dropped_by_severity[(channel.name, dropped.severity.value)] += 1

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
        delay = self._retry_first_s
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                delivered = await channel.send(note, language)
            except Exception as exc:  # a channel's fault is its own: logged, retried
                log.warning("channel %s: %s: %s", channel.name, type(exc).__name__, exc)
                delivered = False
            if delivered:
                self.sent[channel.name] += 1
                return
            if attempt == MAX_ATTEMPTS:
                self.failed[channel.name] += 1
                log.error("channel %s: gave up after %d attempts: %s",
                          channel.name, attempt, note.body(language)[:200])  # fmt: skip
                return
            self.retried[channel.name] += 1
            log.warning("channel %s: delivery failed (attempt %d), retrying in %.0f s",
                        channel.name, attempt, delay)  # fmt: skip
            await asyncio.sleep(delay)  # backoff between delivery attempts
            delay *= 2
