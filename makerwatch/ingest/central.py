"""Central ingest: a network's readings, bridged from each site's broker, in one database.

Each site runs its own stack, so its alerts keep working while its internet link is
down; its broker bridges the boards' topics to the central broker, queueing them
while the link is down (docs/scaling.md). Central ingest subscribes to the board
topics of its sites, decodes each message with its own site's file and stores it
with a site ingest's guarantees (acknowledged after the write or the fsynced spool,
the same window, the same dead-letter reasons), with the usage sessions and daily
energy rollups the network's figures read. It runs no alert rules: each site's own
ingest does, once.

Several central processes split the sites between them (`sites`): each has its own
persistent session and subscribes to its sites' topics only, so all of a device's
messages reach one process, in order. MQTT v5 shared subscriptions would spread one
device's messages over the processes, and states and sessions need them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from makerwatch.core.network import Network
from makerwatch.core.points import Point
from makerwatch.core.protocol import BROKER_DROPPED_TOPIC, board_kinds
from makerwatch.ingest.broker_watch import BrokerDrops
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.dead_letters import DeadLetters
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.rollups import Rollups
from makerwatch.ingest.sessions import SessionRecorder
from makerwatch.ingest.source import Ack, MqttSource
from makerwatch.ingest.spool import Spool
from makerwatch.ingest.supervised import supervised
from makerwatch.ingest.writer import BatchWriter

__all__ = ["CentralIngest", "site_subscriptions"]

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 10.0


def site_subscriptions(site_ids: Sequence[str]) -> list[str]:
    """The board topics of these sites, and nothing of the others'."""
    return [kind.topic(site, "+") for site in site_ids for kind in board_kinds()]


class CentralIngest:
    def __init__(self, network: Network, *, clock: Callable[[], float] = time.time) -> None:
        self.network = network
        self.counters = IngestCounters()
        self._clock = clock
        # The stamps of readings without ts are kept in central ingest's spool folder.
        spool = {"spool_dir": network.central.ingest.spool_dir}
        self._decoders = {
            site.site.id: Decoder(
                site.model_copy(update={"ingest": site.ingest.model_copy(update=spool)}), clock
            )
            for site in network.sites
        }
        self.broker_drops = BrokerDrops()
        central = network.central
        subscriptions = [*site_subscriptions(list(self._decoders)), BROKER_DROPPED_TOPIC]
        self.source = MqttSource(central.mqtt, subscriptions, self._route, self.counters)
        self.subscribed = self.source.subscribed

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then write what is held, acknowledge it and return."""
        central = self.network.central
        async with InfluxClient(central.influxdb) as influx:
            with contextlib.suppress(Exception):
                await influx.ensure_database()  # if InfluxDB is away, writes spool or wait
            sessions = {s.site.id: SessionRecorder(s, influx, self.counters) for s in self.network.sites}  # fmt: skip
            rollups = {s.site.id: Rollups(s, influx, self._clock) for s in self.network.sites}
            for recorder in sessions.values():
                await recorder.resume()

            async def written(points: list[Point]) -> None:
                for site, of_site in _by_site(points).items():
                    if site in sessions:
                        await sessions[site].written(of_site)
                        await rollups[site].written(of_site)

            async def drained() -> None:
                for site in sessions:
                    await sessions[site].resume()
                    rollups[site].mark_recent()

            settings = central.ingest
            spool = Spool(Path(settings.spool_dir), settings.spool_max_bytes) if settings.spool_dir else None  # fmt: skip
            self._dead_letters = DeadLetters(self.source, self.counters, self._clock)
            writer = self._writer = BatchWriter(
                influx, settings, self.counters, self._dead_letters, written, spool, drained
            )
            self.source.window_full = writer.flush_soon
            background = [asyncio.create_task(writer.run())]
            background += [
                asyncio.create_task(supervised(f"rollups of {site}", r.run))
                for site, r in rollups.items()
            ]
            if spool is not None:
                background.append(
                    asyncio.create_task(supervised("spool replay", writer.replay_forever))
                )
            try:
                await self.source.run(stop, writer.flush_before_leaving)
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                for rollup in rollups.values():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(rollup.flush(), DRAIN_TIMEOUT_S)

    async def _route(self, topic: str, payload: bytes, retained: bool, ack: Ack) -> None:
        if topic == BROKER_DROPPED_TOPIC:
            dropped = self.broker_drops.observe(payload)
            if dropped > 0:
                log.error("the central broker dropped %d messages (a queue was full)", dropped)
            ack()
            return
        self.counters.messages_received += 1
        points: list[Point] = []
        levels = topic.split("/")
        site = levels[1] if len(levels) > 1 else ""
        decoder = self._decoders.get(site) or next(iter(self._decoders.values()))
        try:  # another site's topic: unknown_site
            points = (await self._dead_letters.decoded(decoder, topic, payload, retained)).points
        except Exception as exc:  # a fault of ours, shown by this message: never a crash loop
            await self._dead_letters.internal_error(topic, payload, exc)
        await self._writer.submit(topic, payload, points, ack)

    @property
    def unacknowledged(self) -> int:
        return self._writer.unacknowledged


def _by_site(points: list[Point]) -> dict[str, list[Point]]:
    grouped: dict[str, list[Point]] = {}
    for point in points:
        grouped.setdefault(point.tags.get("site", ""), []).append(point)
    return grouped
