"""Each board's access list, kept current by ingest (docs/members.md, "Training").

Ingest publishes every device's `AccessList`, retained, to its own `.../access` topic
when it connects, and again within POLL_S of any change: `makerwatch members` writes
the SQLite file from another process, and SQLite's data_version (the store's
`changes()`) moves when it does, so ingest notices without a file watcher, a broker
login for the command line, or a message lost while ingest was away (a change made
while ingest is stopped is published when it starts). Training that runs out changes
the lists at that moment too. Only lists that differ from the last one sent go out.

A device in the `enforce` mode whose blocking maintenance task is overdue gets a list
with `locked_reason` set (its board then unlocks for staff cards only); `locked` says
why, and is looked at on every poll, so a task falling due by the clock, counted from a
backfill or recorded done reaches the board within POLL_S of the tracker knowing it.
Until `ready` (the tracker has counted from InfluxDB) no list goes out: a list sent
before would unlock a machine that is still due.

It also watches taps: an unknown card tapped where an enrolment waits becomes that
member's (the staff page's "enrol"), which is one more change to publish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from makerwatch.core.points import Point
from makerwatch.core.ports import Publisher
from makerwatch.core.protocol import (
    MAX_ACCESS_KEYS,
    TAP_MEASUREMENT,
    AccessList,
    AccessMode,
    TapResult,
    message_kind,
)
from makerwatch.core.site_config import SiteConfig
from makerwatch.members.store import MembersStore

__all__ = ["POLL_S", "AccessLists"]

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the store's change counter and the next expiry are looked at
REASON_CHARS = 64  # AccessList.locked_reason's limit: a board shows it on one line

Locked = Callable[[str, int], "str | None"]  # (device, now_ms) -> why it is locked, or None
_ACCESS = message_kind("access")


class AccessLists:
    def __init__(
        self,
        config: SiteConfig,
        store: MembersStore,
        publisher: Publisher,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._sent: dict[str, tuple[object, ...]] = {}  # device -> what its last list said
        self._seen_changes: int | None = None
        self._next_expiry_ms: int | None = None
        self._looked_ms: int | None = None  # the wall time the lists were last made at
        self.published = 0  # lists sent (a counter for tests and /metrics)
        # Set by the composition root to the maintenance tracker's, for a site with tasks.
        self.locked: Locked = lambda device, now_ms: None
        self.ready: Callable[[], bool] = lambda: True
        self._locks_sent: dict[str, str | None] = {}

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def connected(self) -> None:
        """The broker may have lost retained messages: send every list again."""
        self._sent.clear()
        self._seen_changes = None

    async def changed(self, device: str) -> None:
        """The maintenance tracker's `on_change`: look again at the next poll (a task
        falling due by the clock alone is seen there too)."""
        self._seen_changes = None

    def lists(self, now_ms: int) -> dict[str, AccessList]:
        """Every device's list as it is now."""
        lists, locks = {}, self._locks(now_ms)
        for device in self._config.devices:
            members: list[str] = []
            staff: list[str] = []
            if device.access != AccessMode.OFF:
                members, staff = self._store.allowed(device.id, device.kind.value, now_ms)
                staff = staff[:MAX_ACCESS_KEYS]
                members = self._fitted(device.id, members, staff)
            lists[device.id] = AccessList(
                v=1, mode=device.access, members=members, staff=staff,
                locked_reason=locks.get(device.id), updated_ms=now_ms,
            )  # fmt: skip
        return lists

    def _locks(self, now_ms: int) -> dict[str, str | None]:
        """Why each `enforce` device is locked now (None: it is not)."""
        return {
            device.id: _one_line(self.locked(device.id, now_ms))
            for device in self._config.devices
            if device.access == AccessMode.ENFORCE
        }

    @staticmethod
    def _fitted(device: str, members: list[str], staff: list[str]) -> list[str]:
        """Members that fit beside the staff in what a board can hold; staff always."""
        room = max(MAX_ACCESS_KEYS - len(staff), 0)
        if len(members) > room:
            log.error(
                "%s: %d members are trained on it, a board holds %d keys: %d left out",
                device, len(members), MAX_ACCESS_KEYS, len(members) - room,
            )  # fmt: skip
        return members[:room]

    async def publish_changed(self) -> None:
        now_ms = self._looked_ms = self._now_ms()
        self._seen_changes = self._store.changes()
        self._next_expiry_ms = self._store.next_expiry_ms(now_ms)
        self._locks_sent = self._locks(now_ms)
        for device_id, access in self.lists(now_ms).items():
            said = (access.mode, tuple(access.members), tuple(access.staff), access.locked_reason)
            if self._sent.get(device_id) == said:
                continue
            topic = _ACCESS.topic(self._config.site.id, device_id)
            await self._publisher.publish(topic, access.model_dump_json(), retain=True)
            self._sent[device_id] = said
            self.published += 1

    def _due(self) -> bool:
        if self._seen_changes is None or self._store.changes() != self._seen_changes:
            return True
        now_ms = self._now_ms()
        if self._looked_ms is not None and now_ms < self._looked_ms:
            return True  # the clock stepped back: training a wrong step forward ended holds
        if self._locks(now_ms) != self._locks_sent:
            return True  # a blocking task fell due or was done
        return self._next_expiry_ms is not None and now_ms >= self._next_expiry_ms

    async def run(self, connected: asyncio.Event) -> None:
        """Publish changed lists until cancelled (only while ingest is connected)."""
        while True:
            await connected.wait()
            if self.ready() and self._due():
                await self.publish_changed()
            await asyncio.sleep(POLL_S)  # the poll interval: "within seconds" of a change

    async def observe(self, points: list[Point]) -> None:
        """Points just stored: a refused tap may be the card an enrolment waits for, else
        it is told apart as a member's card or one nobody has."""
        for point in points:
            if point.measurement != TAP_MEASUREMENT:
                continue
            if point.fields.get("result") != TapResult.REFUSED.value:
                continue  # a card the board allowed is known already
            device, key = point.tags.get("device", ""), str(point.fields.get("key", ""))
            member = self._store.tapped(device, key, self._now_ms())
            if member is not None:
                log.info("a new card at %s is now member %d's", device, member)
                self._seen_changes = None  # our own write: data_version does not move for it
            else:
                self._refused(device, key)

    def _refused(self, device: str, key: str) -> None:
        """Say whose card was refused: staff answer "not trained" and "not a member's card"
        differently (train the member, or enrol the card). By number, never by name."""
        member = self._store.member_of(key)
        if member is None:
            log.info("%s refused a card no member has (enrol it from the staff page)", device)
        else:
            log.info("%s refused member %d's card: not trained on it (or it is locked)",
                     device, member)  # fmt: skip


def _one_line(reason: str | None) -> str | None:
    if reason is None:
        return None
    return " ".join(reason.split())[:REASON_CHARS] or None
