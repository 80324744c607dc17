"""Notifications through apprise (Telegram, e-mail, Slack, Discord, ntfy, webhooks...).

Each channel has its own queue and worker, so a slow or dead channel delays
neither ingestion nor the other channels. Failed deliveries are retried with
backoff and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import apprise

from makerwatch.core.site_config import Channel, Language

__all__ = ["Notification", "Notifier"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_FIRST_S = 2.0
QUEUE_SIZE = 1000  # per channel; when full, the oldest waiting notification is dropped


@dataclass(frozen=True)
class Notification:
    rule: str
    title: str
    body: Callable[[Language], str]  # the text in a channel's language


class Notifier:
    def __init__(
        self,
        channels: list[Channel],
        default_language: Language,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        self._channels = channels
        self._language = default_language
        self._retry_first_s = retry_first_s
        self._queues = {c.name: asyncio.Queue[Notification](QUEUE_SIZE) for c in channels}
        self._tasks: list[asyncio.Task[None]] = []
        self.sent: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    def start(self) -> None:
        for channel in self._channels:
            self._tasks.append(
                asyncio.create_task(self._worker(channel), name=f"notify-{channel.name}")
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def send(self, notification: Notification) -> None:
        """Queue for every channel that wants this rule; never waits."""
        for channel in self._channels:
            if notification.rule not in channel.rules:
                continue
            queue = self._queues[channel.name]
            if queue.full():
                queue.get_nowait()
                self.dropped[channel.name] += 1
            queue.put_nowait(notification)

    async def _worker(self, channel: Channel) -> None:
        target = apprise.Apprise()
        target.add(channel.url)  # checked when the site file was loaded
        language = channel.language or self._language
        queue = self._queues[channel.name]
        while True:
            note = await queue.get()
            body = note.body(language)
            delay = self._retry_first_s
            for attempt in range(1, MAX_ATTEMPTS + 1):
                delivered = await asyncio.to_thread(target.notify, body=body, title=note.title)
                if delivered:
                    self.sent[channel.name] += 1
                    break
                if attempt == MAX_ATTEMPTS:
                    self.failed[channel.name] += 1
                    log.error(
                        "channel %s: gave up after %d attempts: %s",
                        channel.name,
                        attempt,
                        body[:200],
                    )
                    break
                self.retried[channel.name] += 1
                log.warning(
                    "channel %s: delivery failed (attempt %d), retrying in %.0f s",
                    channel.name,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)  # backoff between delivery attempts
                delay *= 2
