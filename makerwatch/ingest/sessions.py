"""Usage sessions (makerwatch/core/usage.py), written to the `session` measurement when a
machine returns to off.

Everything comes from what is already stored, so a restart loses nothing and a
session written twice is the same point: the session starts at the last state
change out of `off`; its energy is InfluxQL's trapezoidal integral of power_w.
A session is closed once a reading after its end has been written, so its last
readings are in. A session carries the card key (never a name) of the member whose
tap opened it: the last allowed tap at the machine shortly before it was switched
on, else the first during it (a board that only logs may be tapped after).
"""

from __future__ import annotations

import logging
from typing import Any

from makerwatch.core.machine_status import TAP_BEFORE_ON_MS
from makerwatch.core.points import SOURCE_TAG, FieldValue, Point, device_tags
from makerwatch.core.protocol import (
    STATE_MEASUREMENT,
    TAP_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    MachineState,
    TapResult,
)
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.errors import SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point

__all__ = ["SessionRecorder"]

log = logging.getLogger(__name__)

ON_STATES = (MachineState.IDLE, MachineState.ACTIVE)
# The taps that open a machine for someone.
OPENING_TAPS = f"(result = '{TapResult.ALLOWED.value}' OR result = '{TapResult.STAFF.value}')"


class SessionRecorder:
    def __init__(self, config: SiteConfig, influx: InfluxClient, counters: IngestCounters) -> None:
        self._config = config
        self._influx = influx
        self._counters = counters
        # device -> when it went off (and its source tag: simulated data stays apart),
        # until its tail is stored
        self._ending: dict[str, tuple[int, str | None]] = {}

    async def resume(self) -> None:
        """After a restart: pick up sessions that had ended but were not yet written."""
        site = self._config.site.id
        try:
            latest = await self._influx.query(  # the newest state point of each device
                f"SELECT state, previous FROM {STATE_MEASUREMENT} WHERE site = '{site}' "
                f'GROUP BY device, "{SOURCE_TAG}" ORDER BY time DESC LIMIT 1'
            )
        except SinkError as exc:
            log.warning("could not look for sessions to finish: %s", exc)
            return
        newest: dict[str, list[Any]] = {}  # device -> its newest state, of any source
        for series in latest:
            at_ms, state, previous = series["values"][0]
            device = series["tags"]["device"]
            if device not in newest or int(at_ms) > newest[device][0]:
                newest[device] = [int(at_ms), state, previous, series["tags"].get(SOURCE_TAG)]
        for device, (at_ms, state, previous, source) in newest.items():
            if state == MachineState.OFF and previous in ON_STATES:
                self._ending[device] = (at_ms, source or None)

    async def written(self, points: list[Point]) -> None:
        """Called by the writer with every batch it stored, before acknowledging it."""
        for point in points:
            if point.measurement == STATE_MEASUREMENT:
                if (
                    point.fields.get("state") == MachineState.OFF
                    and point.fields.get("previous") in ON_STATES
                ):
                    device = point.tags.get("device", "")
                    self._ending[device] = (point.time_ms, point.tags.get(SOURCE_TAG))
            elif self._ending and point.measurement == TELEMETRY_MEASUREMENT:  # rarely any
                device = point.tags.get("device", "")
                if point.time_ms > self._ending.get(device, (2**63, None))[0]:
                    await self._record(device, *self._ending.pop(device))

    async def _member(self, where: str, start_ms: int, end_ms: int) -> str | None:
        """The card key of whoever opened the session, or None."""
        taps = f'SELECT {{}}("key") FROM {TAP_MEASUREMENT} WHERE {where} AND {OPENING_TAPS} AND '
        for query in (
            taps.format("last")
            + f"time >= {start_ms - TAP_BEFORE_ON_MS}ms AND time <= {start_ms}ms",
            taps.format("first") + f"time > {start_ms}ms AND time < {end_ms}ms",
        ):
            found = await self._influx.query(query)
            if found:
                return str(found[0]["values"][0][1])
        return None

    async def _record(self, device_id: str, end_ms: int, source: str | None) -> None:
        device = self._config.device(device_id)
        if device is None:
            return
        where = f"site = '{self._config.site.id}' AND device = '{device_id}'"
        try:
            starts = await self._influx.query(
                f"SELECT last(state) FROM {STATE_MEASUREMENT} WHERE {where} AND previous = 'off' AND time < {end_ms}ms"
            )
            if not starts:
                return  # it was on before its board started: the start is unknown
            start_ms = int(starts[0]["values"][0][0])
            stats = await self._influx.query(
                "SELECT integral(power_w, 1h), max(power_w), max(temp_c) "
                f"FROM {TELEMETRY_MEASUREMENT} "
                f"WHERE {where} AND time >= {start_ms}ms AND time < {end_ms + 1}ms"  # the whole last ms
            )
            # InfluxDB 1.x answers the aggregate (integral) and the selectors (max) in
            # separate rows; take each column's value from whichever row has it.
            rows = stats[0]["values"] if stats else [[0, 0.0, 0.0, None]]
            _, energy_wh, peak_w, max_temp_c = (
                next((r[i] for r in rows if r[i] is not None), None) for i in range(4)
            )
            fields: dict[str, FieldValue] = {
                "duration_s": (end_ms - start_ms) / 1000,
                "energy_wh": float(energy_wh or 0.0),
                "peak_power_w": float(peak_w or 0.0),
            }
            if max_temp_c is not None:
                fields["max_temp_c"] = float(max_temp_c)
            member = await self._member(where, start_ms, end_ms)
            if member is not None:
                fields["member"] = member
            tags = device_tags(self._config.site.id, device)
            if source:
                tags[SOURCE_TAG] = source
            await self._influx.write([encode_point(Point("session", tags, fields, start_ms))])
            self._counters.sessions_written += 1
        except SinkError as exc:
            log.warning(
                "session of %s ending at %d not written (it can be recomputed from the data): %s",
                device_id,
                end_ms,
                exc,
            )
