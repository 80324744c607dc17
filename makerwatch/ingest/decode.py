"""Decode and validate one MQTT message into InfluxDB points, or say exactly why not.

Longer than 400 lines on purpose: each kind's decoding sits beside the one path to a
dead letter they share and the telemetry fast path, so every reason a message is
refused is read in one place.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from makerwatch.core.points import SIMULATED, SOURCE_TAG, FieldValue, Point, device_tags
from makerwatch.core.protocol import (
    EVENT_MEASUREMENT,
    MAX_BATCH_READINGS,
    MAX_JSON_DEPTH,
    STATE_MEASUREMENT,
    STATUS_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    BatchEnvelope,
    BoardMessage,
    DeadLetterReason,
    Event,
    KindSpec,
    Reading,
    State,
    Status,
    Telemetry,
    TelemetryBatch,
    TopicError,
    TopicParts,
    message_kind,
    parse_topic,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.core.usage import usage_segments
from makerwatch.ingest.clock import BoardClock, SteadyClock
from makerwatch.ingest.derived_state import DerivedStates
from makerwatch.ingest.errors import DecodeError
from makerwatch.ingest.stamps import Stamps

__all__ = ["Decoded", "Decoder", "json_too_deep"]

NS_PER_MS = 1_000_000
# What every board message carries and no point stores as a field: the version, the
# topic's echo, the simulator's mark (a tag), the time (the point's time).
_ENVELOPE = {"v", "site", "device", "sim", "ts"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One parser for every message (json.loads with an argument builds a new one per call).
_JSON = json.JSONDecoder(parse_constant=_reject_constant)
ADDRESSES_HELD = 8192  # topics whose site, device and kind are known; a few per board


def simulated(point: Point) -> Point:
    """A point from the simulator: the `source` tag keeps it apart from real data."""
    return point._replace(tags={**point.tags, SOURCE_TAG: SIMULATED})


# A JSON string (its brackets are text, not nesting), or an unterminated one to the end.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)


def json_too_deep(payload: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Does the JSON text nest arrays and objects deeper than `limit`? Checked on the
    bytes, before a parser can recurse into it."""
    if payload.count(b"[") + payload.count(b"{") <= limit:
        return False  # the common case, in C
    depth = 0
    for byte in _JSON_STRING.sub(b"", payload):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _valid_telemetry(payload: bytes) -> Telemetry | None:
    """Nearly every message is one valid reading: validated straight from its bytes by
    pydantic's own JSON parser (the same model, so the same schema), or None, and the
    message takes the path that says exactly what is wrong (json's and the model's
    texts, which dead letters carry) or finds a batch."""
    if json_too_deep(payload):
        return None
    try:
        return Telemetry.model_validate_json(payload)
    except ValidationError:
        return None


def _schema_detail(topic: str, error: ValidationError, where: str = "") -> str:
    problems = []
    for item in error.errors()[:5]:
        field_name = ".".join(str(part) for part in item["loc"]) or "payload"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r:.40})"
        problems.append(f"{where}{field_name}: {item['msg']}{shown}")
    return f"{topic}: " + "; ".join(problems)


@dataclass(slots=True)
class Decoded:
    """What a message carried: the points to store, what was refused (a batch's bad
    readings one by one, each a DecodeError with the refused part as payload; or the
    whole message, one without), and what the alerts should know without storing it
    again (a retained last will)."""

    points: list[Point] = field(default_factory=list)
    refused: list[DecodeError] = field(default_factory=list)
    known_only: list[Point] = field(default_factory=list)


class Decoder:
    """Turns (topic, payload) into points for one site's configuration."""

    def __init__(
        self,
        config: SiteConfig,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock`: the wall clock, carried across its steps by `monotonic`
        (makerwatch/ingest/clock.py); stamps are kept in the spool folder, if any."""
        self._config = config
        self.board_clock = BoardClock(config.ingest.max_clock_skew_s, monotonic)
        self._clock = SteadyClock(self.board_clock, clock, monotonic)
        spool = config.ingest.spool_dir
        self._stamps = Stamps(Path(spool) / f"stamps-{config.site.id}.log" if spool else None)
        self._last_stamp_ns = self._stamps.latest_ns
        self._derived = DerivedStates(config)
        # A topic's parts, device and kind row, and a device's tags, found once: every
        # board sends on the same few topics thousands of times a day.
        self._addresses: dict[str, tuple[TopicParts, Device, KindSpec]] = {}
        self._device_tags: dict[str, dict[str, str]] = {}

    def decode(self, topic: str, payload: bytes, retained: bool = False) -> Decoded:
        """The points to store, or raise DecodeError with a reason and a sentence.

        `retained` marks a retained message the broker replays on subscribing: it was
        stored when it was live, so one without a board time is not stored again. A
        source that states no machine state gets one from its readings (derived_state.py).
        """
        now = self._clock()
        decoded = self._decode(topic, payload, retained, now)
        decoded.points += self._derived.observe(decoded.points + decoded.known_only, now)
        return decoded

    def _decode(self, topic: str, payload: bytes, retained: bool, now: float) -> Decoded:
        parts, device, kind = self._address(topic)
        limit = self._config.ingest.max_payload_bytes
        if len(payload) > limit:
            raise DecodeError(
                DeadLetterReason.TOO_LARGE,
                f"{topic}: payload is {len(payload)} bytes, limit {limit}",
            )
        message: BaseModel | None = _valid_telemetry(payload) if kind.schema is Telemetry else None
        if message is None:
            body = self._json_object(topic, payload)
            if kind.batch is not None and "readings" in body:
                return self._batch(topic, parts, device, body, now)
            try:
                message = kind.schema.model_validate(body)
            except ValidationError as exc:
                raise DecodeError(DeadLetterReason.SCHEMA, _schema_detail(topic, exc)) from exc
        assert isinstance(message, BoardMessage), f"{kind.suffix}: a board's schema"
        self._check_echo(topic, parts, message)
        if isinstance(message, Status) and message.online and not retained:
            self._stamps.forget(device.id)  # a new boot: its seq starts again
        point = self._point(topic, device, message, now, kind)
        if retained and getattr(message, "ts", None) is None:
            # Stored when it was live (stamping it again would store it twice), but the
            # alerts must know it after a restart: a board's last will says it is offline.
            return Decoded(known_only=[point] if isinstance(message, Status | State) else [])
        if message.sim:
            point = simulated(point)
        if isinstance(message, State):
            oldest_ms = round((now - self._config.ingest.max_reading_age_s) * 1000)
            return Decoded([point, *usage_segments(point, oldest_ms)])
        return Decoded([point])

    def _batch(
        self, topic: str, parts: TopicParts, device: Device, body: dict[str, Any], now: float
    ) -> Decoded:
        """A board's offline buffer: each reading stored or refused on its own."""
        readings = body.get("readings")
        if not isinstance(readings, list) or not 1 <= len(readings) <= MAX_BATCH_READINGS:
            try:  # the envelope is wrong: say how, as the schema does
                TelemetryBatch.model_validate(body)
            except ValidationError as exc:
                raise DecodeError(DeadLetterReason.SCHEMA, _schema_detail(topic, exc)) from exc
        decoded = Decoded()
        valid: list[tuple[int, Reading]] = []
        for index, raw in enumerate(readings or []):
            where = f"readings.{index}: "
            try:
                reading = Reading.model_validate(raw)
            except ValidationError as exc:
                decoded.refused.append(self._refused(topic, raw, _schema_detail(topic, exc, where)))
                continue
            if reading.ts is None:  # stamped "now", buffered readings would all land on one moment
                detail = f"{topic}: {where}a buffered reading needs its ts"
                decoded.refused.append(self._refused(topic, raw, detail))
                continue
            valid.append((index, reading))
        if not valid:  # nothing to store: one dead letter for the message, not one per part
            raise DecodeError(
                DeadLetterReason.SCHEMA, "; ".join(e.detail for e in decoded.refused[:3])
            )
        try:
            envelope = BatchEnvelope.model_validate(
                {k: v for k, v in body.items() if k != "readings"}
            )
        except ValidationError as exc:
            raise DecodeError(DeadLetterReason.SCHEMA, _schema_detail(topic, exc)) from exc
        self._check_echo(topic, parts, envelope)
        mark = simulated if envelope.sim else (lambda point: point)
        for index, reading in valid:
            try:
                decoded.points.append(
                    mark(self._telemetry_point(topic, device, reading, now, f"readings.{index}: "))
                )
            except DecodeError as error:
                decoded.refused.append(
                    self._refused(topic, readings[index], error.detail, error.reason)  # type: ignore[index]
                )
        return decoded

    @staticmethod
    def _refused(
        topic: str, part: object, detail: str, reason: DeadLetterReason = DeadLetterReason.SCHEMA
    ) -> DecodeError:
        error = DecodeError(reason, detail)
        error.payload = json.dumps(part, ensure_ascii=False).encode("utf-8")
        return error

    def _address(self, topic: str) -> tuple[TopicParts, Device, KindSpec]:
        known = self._addresses.get(topic)
        if known is None:
            parts, device = self._parsed_address(topic)
            if len(self._addresses) >= ADDRESSES_HELD:  # bounded, whatever topics arrive
                self._addresses.clear()
            known = self._addresses[topic] = (parts, device, message_kind(parts.kind))
        return known

    def _parsed_address(self, topic: str) -> tuple[TopicParts, Device]:
        try:
            parts = parse_topic(topic)
        except TopicError as exc:
            raise DecodeError(DeadLetterReason.BAD_TOPIC, f"{topic}: {exc}") from exc
        if parts.site != self._config.site.id:
            raise DecodeError(
                DeadLetterReason.UNKNOWN_SITE,
                f"{topic}: site {parts.site!r} is not {self._config.site.id!r}",
            )
        device = self._config.device(parts.device)
        if device is None:
            raise DecodeError(
                DeadLetterReason.UNKNOWN_DEVICE,
                f"{topic}: device {parts.device!r} is not in the devices of site {parts.site!r}",
            )
        return parts, device

    @staticmethod
    def _json_object(topic: str, payload: bytes) -> dict[str, Any]:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                DeadLetterReason.NOT_UTF8, f"{topic}: payload is not UTF-8 ({exc.reason})"
            ) from exc
        if json_too_deep(payload):
            raise DecodeError(
                DeadLetterReason.TOO_DEEP,
                f"{topic}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
            )
        try:
            body = _JSON.decode(text)
        except ValueError as exc:
            raise DecodeError(
                DeadLetterReason.NOT_JSON, f"{topic}: payload is not JSON: {exc}"
            ) from exc
        if not isinstance(body, dict):
            raise DecodeError(
                DeadLetterReason.NOT_OBJECT,
                f"{topic}: payload is a JSON {type(body).__name__}, not an object",
            )
        return body

    @staticmethod
    def _check_echo(topic: str, parts: TopicParts, message: BoardMessage) -> None:
        if message.site is None and message.device is None:
            return  # most boards leave the echo out
        for what, said, actual in (
            ("site", message.site, parts.site),
            ("device", message.device, parts.device),
        ):
            if said is not None and said != actual:
                raise DecodeError(
                    DeadLetterReason.TOPIC_MISMATCH,
                    f"{topic}: payload says {what} {said!r}, topic says {actual!r}",
                )

    def _time(
        self,
        topic: str,
        device: Device,
        measurement: str,
        ts: float | None,
        seq: int | None,
        now: float,
        where: str,
    ) -> tuple[int, int]:
        """(time_ms, nanos) of a point: the board's time, or a unique server stamp."""
        if ts is None:
            return self._server_stamp((device.id, measurement, seq), now)
        settings = self._config.ingest
        self.board_clock.observe(device.id, ts, now)
        if self.board_clock.too_far_ahead(device.id, ts, now):
            raise DecodeError(
                DeadLetterReason.TS_IN_FUTURE,
                f"{topic}: {where}ts {ts} is {ts - now:.0f} s ahead of the server clock "
                "and of the other boards",
            )
        if ts < now - settings.max_reading_age_s:
            raise DecodeError(
                DeadLetterReason.TS_TOO_OLD,
                f"{topic}: {where}ts {ts} is {(now - ts) / 86400:.1f} days old",
            )
        time_ms = round(ts * 1000)
        # seq tells two readings of one millisecond apart; the same reading twice is one point.
        return time_ms, (seq or 0) % NS_PER_MS

    def _server_stamp(self, key: tuple[str, str, int | None], now: float) -> tuple[int, int]:
        """The receive time, unique to the nanosecond; a redelivery (the same device,
        measurement and seq) gets its first stamp, across a restart too."""
        device, measurement, seq = key
        stamp = self._stamps.get((device, measurement, seq)) if seq is not None else None
        if stamp is None:
            stamp = max(round(now * 1e9), self._last_stamp_ns + 1)
            self._last_stamp_ns = stamp
            if seq is not None:
                self._stamps.put((device, measurement, seq), stamp)
        return divmod(stamp, NS_PER_MS)

    def _point(
        self, topic: str, device: Device, message: BoardMessage, now: float, kind: KindSpec
    ) -> Point:
        """The point a board message is stored as, in its kind's measurement. Our board's
        own kinds have their points written out (floats, flags, a joined list); any
        other kind of the table is stored with its payload's fields as they are."""
        if isinstance(message, Telemetry):
            return self._telemetry_point(topic, device, message, now, "")
        if isinstance(message, State):
            return self._state_point(topic, device, message, now)
        if isinstance(message, Event):
            return self._event_point(topic, device, message, now)
        if isinstance(message, Status):
            return self._status_point(topic, device, message, now)
        return self._fields_point(topic, device, message, now, kind)

    def _fields_point(
        self, topic: str, device: Device, message: BoardMessage, now: float, kind: KindSpec
    ) -> Point:
        """A kind with no point of its own above: its payload's fields as they are."""
        ts, seq = getattr(message, "ts", None), getattr(message, "seq", None)
        assert kind.measurement is not None, f"{kind.suffix}: a board's kind has a measurement"
        time_ms, nanos = self._time(topic, device, kind.measurement, ts, seq, now, "")
        fields: dict[str, FieldValue] = {}
        for name in type(message).model_fields:
            value = None if name in _ENVELOPE else getattr(message, name)
            if isinstance(value, StrEnum):
                fields[name] = value.value
            elif isinstance(value, list):
                fields[name] = ",".join(str(item) for item in value)
            elif isinstance(value, bool | int | float | str):
                fields[name] = value
        return Point(kind.measurement, self._tags(device), fields, time_ms, nanos, ts is None)

    def _telemetry_point(
        self, topic: str, device: Device, reading: Reading, now: float, where: str
    ) -> Point:
        time_ms, nanos = self._time(topic, device, "telemetry", reading.ts, reading.seq, now, where)
        fields = cast("dict[str, FieldValue]", reading.measurements())  # a new dict each call
        fields["seq"] = reading.seq
        if reading.ts is None:
            fields["ts_from_server"] = True
        return Point(
            TELEMETRY_MEASUREMENT, self._tags(device), fields, time_ms, nanos, reading.ts is None
        )

    def _state_point(self, topic: str, device: Device, state: State, now: float) -> Point:
        time_ms, nanos = self._time(topic, device, "state", state.ts, state.seq, now, "")
        fields: dict[str, FieldValue] = {"state": state.state.value}
        if state.seq is not None:
            fields["seq"] = state.seq
        if state.previous is not None:
            fields["previous"] = state.previous.value
        if state.previous_duration_s is not None:
            fields["previous_duration_s"] = float(state.previous_duration_s)
        # "On since" while on; 0 when off or not known, so the newest value is always
        # the present one (Grafana shows each machine's last).
        fields["on_since_ms"] = round(state.on_since * 1000) if state.on_since is not None else 0
        return Point(
            STATE_MEASUREMENT, self._tags(device), fields, time_ms, nanos, state.ts is None
        )

    def _event_point(self, topic: str, device: Device, event: Event, now: float) -> Point:
        time_ms, nanos = self._time(topic, device, "event", event.ts, None, now, "")
        fields: dict[str, FieldValue] = {"event": event.event.value}
        for name in ("detail", "relay_on", "reason"):
            value = getattr(event, name)
            if value is not None:
                fields[name] = value
        return Point(
            EVENT_MEASUREMENT, self._tags(device), fields, time_ms, nanos, event.ts is None
        )

    def _status_point(self, topic: str, device: Device, status: Status, now: float) -> Point:
        time_ms, nanos = self._time(topic, device, "device_status", status.ts, None, now, "")
        fields: dict[str, FieldValue] = {"online": status.online}
        if status.fw is not None:
            fields["fw"] = status.fw
        if status.rssi_dbm is not None:
            fields["rssi_dbm"] = status.rssi_dbm
        if status.sensors is not None:
            fields["sensors"] = ",".join(status.sensors)
        if status.free_mem_bytes is not None:
            fields["free_mem_bytes"] = status.free_mem_bytes
        if status.buffer_dropped is not None:
            fields["buffer_dropped"] = status.buffer_dropped
        if status.taps_dropped is not None:
            fields["taps_dropped"] = status.taps_dropped
        return Point(
            STATUS_MEASUREMENT, self._tags(device), fields, time_ms, nanos, status.ts is None
        )

    def _tags(self, device: Device) -> dict[str, str]:
        """The device's tags, one dict shared by its points (no one changes a point's tags:
        a simulated point gets a new dict)."""
        tags = self._device_tags.get(device.id)
        if tags is None:
            tags = self._device_tags[device.id] = device_tags(self._config.site.id, device)
        return tags
