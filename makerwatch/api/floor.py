"""The floor as the board shows it: each machine's latest state, readings and board
health, kept from the points ingest stores, and pushed to every open page.

Nothing here decides anything: each tile's state, "on since" and "no signal" come
from core/machine_status.py (the same answers `status`, the chat and the alerts
give), the alerts are the alert engine's. A change marks the machine's tile; every
PUSH_EVERY_S the marked tiles go to each page at once, so a burst of readings is one
update per tile, not one per reading. Silence has no point to mark a tile: each push
also looks at which tiles have fallen silent since the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from makerwatch.core.machine_status import NEVER_HEARD, NO_SIGNAL, MachineStatus, silent_after_ms
from makerwatch.core.points import Point
from makerwatch.core.protocol import (
    STATE_MEASUREMENT,
    STATUS_MEASUREMENT,
    TAP_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
)
from makerwatch.core.relay import has_relay
from makerwatch.core.site_config import LANGUAGES, SiteConfig

__all__ = ["Floor", "Tile"]

log = logging.getLogger(__name__)

PUSH_EVERY_S = 0.2
# The measurements a tile shows.
SHOWN = frozenset({TELEMETRY_MEASUREMENT, STATE_MEASUREMENT, STATUS_MEASUREMENT, TAP_MEASUREMENT})
PAGE_QUEUE = 256  # events a page may lag behind before it is dropped (it reconnects)


@dataclass
class Tile:
    device: str
    names: dict[str, str]
    kind: str
    relay: bool
    telemetry_period_s: float = 10.0
    silent_after_ms: int = 30_000
    machine: MachineStatus = field(default_factory=MachineStatus)
    state: str = NEVER_HEARD  # as shown: off, idle, active, no_signal or never_heard
    power_w: float | None = None
    temp_c: float | None = None
    rssi_dbm: int | None = None
    fw: str | None = None
    # A card key -> the member's short name, when the site file shows names (app.py).
    member_names: Callable[[str], str | None] | None = None

    def show(self, wall_ms: int) -> bool:
        """Recompute the state shown; returns whether it changed."""
        shown = self.machine.shown(wall_ms, self.silent_after_ms)
        changed, self.state = shown != self.state, shown
        return changed

    def to_json(self, named: bool = False) -> dict[str, Any]:
        """The tile as screens get it; the member's name only when `named` (a staff
        request): the stream and the open pages are public, a wall screen in the hall."""
        m = self.machine
        no_signal = self.state == NO_SIGNAL
        return {
            "device": self.device, "names": self.names, "kind": self.kind, "relay": self.relay,
            "state": self.state, "since_ms": m.state_since_ms, "on_since_ms": m.on_since_ms,
            "in_use_by": m.in_use_by(self.member_names) if named else None,
            # While there is no signal: since when, and the last state known (greyed).
            "no_signal_since_ms": m.no_signal_since_ms() if no_signal else None,
            "was": m.state if no_signal else None,
            "power_w": self.power_w, "temp_c": self.temp_c, "last_seen_ms": m.last_seen_ms,
            "rssi_dbm": self.rssi_dbm, "fw": self.fw, "telemetry_period_s": self.telemetry_period_s,
        }  # fmt: skip


class Floor:
    def __init__(self, config: SiteConfig, alerts: Callable[[], list[dict[str, Any]]]) -> None:
        self.tiles = {
            d.id: Tile(
                d.id,
                {language: d.name_in(language) for language in LANGUAGES},
                d.kind.value,
                has_relay(d),
                telemetry_period_s=d.telemetry_period_s,
                silent_after_ms=silent_after_ms(config, d),
            )
            for d in config.devices
        }
        self._alerts = alerts  # the alert engine's active alerts, as the page shows them
        self._shown_alerts: dict[str, str] = {}  # alert id -> as last sent, held time left out
        self._changed: set[str] = set()
        self._pages: set[asyncio.Queue[str]] = set()
        self.mqtt_connected = False
        self._shown_link: bool | None = None

    def show_names(self, names: Callable[[str], str | None]) -> None:
        """Name who is at each machine ("in use by Aigerim S.") to staff, names resolved
        by `names`."""
        for tile in self.tiles.values():
            tile.member_names = names

    def observe(self, points: Iterable[Point], heard_ms: int | None = None) -> None:
        """Points just stored (or known from a retained message), heard at wall time
        `heard_ms`, change their tiles."""
        seen: dict[str, int] = {}  # device -> the time its tile is shown at
        for point in points:
            tile = self.tiles.get(point.tags.get("device", ""))
            if tile is None or point.measurement not in SHOWN:
                continue
            fields = point.fields
            newest = tile.machine.last_seen_ms is None or point.time_ms >= tile.machine.last_seen_ms
            tile.machine.observe(point, heard_ms)
            if point.measurement == TELEMETRY_MEASUREMENT and newest:
                for name in ("power_w", "temp_c"):
                    if isinstance(fields.get(name), int | float):
                        setattr(tile, name, float(fields[name]))
            elif point.measurement == STATUS_MEASUREMENT:
                if isinstance(fields.get("rssi_dbm"), int):
                    tile.rssi_dbm = int(fields["rssi_dbm"])
                if isinstance(fields.get("fw"), str):
                    tile.fw = str(fields["fw"])
            seen[tile.device] = heard_ms if heard_ms is not None else point.time_ms
        for device, at_ms in seen.items():  # once a tile, as its last point left it
            self.tiles[device].show(at_ms)
            self._changed.add(device)

    def machines(self, wall_ms: int, named: bool = False) -> list[dict[str, Any]]:
        """Every machine as the board shows it now (for GET /machines and the chat);
        members named only when `named` (staff asked)."""
        for tile in self.tiles.values():
            tile.show(wall_ms)
        return [tile.to_json(named) for tile in self.tiles.values()]

    def snapshot(self, now_ms: int) -> str:
        """The whole floor as one server-sent event, for a page that just connected."""
        data = {
            "now_ms": now_ms,
            "mqtt_connected": self.mqtt_connected,
            "tiles": self.machines(now_ms),
            "alerts": self._alerts(),
        }
        return _event("snapshot", data)

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(PAGE_QUEUE)
        self._pages.add(queue)
        return queue

    def close(self) -> None:
        """The server is stopping: end every page's stream (they reconnect to the next one)."""
        for queue in list(self._pages):
            self._pages.discard(queue)
            _end(queue)

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._pages.discard(queue)

    def _broadcast(self, event: str) -> None:
        for queue in list(self._pages):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a page that stopped reading: it reconnects and resyncs
                self._pages.discard(queue)
                _end(queue)

    def push(self, now_ms: int) -> None:
        """Send what changed since the last push: tiles, alerts, the MQTT link."""
        if self._shown_link != self.mqtt_connected:
            self._shown_link = self.mqtt_connected
            self._broadcast(_event("link", {"mqtt_connected": self.mqtt_connected}))
        if not self._pages:  # no page open: nothing to tell (a page starts from a snapshot)
            self._changed.clear()
            return
        self._changed.update(d for d, tile in self.tiles.items() if tile.show(now_ms))
        for device in sorted(self._changed):
            self._broadcast(_event("tile", {"now_ms": now_ms, **self.tiles[device].to_json()}))
        self._changed.clear()
        changed, ended = self._alert_changes()
        if changed or ended:
            self._broadcast(
                _event("alerts", {"now_ms": now_ms, "changed": changed, "ended": ended})
            )

    def _alert_changes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The alerts new or changed since the last push, and the ids of those that ended.
        How long an alert has held is no change: the page counts it from the fired time,
        so a page is not sent the list every second while an alert is active."""
        alerts = {alert["alert_id"]: alert for alert in self._alerts()}
        shown = {
            alert_id: json.dumps(
                {key: value for key, value in alert.items() if key != "held_s"},
                sort_keys=True, default=str,
            )
            for alert_id, alert in alerts.items()
        }  # fmt: skip
        changed = [alerts[i] for i, text in shown.items() if self._shown_alerts.get(i) != text]
        ended = sorted(self._shown_alerts.keys() - shown.keys())
        self._shown_alerts = shown
        return changed, ended

    async def run(self, wall_ms: Callable[[], int], mqtt_connected: Callable[[], bool]) -> None:
        while True:
            await asyncio.sleep(PUSH_EVERY_S)  # the push cadence
            try:
                self.mqtt_connected = mqtt_connected()
                self.push(wall_ms())
            except Exception:  # the floor is for people: never let it stop ingest's loop
                log.exception("floor push failed")


def _end(queue: asyncio.Queue[str]) -> None:
    """Tell a page's stream to end (an empty event), even when its queue is full."""
    with contextlib.suppress(asyncio.QueueEmpty):
        if queue.full():
            queue.get_nowait()
    queue.put_nowait("")


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
