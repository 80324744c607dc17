"""One ingest pipeline, for a site's ingest (app.py) and central ingest (central.py):

    MqttSource -> Router -> $SYS drops     -> told, acknowledged
                         -> a family of its own (a site's alert topics) -> acknowledged in turn
                         -> device topics  -> Decoder -> BatchWriter (-> Spool) -> InfluxDB
                                                  \\-> dead letters    \\-> sessions, rollups
                                              then each observer (the floor, the alert engine)

The router sends each message to one handler, once, by its topic family. What a
composition adds (the alert topics, observers of the stored points, tasks of its own)
it adds before `storing()` opens; everything else is here, written once.

Observers are told the points of the board messages that arrived together at once,
after they are handed to the writer and before any message of another family is
handled, so each sees every point in arrival order at a call per read, not per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from makerwatch.core.points import Point
from makerwatch.core.protocol import BROKER_DROPPED_TOPIC
from makerwatch.core.site_config import InfluxSettings, IngestSettings, MqttSettings, SiteConfig
from makerwatch.ingest.broker_watch import BrokerDrops
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.dead_letters import DeadLetters, MessageDecoder
from makerwatch.ingest.decode import Decoded
from makerwatch.ingest.errors import DecodeError, SinkError
from makerwatch.ingest.influx import InfluxClient, MissingDatabaseError
from makerwatch.ingest.rollups import Rollups
from makerwatch.ingest.sessions import SessionRecorder
from makerwatch.ingest.source import Ack, MqttSource
from makerwatch.ingest.spool import Spool
from makerwatch.ingest.supervised import supervised
from makerwatch.ingest.writer import BatchWriter

__all__ = ["Observer", "Observers", "Pipeline", "Stores", "TopicHandler", "cancel_all"]

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 10.0

# A family's handler for a message that carries nothing to store (the alert topics).
TopicHandler = Callable[[str, bytes, bool], Awaitable[object]]
# Told the points of the board messages that arrived together, once handed to the writer.
Observer = Callable[[list[Point]], Awaitable[None]]


class Observers:
    """Who is told the points of the board messages, and what they were not told yet:
    those that arrived together, in one call each, once handed to the writer."""

    def __init__(self) -> None:
        self._named: list[tuple[str, Observer]] = []
        self._unobserved: list[Point] = []
        self._untold: tuple[int, list[Point]] | None = None  # (first observer, points) at a stop

    def add(self, name: str, observer: Observer) -> None:
        self._named.append((name, observer))

    def handed_on(self, points: list[Point]) -> None:
        self._unobserved += points

    async def tell(self) -> None:
        """Tell each observer the points handed on since it was last told. Stopped
        while telling (cancelled), the observers not yet told are told first next time."""
        if self._untold is not None:
            (first, points), self._untold = self._untold, None
            await self._tell(points, first)
        points, self._unobserved = self._unobserved, []
        if points:
            await self._tell(points, 0)

    async def _tell(self, points: list[Point], first: int) -> None:
        for index in range(first, len(self._named)):
            name, observer = self._named[index]
            try:
                await observer(points)
            except asyncio.CancelledError:
                self._untold = (index + 1, points)
                raise
            except Exception:  # a fault in an observer must never stop ingestion
                log.exception("%s failed on %d points", name, len(points))


@dataclass
class Stores:
    """What `Pipeline.storing()` opened: the database, the writer, the spool."""

    influx: InfluxClient
    writer: BatchWriter
    spool: Spool | None
    replay: asyncio.Task[None] | None = None  # the spool's replay, while there is one
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Pipeline:
    """The MQTT source, the router and the stores of one ingest process, for `sites`
    (one for a site's ingest, each of a network's for central ingest)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        settings: IngestSettings,
        influxdb: InfluxSettings,
        decoders: Mapping[str, MessageDecoder],
        sites: Sequence[SiteConfig],
        subscriptions: Sequence[str],
        clock: Callable[[], float],
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.counters = IngestCounters()
        self.broker_drops = BrokerDrops()
        self._settings, self._influxdb, self._clock = settings, influxdb, clock
        self.decoders = decoders
        self._sites = sites
        self.observers = Observers()
        self.source = MqttSource(
            mqtt, [*subscriptions, BROKER_DROPPED_TOPIC], self._route, self.counters, on_connected,
            handed_on=self.observers.tell,
        )  # fmt: skip
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = self.source.subscribed
        self.dead_letters = DeadLetters(self.source, self.counters, clock)
        self._families: list[tuple[Callable[[str], bool], TopicHandler]] = []
        # A site's ingest has one decoder; central ingest one a site, found by the topic.
        self._only_decoder = next(iter(decoders.values())) if len(decoders) == 1 else None
        self.broker_dropped: Callable[[int], None] = lambda count: None
        self.stores: Stores | None = None

    def route(self, owns: Callable[[str], bool], handle: TopicHandler) -> None:
        """Send the topics `owns` says are its own to `handle` and not to the decoder;
        acknowledged in turn with the board messages."""
        self._families.append((owns, handle))

    def observe(self, name: str, observer: Observer) -> None:
        """Tell `observer` the board messages' points once handed to the writer, those
        that arrived together in one call; a fault there is logged, never stops ingest."""
        self.observers.add(name, observer)

    async def _route(self, topic: str, payload: bytes, retained: bool, ack: Ack) -> None:
        """One message from the broker, to the handler of its family, once.

        Nothing a message carries may stop ingest: whatever goes wrong becomes a dead
        letter with its reason, and every message is acknowledged exactly once, in turn.
        """
        if topic == BROKER_DROPPED_TOPIC:
            self.broker_dropped(self.broker_drops.observe(payload))
            ack()
            return
        assert self.stores is not None, "messages arrive only while the stores are open"
        for owns, handle in self._families:
            if owns(topic):
                await self.observers.tell()  # what arrived before it is observed before it
                await self._guarded(topic, payload, handle(topic, payload, retained))
                await self.stores.writer.submit(topic, payload, [], ack)
                return
        await self._board_message(topic, payload, retained, ack)

    async def _board_message(self, topic: str, payload: bytes, retained: bool, ack: Ack) -> None:
        assert self.stores is not None
        self.counters.messages_received += 1  # board messages; other families are not
        try:
            decoded = self._decoder(topic).decode(topic, payload, retained)
        except DecodeError as error:  # the whole message
            decoded = Decoded(refused=[error])
        except Exception as exc:  # a fault of ours, shown by this message: never a crash loop
            await self.dead_letters.internal_error(topic, payload, exc)
            decoded = Decoded()
        if decoded.refused:
            await self.dead_letters.refused(topic, payload, decoded.refused)
        await self.stores.writer.submit(topic, payload, decoded.points, ack)
        self.observers.handed_on(decoded.points)
        if decoded.known_only:  # a retained last will, after a restart
            self.observers.handed_on(decoded.known_only)

    async def _guarded(self, topic: str, payload: bytes, work: Awaitable[object]) -> None:
        try:
            await work
        except Exception as exc:  # a fault of ours, shown by this message: never a crash loop
            await self.dead_letters.internal_error(topic, payload, exc)

    def _decoder(self, topic: str) -> MessageDecoder:
        """The decoder of the topic's site; another site's topic is dead-lettered as
        unknown_site by any of them."""
        if self._only_decoder is not None:
            return self._only_decoder
        levels = topic.split("/")
        site = levels[1] if len(levels) > 1 else ""
        return self.decoders.get(site) or next(iter(self.decoders.values()))

    @contextlib.asynccontextmanager
    async def storing(self) -> AsyncIterator[Stores]:
        """InfluxDB, the writer with its spool, each site's sessions and rollups, and
        their tasks, from entry until after `listen` returned."""
        settings = self._settings
        async with InfluxClient(self._influxdb) as influx:
            await _prepare_database(influx)
            sessions = {s.site.id: SessionRecorder(s, influx, self.counters) for s in self._sites}
            rollups = {s.site.id: Rollups(s, influx, self._clock) for s in self._sites}
            for recorder in sessions.values():
                await recorder.resume()

            async def written(points: list[Point]) -> None:
                for site, of_site in _by_site(points).items():
                    if site in sessions:
                        await sessions[site].written(of_site)
                        await rollups[site].written(of_site)

            async def drained() -> None:  # the spool replayed: points this process did not see
                for site in sessions:
                    await sessions[site].resume()
                    rollups[site].mark_recent()

            spool = Spool(Path(settings.spool_dir), settings.spool_max_bytes) if settings.spool_dir else None  # fmt: skip
            writer = BatchWriter(
                influx, settings, self.counters, self.dead_letters, written, spool,
                drained=drained,  # sessions that ended while InfluxDB was away
            )  # fmt: skip
            self.source.window_full = writer.flush_soon
            stores = self.stores = Stores(influx, writer, spool)
            stores.tasks.append(asyncio.create_task(writer.run()))
            stores.tasks += [
                asyncio.create_task(supervised(f"rollups of {site}", rollup.run))
                for site, rollup in rollups.items()
            ]
            if spool is not None:
                stores.replay = asyncio.create_task(supervised("spool replay", writer.replay_forever))  # fmt: skip
                stores.tasks.append(stores.replay)
            try:
                yield stores
            finally:
                await cancel_all(stores.tasks)
                # The days written since the last rollup, so figures are complete at once.
                for rollup in rollups.values():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(rollup.flush(), DRAIN_TIMEOUT_S)

    async def listen(self, stop: asyncio.Event) -> None:
        """Inside `storing()`: take messages until `stop` is set, then write what is
        held and acknowledge it."""
        assert self.stores is not None
        writer = self.stores.writer

        async def leaving() -> None:
            await self.observers.tell()
            await writer.flush_before_leaving()

        await self.source.run(stop, leaving)

    @property
    def unacknowledged(self) -> int:
        return self.stores.writer.unacknowledged if self.stores else 0

    @property
    def spool(self) -> Spool | None:
        return self.stores.spool if self.stores else None


async def cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _prepare_database(influx: InfluxClient) -> None:
    """Create the database if InfluxDB is there; if not, carry on: writes spool or
    wait, and create it when InfluxDB comes back."""
    try:
        await influx.ensure_database()
    except MissingDatabaseError as exc:
        log.error("%s", exc)  # readings spool (or wait at the broker) until it exists
    except SinkError as exc:
        log.warning("InfluxDB not reachable at start: %s", exc)


def _by_site(points: list[Point]) -> dict[str, list[Point]]:
    grouped: dict[str, list[Point]] = {}
    for point in points:
        grouped.setdefault(point.tags.get("site", ""), []).append(point)
    return grouped
