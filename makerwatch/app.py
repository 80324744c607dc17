"""The composition root of `makerwatch ingest` and `makerwatch up`: builds each
feature and joins them, so that no feature imports another (docs/architecture.md).

    MqttSource -> route -> Decoder -> BatchWriter (-> spool) -> InfluxDB
                     |          \\-> AlertService (points)   -> notifications, commands
                     \\-> AlertService (alert topics)
    SessionRecorder <- what the writer stored;  HTTP API <- health, alerts, metrics
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from makerwatch.alerts.engine import AlreadyAcknowledged
from makerwatch.alerts.notifier import OPERATIONS, Notification, Notifier
from makerwatch.alerts.service import AlertService
from makerwatch.alerts.texts import OPERATIONS_TEXTS, local_time
from makerwatch.api.board import NoRelay
from makerwatch.api.floor import Floor
from makerwatch.api.http import Conflict, serve, server_tls
from makerwatch.api.layout import board_settings
from makerwatch.core.errors import UnreachableError
from makerwatch.core.network import Network
from makerwatch.core.points import Point, device_tags
from makerwatch.core.protocol import (
    BROKER_DROPPED_TOPIC,
    Command,
    IdentifyCommand,
    RelayCommand,
    board_subscriptions,
    command_topic,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.ingest.broker_watch import BrokerDrops
from makerwatch.ingest.central import CentralIngest
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.dead_letters import DeadLetters
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient, MissingDatabaseError
from makerwatch.ingest.rollups import Rollups
from makerwatch.ingest.sessions import SessionRecorder
from makerwatch.ingest.source import Ack, MqttSource
from makerwatch.ingest.spool import Spool
from makerwatch.ingest.supervised import supervised
from makerwatch.ingest.writer import BatchWriter

if TYPE_CHECKING:
    from makerwatch.report.page import Answer

__all__ = ["IngestService", "run_until_stopped", "tune_gc_for_a_long_running_ingest"]

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 10.0
HISTORY_MIN = 60  # the board's sparklines
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
    service = CentralIngest(config) if isinstance(config, Network) else IngestService(config)
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
    def __init__(self, config: SiteConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.counters = IngestCounters()
        self._decoder = Decoder(config, clock)
        self._clock = clock
        self.alerts: AlertService | None = None
        self._replay: asyncio.Task[None] | None = None  # the spool's replay, while there is one
        # Alert topics first: their retained messages must be back before any state.
        subscriptions = [
            *AlertService.subscriptions(config), *board_subscriptions(), BROKER_DROPPED_TOPIC,
        ]  # fmt: skip
        self.broker_drops = BrokerDrops()
        self.source = MqttSource(
            config.mqtt, subscriptions, self._route, self.counters, self._connected
        )
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = self.source.subscribed
        self.floor = Floor(config, self.board_alerts)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then write what is held, acknowledge it and return."""
        _quiet_repeated_loop_errors(asyncio.get_running_loop())
        settings = self.config.ingest
        async with InfluxClient(self.config.influxdb) as influx:
            self._influx = influx
            await self._prepare_database(influx)
            sessions = SessionRecorder(self.config, influx, self.counters)
            await sessions.resume()
            rollups = Rollups(self.config, influx, self._clock)

            async def written(points: list[Point]) -> None:
                await sessions.written(points)
                await rollups.written(points)

            async def drained() -> None:  # the spool replayed: points this process did not see
                await sessions.resume()
                rollups.mark_recent()

            self.spool = Spool(Path(settings.spool_dir), settings.spool_max_bytes) if settings.spool_dir else None  # fmt: skip
            dead_letters = DeadLetters(self.source, self.counters, self._clock)
            writer = self._writer = BatchWriter(
                influx, settings, self.counters, dead_letters, written, self.spool,
                drained=drained,  # sessions that ended while InfluxDB was away
            )  # fmt: skip
            self._dead_letters = dead_letters
            self.source.window_full = writer.flush_soon
            self.notifier = Notifier(
                self.config.alerts.channels, self.config.alerts.language,
                timezone=self.config.site.timezone,
            )  # fmt: skip
            self.alerts = AlertService(
                self.config, writer, self.source, self.notifier, self.source.subscribed
            )
            chat = None
            if self.config.alerts.telegram is not None:
                # python-telegram-bot is a large library: loaded only for a site with a chat.
                from makerwatch.alerts.telegram import StaffChat

                chat = StaffChat(
                    self.config.alerts.telegram, self.alerts, self.config.alerts.language,
                    self.config.devices,
                )  # fmt: skip
                self.notifier.add(chat.route)
            self.notifier.start()
            tls = server_tls(settings.http_certfile, settings.http_keyfile)
            api = await serve(self, settings.http_host, settings.http_port, tls) if settings.http_port is not None else None  # fmt: skip
            background = [
                asyncio.create_task(writer.run()),
                asyncio.create_task(self.alerts.run_clock()),
                asyncio.create_task(self.floor.run(self.wall_ms, lambda: self.mqtt_connected)),
                asyncio.create_task(supervised("rollups", rollups.run)),
            ]
            if chat is not None:
                background.append(asyncio.create_task(chat.run()))
            if self.config.sponsors:  # the month's report to each, on the 1st
                # The report's charts and PDF: loaded only for a site with sponsors.
                from makerwatch.report.delivery import run_monthly

                monthly = partial(run_monthly, self.config, influx.query, self._clock)
                background.append(asyncio.create_task(supervised("sponsor reports", monthly)))
            if self.spool is not None:
                self._replay = asyncio.create_task(
                    supervised("spool replay", writer.replay_forever)
                )
                background.append(self._replay)
            try:
                await self.source.run(stop, writer.flush_before_leaving)
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # The days written since the last rollup, so figures are complete at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(rollups.flush(), DRAIN_TIMEOUT_S)
                await self.notifier.close()
                if chat is not None:
                    await chat.stop()
                if api is not None:
                    await api()

    async def _connected(self) -> None:
        assert self.alerts is not None
        await self.alerts.connected()

    async def _route(self, topic: str, payload: bytes, retained: bool, ack: Ack) -> None:
        """One message from the broker: an alert topic, or a board's message to store.

        Nothing a message carries may stop ingest: whatever goes wrong becomes a dead
        letter with its reason, and every message is acknowledged exactly once, in turn.
        """
        assert self.alerts is not None
        if topic == BROKER_DROPPED_TOPIC:
            self._broker_dropped(self.broker_drops.observe(payload))
            ack()
            return
        points: list[Point] = []
        known_only: list[Point] = []
        try:
            if not await self.alerts.handle(topic, payload, retained):
                self.counters.messages_received += 1  # board messages; alert topics are not
                decoded = await self._dead_letters.decoded(self._decoder, topic, payload, retained)
                points, known_only = decoded.points, decoded.known_only
        except Exception as exc:  # a fault of ours, shown by this message: never a crash loop
            await self._dead_letters.internal_error(topic, payload, exc)
        await self._writer.submit(topic, payload, points, ack)
        self.floor.observe(points + known_only, self.wall_ms())
        try:
            await self.alerts.observe(points + known_only)
        except Exception:  # a fault in alerting must never stop ingestion
            log.exception("alert engine failed on %s", topic, extra={"topic": topic})

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

    # The HTTP API's view of the running service (makerwatch.api.http.Status).

    @property
    def site_id(self) -> str:
        return self.config.site.id

    @property
    def mqtt_connected(self) -> bool:
        return self.subscribed.is_set()

    def counter_values(self) -> dict[str, object]:
        return self.counters.snapshot()

    def notification_drops(self) -> dict[tuple[str, str], int]:
        return dict(self.notifier.dropped_by_severity)

    def notification_counts(self) -> dict[str, dict[str, int]]:
        notifier = self.notifier
        outcomes = (("sent", notifier.sent), ("retried", notifier.retried), ("failed", notifier.failed),
                    ("dropped", notifier.dropped), ("quiet", notifier.quiet))  # fmt: skip
        return {outcome: dict(by_channel) for outcome, by_channel in outcomes}

    async def health(self) -> dict[str, object]:
        """For /healthz: is each part working, and how much is waiting. `healthy` is
        false while anything keeps readings from being stored."""
        spool_error = self.spool.failing if self.spool else None
        replaying = self._replay is None or not self._replay.done()
        ping_error = await self._influx.ping_error()
        health: dict[str, object] = {
            "mqtt_connected": self.mqtt_connected,
            "influxdb_reachable": ping_error is None,
            "influxdb_writable": self._writer.write_failing is None,
            "spool_writable": spool_error is None,
            "spool_replaying": replaying,
            "unacknowledged_messages": self.unacknowledged,
            "spool_bytes": self.spool_bytes,
            "active_alerts": len(self.active_alerts()),
            "server_clock_offset_s": self._clock_offset(),
        }
        if ping_error:
            health["influxdb_ping_error"] = ping_error
        if spool_error:
            health["spool_error"] = spool_error
        if self._writer.write_failing:
            health["influxdb_error"] = self._writer.write_failing
        checks = ("mqtt_connected", "influxdb_reachable", "influxdb_writable", "spool_writable",
                  "spool_replaying")  # fmt: skip
        health["healthy"] = all(health[check] for check in checks)
        return health

    def _clock_offset(self) -> float | None:
        offset = self._decoder.board_clock.server_offset_s(self._clock())
        return None if offset is None else round(offset, 1)

    @property
    def unacknowledged(self) -> int:
        return self._writer.unacknowledged

    @property
    def broker_dropped(self) -> int:
        return self.broker_drops.total or 0

    @property
    def spool_bytes(self) -> int:
        return self.spool.bytes_pending if self.spool else 0

    def active_alerts(self) -> list[dict[str, Any]]:
        return self.alerts.active() if self.alerts else []

    async def acknowledge(
        self, alert_id: str, by: str, cancel_auto_off: bool = False
    ) -> dict[str, Any]:
        """Raises KeyError for an alert that is not active, Conflict for one that someone
        has acknowledged already."""
        assert self.alerts is not None
        try:
            return (await self.alerts.acknowledge(alert_id, by, cancel_auto_off)).to_json()
        except AlreadyAcknowledged as already:
            alert = already.alert
            when = local_time(alert.acked_ms or 0, self.config.site.timezone, self.alerts.wall_ms())
            message = f"{alert_id} was acknowledged by {alert.acked_by} at {when}"
            raise Conflict(message, alert.to_json()) from already

    def staff_named_by(self, token: str) -> str | None:
        return self.config.staff_named_by(token)

    # The floor board's view (makerwatch.api.board.BoardService).

    def wall_ms(self) -> int:
        return int(self._clock() * 1000)

    def board_alerts(self) -> list[dict[str, Any]]:
        return self.alerts.active() if self.alerts else []

    def page_settings(self) -> dict[str, Any]:
        site = self.config.site
        return {
            "site": site.name,
            "timezone": site.timezone,
            "language": self.config.alerts.language,
            **board_settings(self.config),
        }

    async def power_history(self) -> dict[str, list[list[float]]]:
        """Each machine's power in the last hour, a mean a minute, for the sparklines."""
        try:
            series = await self._influx.query(
                f"SELECT mean(power_w) FROM telemetry WHERE site = '{self.config.site.id}' "
                f"AND time > now() - {HISTORY_MIN}m GROUP BY time(1m), device fill(none)"
            )
        except SinkError as exc:
            log.warning("no power history for the board: %s", exc)
            return {}
        return {s["tags"]["device"]: s["values"] for s in series}

    async def identify(self, device: str, by: str) -> None:
        """Blink the board's LED (KeyError for a device not in the site file)."""
        self._device(device)
        topic = command_topic(self.config.site.id, device, Command.IDENTIFY)
        await self.source.publish(topic, IdentifyCommand(v=1).model_dump_json())
        await self._record_action(device, "identify", by)

    async def switch_off(self, device: str, by: str) -> None:
        """Switch the machine off through its board's relay (NoRelay without one)."""
        found = self._device(device)
        if found.board.get("relay_pin", -1) < 0:
            raise NoRelay(device)
        topic = command_topic(self.config.site.id, device, Command.RELAY)
        await self.source.publish(
            topic, RelayCommand(v=1, on=False, reason="staff").model_dump_json()
        )
        await self._record_action(device, "switch_off", by)

    def _device(self, device_id: str) -> Device:
        device = self.config.device(device_id)
        if device is None:
            raise KeyError(device_id)
        return device

    async def _record_action(self, device_id: str, action: str, by: str) -> None:
        """Who did what to which machine, and when: the `staff_action` measurement."""
        tags = device_tags(self.config.site.id, self._device(device_id))
        point = Point("staff_action", tags, {"action": action, "by": by}, self.wall_ms())
        await self._writer.store([point])
        log.info("%s: %s by %s", device_id, action, by)

    async def sponsor_page(self, query: Mapping[str, str], accept_language: str) -> Answer:
        """/sponsors: makerwatch/report/page.py makes the answer from this site's figures
        (charts and templates, matplotlib and jinja2, are loaded with the first page)."""
        from makerwatch.report.page import answer as sponsor_answer

        return await sponsor_answer(
            query, accept_language, self.sponsor_figures, int(self._clock() * 1000)
        )

    async def sponsor_figures(self, period: str | None, simulated: bool) -> Statistics:
        """This site's figures for a period (default: this month, site time); simulated
        data only when asked for."""
        now = self._clock()
        text = period or f"{datetime.fromtimestamp(now, ZoneInfo(self.config.site.timezone)):%Y-%m}"
        try:
            return await statistics(
                self._influx.query, [self.config], text, int(now * 1000), simulated=simulated
            )
        except SinkError as exc:
            raise UnreachableError(f"the figures cannot be read from InfluxDB: {exc}") from exc

    async def _prepare_database(self, influx: InfluxClient) -> None:
        """Create the database if InfluxDB is there; if not, carry on: writes spool or
        wait, and create it when InfluxDB comes back."""
        try:
            await influx.ensure_database()
        except MissingDatabaseError as exc:
            log.error("%s", exc)  # readings spool (or wait at the broker) until it exists
        except SinkError as exc:
            log.warning("InfluxDB not reachable at start: %s", exc)
