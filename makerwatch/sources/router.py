"""The table of sources applied to one site: each plug's topics to its family, every
other topic to our board's decoder, and each plug's message made into the same points
a board's would be (telemetry, status, a relay event), with its machine's state
derived from its power by the board's own state machine (ingest/derived_state.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.points import FieldValue, Point, device_tags
from makerwatch.core.protocol import (
    EVENT_MEASUREMENT,
    STATUS_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    DeadLetterReason,
    EventKind,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.ingest.decode import Decoded, simulated
from makerwatch.ingest.derived_state import DerivedStates
from makerwatch.ingest.errors import DecodeError
from makerwatch.sources.board import BoardSource
from makerwatch.sources.family import Family, Parsed, Unreadable
from makerwatch.sources.table import family_of

__all__ = ["SiteSources"]

NS_PER_MS = 1_000_000


class SiteSources:
    """A site's decoder: a plug's topic to its family, any other to the board's."""

    def __init__(
        self,
        config: SiteConfig,
        board: BoardSource,
        clock: Callable[[], float] = time.time,
        prefix: str = "",
    ) -> None:
        """`prefix`: what the plugs' topics arrive under (central ingest reads them as a
        site's bridge puts them, `bridged_plugs_prefix`); a site's ingest, none."""
        self._config, self.board, self._clock = config, board, clock
        self._zone = ZoneInfo(config.site.timezone)
        self._prefix = prefix
        self._routes: dict[str, list[tuple[Device, Family[Any]]]] = {}
        for device in config.devices:
            family = family_of(device)
            if family is not None:
                for topic in family.topics(device.source):
                    self._routes.setdefault(prefix + topic, []).append((device, family))
        self._derived = DerivedStates(config)
        self._relay_on: dict[str, bool] = {}  # each plug's last known relay position
        self._full_status_heard: set[str] = set()  # plugs heard on their full status topic
        self._last_stamp_ns = 0

    def subscriptions(self) -> list[str]:
        """The board's topics, then each plug's own."""
        return [*self.board.subscriptions(), *self.plug_topics()]

    def plug_topics(self) -> list[str]:
        """Each plug's own topics, as they arrive here."""
        return list(self._routes)

    def decode(self, topic: str, payload: bytes, retained: bool = False) -> Decoded:
        routes = self._routes.get(topic)
        if routes is None:
            return self.board.decode(topic, payload, retained)
        limit = self._config.ingest.max_payload_bytes
        if len(payload) > limit:
            raise DecodeError(
                DeadLetterReason.TOO_LARGE,
                f"{topic}: payload is {len(payload)} bytes, limit {limit}",
            )
        now = self._clock()
        decoded = Decoded()
        topic = topic[len(self._prefix) :]  # as the plug sent it
        for device, family in routes:
            try:
                parsed = family.parse(device.source, topic, payload, self._zone)
            except Unreadable as exc:
                raise DecodeError(exc.reason, f"{exc.detail} (device {device.id!r})") from exc
            parsed = self._once(device, family, topic, parsed)
            points = self._points(device, parsed, now)
            if retained:  # stored when it was live; a last will still tells the alerts
                decoded.known_only += [p for p in points if p.measurement == STATUS_MEASUREMENT]
            else:
                decoded.points += points
        decoded.points += self._derived.observe(decoded.points + decoded.known_only, now)
        return decoded

    def _once(self, device: Device, family: Family[Any], topic: str, parsed: Parsed) -> Parsed:
        """Each measurement once: a plug heard on its full status topic has its readings
        from there alone (Shelly Gen2+ sends an instant's change on both)."""
        full_status = family.full_status(device.source)
        if topic == full_status:
            self._full_status_heard.add(device.id)
            return parsed
        return parsed.without_measurements() if device.id in self._full_status_heard else parsed

    def _points(self, device: Device, parsed: Parsed, now: float) -> list[Point]:
        tags = device_tags(self._config.site.id, device)
        time_ms, nanos, from_server = self._stamp(parsed.ts, now)
        points = []
        if parsed.readings:
            fields: dict[str, FieldValue] = {**parsed.readings, **parsed.extra}
            if from_server:
                fields["ts_from_server"] = True
            points.append(Point(TELEMETRY_MEASUREMENT, tags, fields, time_ms, nanos, from_server))
        elif parsed.extra:  # the plug's own figures (its Wi-Fi signal) with its status
            points.append(
                Point(
                    STATUS_MEASUREMENT,
                    tags,
                    {"online": True, **parsed.extra},
                    time_ms,
                    nanos,
                    from_server,
                )
            )
        if parsed.online is not None:
            points.append(
                Point(
                    STATUS_MEASUREMENT,
                    tags,
                    {"online": parsed.online},
                    time_ms,
                    nanos + 1,
                    from_server,
                )
            )
        if parsed.relay_on is not None and self._relay_on.get(device.id) != parsed.relay_on:
            self._relay_on[device.id] = parsed.relay_on
            fields = {"event": EventKind.RELAY.value, "relay_on": parsed.relay_on}
            points.append(Point(EVENT_MEASUREMENT, tags, fields, time_ms, nanos + 2, from_server))
        return [simulated(p) for p in points] if parsed.simulated else points

    def _stamp(self, ts: float | None, now: float) -> tuple[int, int, bool]:
        """(time_ms, nanos, from the server): the payload's time when the plug's clock
        agrees with ours (a plug buffers nothing, so a time far from now is a wrong or
        unsynchronised clock), else the arrival, unique to the nanosecond."""
        if ts is not None and abs(ts - now) <= self._config.ingest.max_clock_skew_s:
            return round(ts * 1000), 0, False
        stamp = max(round(now * 1e9), self._last_stamp_ns + 3)
        self._last_stamp_ns = stamp
        time_ms, nanos = divmod(stamp, NS_PER_MS)
        return time_ms, min(nanos, NS_PER_MS - 3), True
