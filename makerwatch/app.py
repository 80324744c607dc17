"""The composition root of `makerwatch ingest` and `makerwatch up`: builds each
feature and joins them, so that no feature imports another (docs/architecture.md).

    ingest/pipeline.py: MqttSource -> Router -> Decoder -> BatchWriter (-> spool) -> InfluxDB
                                        |                  \\-> observers: the floor, AlertService
                                        \\-> AlertService (its alert topics)
    adapters.py: the HTTP API's and the floor board's views of what runs here
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from makerwatch.adapters import ApiView, Running
from makerwatch.alerts.notifier import OPERATIONS, Notification, Notifier
from makerwatch.alerts.service import AlertService
from makerwatch.alerts.texts import OPERATIONS_TEXTS
from makerwatch.api.floor import Floor
from makerwatch.api.http import serve, server_tls
from makerwatch.core.network import Network
from makerwatch.core.points import Point
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.central import CentralIngest
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.home_assistant import HomeAssistant
from makerwatch.ingest.pipeline import Pipeline, Stores, cancel_all
from makerwatch.ingest.spool import Spool
from makerwatch.ingest.supervised import supervised
from makerwatch.maintenance.store import MaintenanceStore
from makerwatch.maintenance.tracker import MaintenanceTracker
from makerwatch.members.access import AccessLists
from makerwatch.members.store import MembersStore
from makerwatch.sources.board import BoardSource
from makerwatch.sources.central import bridged_sources
from makerwatch.sources.commands import PlugCommands
from makerwatch.sources.router import SiteSources

__all__ = ["IngestService", "run_until_stopped", "tune_gc_for_a_long_running_ingest"]

log = logging.getLogger(__name__)

LOOP_ERROR_EVERY_S = 60.0


def tune_gc_for_a_long_running_ingest() -> None:
    """Python's collector scans its youngest objects every 700 allocations, and ingest
    allocates a few per message; with what start-up made frozen out of the collector
    and the young generation collected every 50,000 allocations, ingest (and any paho
    client) handles about a fifth more messages a second (docs/benchmarks.md). Only
    for the `ingest` and `up` processes: a setting for the whole process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def run_until_stopped(
    config: SiteConfig | Network,
    stop: asyncio.Event,
    when_subscribed: Callable[[], Callable[[], None]] | None = None,
) -> None:
    """Run ingest (a site's, or central ingest for a network) until `stop` is set.
    `when_subscribed` starts something once ingest listens (the demo boards) and
    returns how to stop it, which happens first on exit."""
    tune_gc_for_a_long_running_ingest()
    service = (
        CentralIngest(config, reader=bridged_sources)
        if isinstance(config, Network)
        else IngestService(config)
    )
    # Ingest stops only after what it started has: the demo's boards say they are offline
    # on their way out, and ingest is still there to store that.
    ingest_stop = asyncio.Event()
    task = asyncio.create_task(service.run(ingest_stop))
    subscribed = asyncio.create_task(service.subscribed.wait())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, subscribed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    halt = None
    if when_subscribed is not None and subscribed.done() and not stop.is_set():
        halt = when_subscribed()
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if halt is not None:
        await asyncio.to_thread(halt)
    ingest_stop.set()
    await task
    subscribed.cancel()
    stopping.cancel()
    logging.getLogger("makerwatch").info(
        "ingest stopped: %s", json.dumps(service.counters.snapshot())
    )


def _quiet_repeated_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """The same event-loop error (an accept() out of file descriptors, say) is logged
    once a minute, not once per attempt with a traceback each."""
    last: dict[str, float] = {}

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        key, now = str(context.get("message")), time.monotonic()
        if now - last.get(key, -LOOP_ERROR_EVERY_S) >= LOOP_ERROR_EVERY_S:
            last[key] = now
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


class IngestService:
    """A site's ingest: the one pipeline, with the alert service on its alert topics
    and observing its points, the floor board, the notifier, the chat and the HTTP API."""

    def __init__(self, config: SiteConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.decoder = Decoder(config, clock)
        # The table of sources: our boards' topics to the decoder, each plug's to its family.
        self.sources = SiteSources(config, BoardSource(self.decoder), clock)
        self.alerts: AlertService | None = None
        self.access: AccessLists | None = None  # members' cards: when a device reads them
        self.members: MembersStore | None = None
        self.maintenance: MaintenanceTracker | None = None
        # Alert topics first: their retained messages must be back before any state.
        subscriptions = [
            *AlertService.subscriptions(config), *HomeAssistant.subscriptions(config),
            *self.sources.subscriptions(),
        ]  # fmt: skip
        self.pipeline = Pipeline(
            config.mqtt, config.ingest, config.influxdb, {config.site.id: self.sources},
            [config], subscriptions, clock, self._connected,
        )  # fmt: skip
        self.pipeline.broker_dropped = self._broker_dropped
        self.counters = self.pipeline.counters
        self.source = self.pipeline.source
        # Relay commands go to a plug in its own format, to a board as they are.
        self.commands = PlugCommands(config, self.source)
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = self.pipeline.subscribed
        self.floor = Floor(config, self.active_alerts)
        self.home_assistant = None
        if config.home_assistant.discovery:
            self.home_assistant = HomeAssistant(
                config, self.source, self.active_alerts, self.wall_ms, lambda: self.mqtt_connected
            )
            self.source.will = self.home_assistant.will()
        self.notifier = Notifier(
            config.alerts.channels, config.alerts.language, timezone=config.site.timezone
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then write what is held, acknowledge it and return."""
        _quiet_repeated_loop_errors(asyncio.get_running_loop())
        async with self.pipeline.storing() as stores:
            alerts = self.alerts = AlertService(
                self.config, stores.writer, self.commands, self.notifier, self.subscribed
            )
            self.pipeline.route(alerts.owns, alerts.handle)
            self.pipeline.observe("the floor board", self._floor_observes)
            self.pipeline.observe("alert engine", alerts.observe)
            if self.home_assistant is not None:
                self.pipeline.route(self.home_assistant.owns, self.home_assistant.handle)
                self.pipeline.observe("home assistant", self.home_assistant.observe)
            maintenance = self._maintenance(stores, alerts)
            chat = None
            if self.config.alerts.telegram is not None:
                # python-telegram-bot is a large library: loaded only for a site with a chat.
                from makerwatch.alerts.telegram import StaffChat

                chat = StaffChat(
                    self.config.alerts.telegram, alerts, self.config.alerts.language,
                    self.config.devices,
                )  # fmt: skip
                self.notifier.add(chat.route)
            self.notifier.start()
            members = self._members()  # before the API: it enrols cards
            if maintenance is not None and self.access is not None:
                # A blocking task overdue locks an `enforce` device (docs/maintenance.md).
                self.access.locked = maintenance.blocking_overdue
                self.access.ready = lambda: maintenance.loaded
                maintenance.on_change = self.access.changed
            api = await self._serve(stores, alerts, maintenance)
            background = [
                asyncio.create_task(alerts.run_clock()),
                asyncio.create_task(self.floor.run(self.wall_ms, lambda: self.mqtt_connected)),
            ]
            if chat is not None:
                background.append(asyncio.create_task(chat.run()))
            if self.home_assistant is not None:
                background.append(asyncio.create_task(self.home_assistant.run(stop)))
            background += members
            if maintenance is not None:
                background.append(asyncio.create_task(supervised("maintenance", maintenance.run)))
            if self.config.sponsors:  # the month's report to each, on the 1st
                # The report's charts and PDF: loaded only for a site with sponsors.
                from makerwatch.report.delivery import run_monthly

                monthly = partial(
                    run_monthly, self.config, stores.influx.query, stores.writer, self._clock
                )
                background.append(asyncio.create_task(supervised("sponsor reports", monthly)))
            try:
                await self.pipeline.listen(stop)
            finally:
                await cancel_all(background)
                await self.notifier.close()
                if chat is not None:
                    await chat.stop()
                if api is not None:
                    await api()

    def _members(self) -> list[asyncio.Task[None]]:
        """The members store, when a device reads cards or staff see names: access lists
        to the boards, enrolments from taps, names on the floor board."""
        settings = self.config.members
        if not settings.show_names and all(d.access == "off" for d in self.config.devices):
            return []
        store = self.members = MembersStore(Path(settings.store))
        access = self.access = AccessLists(self.config, store, self.source, self._clock)
        self.pipeline.observe("members' cards", access.observe)
        if settings.show_names:
            self.floor.show_names(store.short_name)
            tiles = self.floor.tiles  # the chat names them as the board does
            if self.alerts is not None:
                self.alerts.in_use_by = lambda device: tiles[device].machine.in_use_by(
                    store.short_name
                )
        return [
            asyncio.create_task(supervised("access lists", partial(access.run, self.subscribed)))
        ]

    def _maintenance(self, stores: Stores, alerts: AlertService) -> MaintenanceTracker | None:
        """The count of use towards maintenance, told to the alert engine; its "done"
        from the chat. None for a site without maintenance tasks."""
        if not self.config.maintenance:
            return None
        store = MaintenanceStore(Path(self.config.ingest.maintenance_dir))
        tracker = MaintenanceTracker(self.config, store, stores.influx.query, alerts.observe)
        self.pipeline.observe("maintenance", tracker.observe)

        async def done(device: str, tasks: list[str], by: str) -> None:
            for task in tasks:
                await tracker.done(device, task, by, self.wall_ms())

        alerts.maintenance_done = done
        self.maintenance = tracker
        return tracker

    async def _serve(
        self, stores: Stores, alerts: AlertService, maintenance: MaintenanceTracker | None
    ) -> Callable[[], Any] | None:
        settings = self.config.ingest
        if settings.http_port is None:
            return None
        running = Running(
            self.config, self.pipeline, stores, self.decoder, alerts, self.notifier, self.floor,
            self._clock, self.commands, self.members, maintenance,
        )  # fmt: skip
        tls = server_tls(settings.http_certfile, settings.http_keyfile)
        return await serve(ApiView(running), settings.http_host, settings.http_port, tls)

    async def _floor_observes(self, points: list[Point]) -> None:
        self.floor.observe(points, self.wall_ms())

    async def _connected(self) -> None:
        assert self.alerts is not None
        await self.alerts.connected()
        if self.home_assistant is not None:
            self.home_assistant.reconnected()
        if self.access is not None:
            self.access.connected()

    def _broker_dropped(self, count: int) -> None:
        """Readings lost at the broker: never silent (log, metric, staff channels)."""
        if count <= 0:
            return
        log.error("the broker dropped %d messages (its queue for a client was full)", count)
        site = self.config.site.name
        self.notifier.send(Notification(
            OPERATIONS, "Makerwatch",
            lambda language: OPERATIONS_TEXTS["broker_dropped"][language].format(site=site, count=count),
            coalesce_key="operations/broker_dropped",
        ))  # fmt: skip

    # What tests and `makerwatch up` read of a running site ingest.

    def wall_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def mqtt_connected(self) -> bool:
        return self.subscribed.is_set()

    @property
    def unacknowledged(self) -> int:
        return self.pipeline.unacknowledged

    @property
    def spool(self) -> Spool | None:
        return self.pipeline.spool

    @property
    def broker_dropped(self) -> int:
        return self.pipeline.broker_drops.total or 0

    def active_alerts(self) -> list[dict[str, Any]]:
        return self.alerts.active() if self.alerts else []
