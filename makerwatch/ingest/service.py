"""The ingest service: MQTT source -> decoder -> batch writer, with one reconnect loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from makerwatch.alerts.notifier import Notifier
from makerwatch.alerts.service import AlertService
from makerwatch.api.http import serve
from makerwatch.core.protocol import DEAD_LETTER_TOPIC, TOPIC_ROOT, MessageKind
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.errors import DecodeError, SinkError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.sessions import SessionRecorder
from makerwatch.ingest.spool import Spool
from makerwatch.ingest.writer import BatchWriter

__all__ = ["IngestService"]

log = logging.getLogger(__name__)

RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0
DRAIN_TIMEOUT_S = 10.0
LOGGED_PAYLOAD_CHARS = 200
DEAD_LETTER_PAYLOAD_CHARS = 4096


def _shown(payload: bytes, limit: int) -> str:
    text = payload[: limit * 4].decode("utf-8", errors="backslashreplace")
    return text if len(text) <= limit else text[:limit] + "..."


class IngestService:
    def __init__(self, config: SiteConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.counters = IngestCounters()
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = asyncio.Event()
        self._decoder = Decoder(config, clock)
        self._clock = clock
        self._client: aiomqtt.Client | None = None

    @property
    def topics(self) -> list[str]:
        # Every site, not only ours: a board flashed with a wrong site slug is
        # dead-lettered as unknown_site instead of going unnoticed.
        kinds = (MessageKind.TELEMETRY, MessageKind.STATE, MessageKind.STATUS, MessageKind.EVENT)
        return [f"{TOPIC_ROOT}/+/+/{kind.value}" for kind in kinds]

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then write what is held, acknowledge it and return."""
        settings, alerts = self.config.ingest, self.config.alerts
        async with InfluxClient(self.config.influxdb) as influx:
            self._influx = influx
            await self._prepare_database(influx)
            sessions = SessionRecorder(self.config, influx, self.counters)
            await sessions.resume()
            self.spool = (
                Spool(Path(settings.spool_dir), settings.spool_max_bytes)
                if settings.spool_dir
                else None
            )
            writer = self._writer = BatchWriter(
                influx, settings, self.counters, self._dead_letter, sessions.written, self.spool,
                drained=sessions.resume,  # sessions that ended while InfluxDB was away
            )  # fmt: skip
            self.notifier = Notifier(alerts.channels, alerts.language)
            self.alerts = AlertService(self.config, writer, self.notifier)
            self.notifier.start()
            api = (
                await serve(self, settings.http_host, settings.http_port)
                if settings.http_port is not None
                else None
            )
            background = [
                asyncio.create_task(writer.run()),
                asyncio.create_task(self.alerts.run_clock()),
            ]
            if self.spool is not None:
                background.append(asyncio.create_task(writer.replay_forever()))
            try:
                await self._reconnect_forever(writer, stop)
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self.notifier.close()
                if api is not None:
                    await api.cleanup()

    async def health(self) -> dict[str, object]:
        """For /healthz: is each dependency there, and how much is waiting."""
        return {
            "mqtt_connected": self.subscribed.is_set(),
            "influxdb_reachable": await self._influx.ping(),
            "unacknowledged_messages": self.unacknowledged,
            "spool_bytes": self.spool.bytes_pending if self.spool else 0,
            "active_alerts": len(self.alerts.engine.alerts),
        }

    @property
    def unacknowledged(self) -> int:
        return self._writer.unacknowledged

    async def _prepare_database(self, influx: InfluxClient) -> None:
        """Create the database if InfluxDB is there; if not, carry on: writes spool or
        wait, and create it when InfluxDB comes back."""
        try:
            await influx.ensure_database()
        except SinkError as exc:
            log.warning("InfluxDB not reachable at start: %s", exc)

    async def _reconnect_forever(self, writer: BatchWriter, stop: asyncio.Event) -> None:
        delay = RECONNECT_FIRST_S
        while not stop.is_set():
            try:
                await self._session(writer, stop)
                delay = RECONNECT_FIRST_S
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                self.counters.mqtt_reconnects += 1
                settings = self.config.mqtt
                log.warning(
                    "MQTT %s:%d: %s; reconnecting in %.1f s",
                    settings.host,
                    settings.port,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    def _mqtt_client(self) -> aiomqtt.Client:
        settings = self.config.mqtt
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_s
        properties.ReceiveMaximum = settings.receive_maximum
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password,
            identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            # Never start clean: the broker keeps what arrived while ingest was away.
            clean_start=False,
            properties=properties,
            keepalive=30,
            # Without it Nagle's algorithm meets the broker's delayed ACK: ~40 ms per QoS 1 publish.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        # aiomqtt has no manual acknowledgement of its own; paho's is used so a
        # message is acknowledged only after its points are written (DESIGN.md).
        client._client.manual_ack_set(True)
        return client

    async def _session(self, writer: BatchWriter, stop: asyncio.Event) -> None:
        async with self._mqtt_client() as client:
            self._client = client
            # Alert topics first: their retained messages must be back before any state.
            for topic in [*self.alerts.topics, *self.topics]:
                await client.subscribe(topic, qos=1)
            await self.alerts.connected(client)
            self.subscribed.set()
            log.info("subscribed to %s", ", ".join(self.topics))
            consume = asyncio.create_task(self._consume(client, writer))
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({consume, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if consume in done:
                stopping.cancel()
                consume.result()  # raises the MqttError that ended the session
                return
            consume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consume
            # Still connected: write what is held and acknowledge it before leaving.
            try:
                await asyncio.wait_for(writer.flush(), DRAIN_TIMEOUT_S)
            except TimeoutError:
                log.warning("InfluxDB did not take the last batch in time; the broker keeps it")

    async def _consume(self, client: aiomqtt.Client, writer: BatchWriter) -> None:
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            ack = self._ack_for(client, message.mid, message.qos)
            if await self.alerts.handle(topic, payload, message.retain):
                await writer.submit(topic, payload, [], ack)
                continue
            self.counters.messages_received += 1  # board messages; alert topics are not counted
            try:
                points = self._decoder.decode(topic, payload, message.retain)
            except DecodeError as error:
                await self._dead_letter(topic, payload, error)
                points = []
            await writer.submit(topic, payload, points, ack)
            try:
                await self.alerts.observe(points)
            except Exception:  # a fault in alerting must never stop ingestion
                log.exception("alert engine failed on %s", topic, extra={"topic": topic})

    def _ack_for(self, client: aiomqtt.Client, mid: int, qos: int) -> Callable[[], None]:
        def ack() -> None:
            # After a reconnect the broker re-sends unacknowledged messages and may
            # reuse their ids: an old connection's acknowledgement must not go out.
            if client is self._client and qos > 0:
                client._client.ack(mid, qos)

        return ack

    async def _dead_letter(self, topic: str, payload: bytes, error: DecodeError) -> None:
        self.counters.dead_lettered[error.reason] += 1
        shown = _shown(payload, LOGGED_PAYLOAD_CHARS)
        log.warning(
            "dead-lettered (%s) %s payload=%r", error.reason, error.detail, shown,
            extra={"topic": topic, "reason": error.reason, "payload": shown},
        )  # fmt: skip
        record = {
            "v": 1,
            "reason": error.reason,
            "error": error.detail,
            "topic": topic,
            "payload": _shown(payload, DEAD_LETTER_PAYLOAD_CHARS),
            "payload_bytes": len(payload),
            "received_at": round(self._clock(), 3),
        }
        assert self._client is not None
        await self._client.publish(DEAD_LETTER_TOPIC, json.dumps(record, ensure_ascii=False), qos=1)
