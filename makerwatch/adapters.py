"""The running site ingest as the HTTP API and the floor board see it: one small
adapter each, over the parts app.py composed (the chat's is the alert service's own
`StaffActions`). Only app.py builds them; no feature imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from makerwatch.alerts.engine import AlreadyAcknowledged
from makerwatch.alerts.notifier import Notifier
from makerwatch.alerts.service import AlertService
from makerwatch.alerts.texts import local_time
from makerwatch.api.board import Refused
from makerwatch.api.confirmations import (
    CALIBRATE_WITHIN_S,
    BoardAnswer,
    Confirmations,
    calibrate_answer,
    identify_answer,
    switch_off_answer,
)
from makerwatch.api.floor import Floor
from makerwatch.api.http import Conflict
from makerwatch.api.invites import StaffDevices, data_folder
from makerwatch.api.layout import board_settings
from makerwatch.api.machine_page import calibrations, machine_history, midnight_ms
from makerwatch.core.errors import UnreachableError
from makerwatch.core.points import Point, device_tags
from makerwatch.core.ports import Publisher
from makerwatch.core.protocol import (
    AccessMode,
    CalibrateCommand,
    Command,
    IdentifyCommand,
    RelayCommand,
    command_topic,
)
from makerwatch.core.relay import NoRelay, has_relay
from makerwatch.core.site_config import LANGUAGES, Device, SiteConfig, may_switch_off
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.core.vocabulary import SNOOZE_MIN
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.pipeline import Pipeline, Stores
from makerwatch.maintenance.tracker import MaintenanceTracker
from makerwatch.members.store import MembersError, MembersStore

if TYPE_CHECKING:
    from makerwatch.report.page import Answer

__all__ = ["ApiView", "BoardView", "Running"]

log = logging.getLogger(__name__)

HISTORY_MIN = 60  # the board's sparklines


@dataclass(frozen=True)
class Running:
    """The parts of a running site ingest that the adapters read and ask."""

    config: SiteConfig
    pipeline: Pipeline
    stores: Stores
    decoder: Decoder
    alerts: AlertService
    notifier: Notifier
    floor: Floor
    clock: Callable[[], float]
    commands: Publisher  # relay commands: to a board as they are, to a plug in its own format
    members: MembersStore | None = None  # a site whose devices read cards
    maintenance: MaintenanceTracker | None = None

    def wall_ms(self) -> int:
        return int(self.clock() * 1000)


# How long an enrolment waits for its card.
ENROL_WAIT_MS = 5 * 60_000


class MembersEnrolment:
    """Enrolling from the staff page (makerwatch.api.enrol.Enrolment), over the store."""

    def __init__(self, running: Running, store: MembersStore) -> None:
        self._running = running
        self._store = store
        # (device, member) -> the member's cards when it was asked, and until when: a
        # card more is the one the tap enrolled.
        self._asked: dict[tuple[str, int], tuple[frozenset[str], int]] = {}

    def choices(self) -> dict[str, list[dict[str, Any]]]:
        config = self._running.config
        return {
            "members": [{"id": m.id, "short": m.short} for m in self._store.members()],
            "devices": [{"id": d.id, "names": {lang: d.name_in(lang) for lang in LANGUAGES}}
                        for d in config.devices if d.access != AccessMode.OFF],
        }  # fmt: skip

    def enrol_next(self, device: str, member: int, by: str) -> int:
        known = self._running.config.device(device)
        if known is None or known.access == AccessMode.OFF:
            raise KeyError(f"no device {device!r} that reads cards")
        until_ms = self._running.wall_ms() + ENROL_WAIT_MS
        try:
            self._store.enrol_next(device, member, until_ms)
        except MembersError as exc:
            raise KeyError(str(exc)) from None
        self._asked[(device, member)] = (self._store.keys_of(member), until_ms)
        log.info("%s: the next unknown card at %s is member %d's", by, device, member)
        return until_ms

    def progress(self, device: str, member: int) -> tuple[str, int]:
        asked = self._asked.get((device, member))
        if asked is None:
            raise KeyError(f"no enrolment for member {member} at {device!r}")
        before, until_ms = asked
        if self._store.keys_of(member) - before:
            return "enrolled", until_ms
        return ("expired" if self._running.wall_ms() >= until_ms else "waiting"), until_ms


class BoardView:
    """The floor board's view (makerwatch.api.board.BoardService)."""

    def __init__(self, running: Running) -> None:
        self._running = running
        self.floor = running.floor
        self.staff_devices = StaffDevices(data_folder(running.config))
        self.confirmations = Confirmations()  # the boards' answers to staff actions
        running.pipeline.observe("staff action answers", self.confirmations.observe)

    def redeem_invite(self, code: str, agent: str) -> tuple[str, str]:
        return self.staff_devices.redeem(code, agent, self.wall_ms())

    def wall_ms(self) -> int:
        return self._running.wall_ms()

    def page_settings(self) -> dict[str, Any]:
        config = self._running.config
        return {
            "site": config.site.name,
            "timezone": config.site.timezone,
            "language": config.alerts.language,
            **board_settings(config),
        }

    async def power_history(self) -> dict[str, list[list[float]]]:
        """Each machine's power in the last hour, a mean a minute, for the sparklines."""
        try:
            series = await self._running.stores.influx.query(
                f"SELECT mean(power_w) FROM telemetry WHERE site = '{self._running.config.site.id}' "
                f"AND time > now() - {HISTORY_MIN}m GROUP BY time(1m), device fill(none)"
            )
        except SinkError as exc:
            log.warning("no power history for the board: %s", exc)
            return {}
        return {s["tags"]["device"]: s["values"] for s in series}

    async def identify(self, device: str, by: str) -> BoardAnswer:
        """Blink the board's LED (KeyError for a device not in the site file)."""
        self._device(device)
        answer = self.confirmations.expect(device, identify_answer)
        topic = command_topic(self._running.config.site.id, device, Command.IDENTIFY)
        await self._running.pipeline.source.publish(topic, IdentifyCommand(v=1).model_dump_json())
        await self._record_action(device, "identify", by)
        return await self.confirmations.wait(answer)

    async def switch_off(self, device: str, by: str) -> BoardAnswer:
        """Switch the machine off through its board's relay (NoRelay without one; Refused
        for a kind Makerwatch never switches off)."""
        machine = self._device(device)
        if not has_relay(machine):
            raise NoRelay(device)
        if not may_switch_off(machine):
            raise Refused(f"{device} is a {machine.kind.value}: Makerwatch never switches one "
                          "off (it would spoil the work under way)")  # fmt: skip
        answer = self.confirmations.expect(device, switch_off_answer)
        topic = command_topic(self._running.config.site.id, device, Command.RELAY)
        await self._running.commands.publish(
            topic, RelayCommand(v=1, on=False, reason="staff").model_dump_json()
        )
        await self._record_action(device, "switch_off", by)
        return await self.confirmations.wait(answer)

    async def calibrate(self, device: str, by: str, command: CalibrateCommand) -> BoardAnswer:
        """The board measures against the reference and keeps the correction (as
        `makerwatch board calibrate` asks it); Refused for what it cannot measure."""
        what = "power" if command.known_w is not None else "temperature"
        if what not in calibrations(self._device(device)):
            raise Refused(f"{device} has no sensor whose {what} is calibrated")
        answer = self.confirmations.expect(device, calibrate_answer)
        topic = command_topic(self._running.config.site.id, device, Command.CALIBRATE)
        await self._running.pipeline.source.publish(
            topic, command.model_dump_json(exclude_none=True)
        )
        await self._record_action(device, f"calibrate_{what}", by)
        return await self.confirmations.wait(answer, CALIBRATE_WITHIN_S)

    async def machine(self, device_id: str, named: bool = False) -> dict[str, Any]:
        """One machine's page: the tile (a member named when `named`), today's history (empty, said so, while InfluxDB
        cannot answer), and which actions may be offered."""
        device, config, now_ms = self._device(device_id), self._running.config, self.wall_ms()
        since_ms = midnight_ms(now_ms, config.site.timezone)
        query = self._running.stores.influx.query
        history: dict[str, Any]
        try:
            history = await machine_history(query, config.site.id, device_id, since_ms)
        except SinkError as exc:
            log.warning("no history for %s's page: %s", device_id, exc)
            history = {"power": [], "states": [], "sessions": [], "alerts": [], "unreadable": True}
        (tile,) = (t for t in self.floor.machines(now_ms, named) if t["device"] == device_id)
        return {
            "now_ms": now_ms, "since_ms": since_ms, "tile": tile, **history,
            "switch_off": may_switch_off(device), "calibrate": calibrations(device),
        }  # fmt: skip

    async def snooze(self, alert_id: str, by: str) -> dict[str, Any]:
        """The chat's "Snooze 1 h": acknowledged, no reminders for the hour."""
        try:
            alert = await self._running.alerts.acknowledge(alert_id, by, snooze_min=SNOOZE_MIN)
        except AlreadyAcknowledged as already:
            raise Refused(f"{alert_id}: {already.alert.acked_by} is on it already") from already
        return alert.to_json()

    async def cancel_switch_off(self, alert_id: str, by: str) -> dict[str, Any]:
        return (await self._running.alerts.cancel_auto_off(alert_id, by)).to_json()

    def _device(self, device_id: str) -> Device:
        device = self._running.config.device(device_id)
        if device is None:
            raise KeyError(device_id)
        return device

    async def _record_action(self, device_id: str, action: str, by: str) -> None:
        """Who did what to which machine, and when: the `staff_action` measurement."""
        tags = device_tags(self._running.config.site.id, self._device(device_id))
        point = Point("staff_action", tags, {"action": action, "by": by}, self.wall_ms())
        await self._running.stores.writer.store([point])
        log.info("%s: %s by %s", device_id, action, by)


class ApiView:
    """The HTTP API's view (makerwatch.api.http.Status)."""

    def __init__(self, running: Running) -> None:
        self._running = running
        self.board = BoardView(running)
        store = running.members
        self.enrolment = None if store is None else MembersEnrolment(running, store)

    @property
    def site_id(self) -> str:
        return self._running.config.site.id

    @property
    def mqtt_connected(self) -> bool:
        return self._running.pipeline.subscribed.is_set()

    @property
    def unacknowledged(self) -> int:
        return self._running.pipeline.unacknowledged

    @property
    def spool_bytes(self) -> int:
        spool = self._running.stores.spool
        return spool.bytes_pending if spool else 0

    @property
    def broker_dropped(self) -> int:
        return self._running.pipeline.broker_drops.total or 0

    def counter_values(self) -> dict[str, object]:
        return self._running.pipeline.counters.snapshot()

    def active_alerts(self) -> list[dict[str, Any]]:
        return self._running.alerts.active()

    def notification_drops(self) -> dict[tuple[str, str], int]:
        return dict(self._running.notifier.dropped_by_severity)

    def notification_counts(self) -> dict[str, dict[str, int]]:
        notifier = self._running.notifier
        outcomes = (("sent", notifier.sent), ("retried", notifier.retried), ("failed", notifier.failed),
                    ("dropped", notifier.dropped), ("quiet", notifier.quiet))  # fmt: skip
        return {outcome: dict(by_channel) for outcome, by_channel in outcomes}

    async def health(self) -> dict[str, object]:
        """For /healthz: is each part working, and how much is waiting. `healthy` is
        false while anything keeps readings from being stored."""
        stores = self._running.stores
        spool_error = stores.spool.failing if stores.spool else None
        replaying = stores.replay is None or not stores.replay.done()
        ping_error = await stores.influx.ping_error()
        health: dict[str, object] = {
            "mqtt_connected": self.mqtt_connected,
            "influxdb_reachable": ping_error is None,
            "influxdb_writable": stores.writer.write_failing is None,
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
        if stores.writer.write_failing:
            health["influxdb_error"] = stores.writer.write_failing
        checks = ("mqtt_connected", "influxdb_reachable", "influxdb_writable", "spool_writable",
                  "spool_replaying")  # fmt: skip
        health["healthy"] = all(health[check] for check in checks)
        return health

    def _clock_offset(self) -> float | None:
        offset = self._running.decoder.board_clock.server_offset_s(self._running.clock())
        return None if offset is None else round(offset, 1)

    async def acknowledge(
        self, alert_id: str, by: str, cancel_auto_off: bool = False
    ) -> dict[str, Any]:
        """Raises KeyError for an alert that is not active, Conflict for one that someone
        has acknowledged already."""
        alerts = self._running.alerts
        try:
            return (await alerts.acknowledge(alert_id, by, cancel_auto_off)).to_json()
        except AlreadyAcknowledged as already:
            alert = already.alert
            timezone = self._running.config.site.timezone
            when = local_time(alert.acked_ms or 0, timezone, alerts.wall_ms())
            message = f"{alert_id} was acknowledged by {alert.acked_by} at {when}"
            raise Conflict(message, alert.to_json()) from already

    def staff_named_by(self, token: str) -> str | None:
        """The site file's tokens (scripts), then phones signed in by invite, whose
        holder must still be on the site file's staff."""
        config = self._running.config
        name = config.staff_named_by(token)
        if name is None:
            name = self.board.staff_devices.named_by(token, self._running.wall_ms())
        return name if name in {member.name for member in config.staff} else None

    def maintenance(self, device_id: str) -> list[dict[str, Any]]:
        running = self._running
        if running.config.device(device_id) is None:
            raise KeyError(f"no device {device_id!r}")
        tracker = running.maintenance
        return [] if tracker is None else tracker.status(device_id, running.wall_ms())

    async def maintenance_done(self, device_id: str, task: str, by: str) -> list[dict[str, Any]]:
        running = self._running
        if running.maintenance is None:
            raise KeyError(f"the site file gives no maintenance tasks (no {task!r})")
        await running.maintenance.done(device_id, task, by, running.wall_ms())
        return self.maintenance(device_id)

    async def sponsor_page(self, query: Mapping[str, str], accept_language: str) -> Answer:
        """/sponsors: makerwatch/report/page.py makes the answer from this site's figures
        (charts and templates, matplotlib and jinja2, are loaded with the first page)."""
        from makerwatch.report.page import answer as sponsor_answer

        now_ms = int(self._running.clock() * 1000)
        return await sponsor_answer(query, accept_language, self.sponsor_figures, now_ms)

    async def sponsor_figures(self, period: str | None, simulated: bool) -> Statistics:
        """This site's figures for a period (default: this month, site time); simulated
        data only when asked for."""
        config, now = self._running.config, self._running.clock()
        text = period or f"{datetime.fromtimestamp(now, ZoneInfo(config.site.timezone)):%Y-%m}"
        try:
            return await statistics(
                self._running.stores.influx.query, [config], text, int(now * 1000),
                simulated=simulated,
            )  # fmt: skip
        except SinkError as exc:
            raise UnreachableError(f"the figures cannot be read from InfluxDB: {exc}") from exc
