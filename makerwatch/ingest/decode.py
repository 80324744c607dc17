"""Decode and validate one MQTT message into InfluxDB points, or say exactly why not."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from makerwatch.core.points import FieldValue, Point, device_tags
from makerwatch.core.protocol import (
    DeadLetterReason,
    Event,
    MessageKind,
    Reading,
    State,
    Status,
    Telemetry,
    TelemetryBatch,
    TopicError,
    TopicParts,
    parse_topic,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.ingest.errors import DecodeError

__all__ = ["Decoder"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _schema_detail(topic: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:5]:
        field = ".".join(str(part) for part in item["loc"]) or "payload"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r:.40})"
        problems.append(f"{field}: {item['msg']}{shown}")
    return f"{topic}: " + "; ".join(problems)


class Decoder:
    """Turns (topic, payload) into points for one site's configuration."""

    def __init__(self, config: SiteConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock

    def decode(self, topic: str, payload: bytes, retained: bool = False) -> list[Point]:
        """Points for InfluxDB, or raise DecodeError with a reason and a sentence.

        `retained` marks a stored retained message replayed on subscribe.
        """
        parts, device = self._address(topic)
        limit = self._config.ingest.max_payload_bytes
        if len(payload) > limit:
            raise DecodeError(
                DeadLetterReason.TOO_LARGE,
                f"{topic}: payload is {len(payload)} bytes, limit {limit}",
            )
        body = self._json_object(topic, payload)
        model: type[Telemetry | TelemetryBatch | Status | State | Event]
        if parts.kind is MessageKind.TELEMETRY:
            model = TelemetryBatch if "readings" in body else Telemetry
        elif parts.kind is MessageKind.STATE:
            model = State
        elif parts.kind is MessageKind.EVENT:
            model = Event
        else:
            model = Status
        try:
            message = model.model_validate(body)
        except ValidationError as exc:
            raise DecodeError(DeadLetterReason.SCHEMA, _schema_detail(topic, exc)) from exc
        self._check_echo(topic, parts, message)
        now = self._clock()
        if isinstance(message, TelemetryBatch):
            return [
                self._telemetry_point(topic, device, r, now, i)
                for i, r in enumerate(message.readings)
            ]
        if isinstance(message, Telemetry):
            return [self._telemetry_point(topic, device, message, now, None)]
        if isinstance(message, State):
            if retained and message.ts is None:
                return []  # already stored when it was live; stamping it again would double-count
            return [self._state_point(topic, device, message, now)]
        if isinstance(message, Event):
            return [self._event_point(topic, device, message, now)]
        return [self._status_point(topic, device, message, now)]

    def _address(self, topic: str) -> tuple[TopicParts, Device]:
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
        try:
            body = json.loads(text, parse_constant=_reject_constant)
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
    def _check_echo(
        topic: str, parts: TopicParts, message: Telemetry | TelemetryBatch | Status | State | Event
    ) -> None:
        for what, said, actual in (
            ("site", message.site, parts.site),
            ("device", message.device, parts.device),
        ):
            if said is not None and said != actual:
                raise DecodeError(
                    DeadLetterReason.TOPIC_MISMATCH,
                    f"{topic}: payload says {what} {said!r}, topic says {actual!r}",
                )

    def _timestamp(self, topic: str, ts: float | None, now: float, where: str) -> float:
        if ts is None:
            return now
        settings = self._config.ingest
        if ts > now + settings.max_clock_skew_s:
            raise DecodeError(
                DeadLetterReason.TS_IN_FUTURE,
                f"{topic}: {where}ts {ts} is {ts - now:.0f} s ahead of the server clock",
            )
        if ts < now - settings.max_reading_age_s:
            raise DecodeError(
                DeadLetterReason.TS_TOO_OLD,
                f"{topic}: {where}ts {ts} is {(now - ts) / 86400:.1f} days old",
            )
        return ts

    def _telemetry_point(
        self, topic: str, device: Device, reading: Reading, now: float, index: int | None
    ) -> Point:
        where = "" if index is None else f"readings.{index}: "
        if index is not None and reading.ts is None:
            # Buffered readings stamped "now" would all land on one timestamp.
            raise DecodeError(
                DeadLetterReason.SCHEMA, f"{topic}: {where}a buffered reading needs its ts"
            )
        ts = self._timestamp(topic, reading.ts, now, where)
        fields: dict[str, FieldValue] = dict(reading.measurements())
        fields["seq"] = reading.seq
        if reading.ts is None:
            fields["ts_from_server"] = True
        return Point("telemetry", self._tags(device), fields, round(ts * 1000))

    def _state_point(self, topic: str, device: Device, state: State, now: float) -> Point:
        ts = self._timestamp(topic, state.ts, now, "")
        fields: dict[str, FieldValue] = {"state": state.state.value}
        if state.seq is not None:
            fields["seq"] = state.seq
        if state.previous is not None:
            fields["previous"] = state.previous.value
        if state.previous_duration_s is not None:
            fields["previous_duration_s"] = float(state.previous_duration_s)
        return Point("state", self._tags(device), fields, round(ts * 1000))

    def _event_point(self, topic: str, device: Device, event: Event, now: float) -> Point:
        ts = self._timestamp(topic, event.ts, now, "")
        fields: dict[str, FieldValue] = {"event": event.event.value}
        for name in ("detail", "relay_on", "reason"):
            value = getattr(event, name)
            if value is not None:
                fields[name] = value
        return Point("event", self._tags(device), fields, round(ts * 1000))

    def _status_point(self, topic: str, device: Device, status: Status, now: float) -> Point:
        ts = self._timestamp(topic, status.ts, now, "")
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
        return Point("device_status", self._tags(device), fields, round(ts * 1000))

    def _tags(self, device: Device) -> dict[str, str]:
        return device_tags(self._config.site.id, device)
