"""The MQTT side of ingest: one persistent MQTT v5 session, one reconnect loop,
acknowledgement by hand, and publishing for the rest of the application.

Messages are handed on with an `ack` to call once what they carried is stored;
an acknowledgement from an earlier connection is never sent on a later one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from makerwatch.core.site_config import MqttSettings
from makerwatch.ingest.counters import IngestCounters

__all__ = ["Ack", "MessageHandler", "MqttSource"]

log = logging.getLogger(__name__)

Ack = Callable[[], None]
# (topic, payload, retained, ack) for each message, in arrival order.
MessageHandler = Callable[[str, bytes, bool, Ack], Awaitable[None]]

RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0


class MqttSource:
    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: Sequence[str],
        handle: MessageHandler,
        counters: IngestCounters,
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._subscriptions = list(subscriptions)  # in order: retained alerts first
        self._handle = handle
        self._counters = counters
        self._on_connected = on_connected
        self._client: aiomqtt.Client | None = None
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = asyncio.Event()

    async def run(self, stop: asyncio.Event, before_leaving: Callable[[], Awaitable[None]]) -> None:
        """Stay connected until `stop` is set; then, still connected, await
        `before_leaving` (write and acknowledge what is held) and return."""
        delay = RECONNECT_FIRST_S
        while not stop.is_set():
            try:
                await self._session(stop, before_leaving)
                delay = RECONNECT_FIRST_S
            except aiomqtt.MqttError as exc:
                if self.subscribed.is_set():  # a session that worked: the next blip starts afresh
                    delay = RECONNECT_FIRST_S
                self.subscribed.clear()
                self._counters.mqtt_reconnects += 1
                log.warning(
                    "MQTT %s:%d: %s; reconnecting in %.1f s",
                    self._settings.host, self._settings.port, exc, delay,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        if self._client is None:
            log.warning("not connected: %s not published", topic)
            return
        try:
            await self._client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish %s: %s", topic, exc)

    def _client_for_session(self) -> aiomqtt.Client:
        settings = self._settings
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
        # message is acknowledged only after its points are written (docs/ingest.md).
        client._client.manual_ack_set(True)
        return client

    async def _session(
        self, stop: asyncio.Event, before_leaving: Callable[[], Awaitable[None]]
    ) -> None:
        async with self._client_for_session() as client:
            self._client = client
            for topic in self._subscriptions:
                await client.subscribe(topic, qos=1)
            if self._on_connected is not None:
                await self._on_connected()
            self.subscribed.set()
            log.info("subscribed to %s", ", ".join(self._subscriptions))
            consume = asyncio.create_task(self._consume(client))
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({consume, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if consume in done:
                stopping.cancel()
                consume.result()  # raises the MqttError that ended the session
                return
            consume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consume
            await before_leaving()

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            ack = self._ack_for(client, message.mid, message.qos)
            await self._handle(message.topic.value, payload, message.retain, ack)

    def _ack_for(self, client: aiomqtt.Client, mid: int, qos: int) -> Ack:
        def ack() -> None:
            # After a reconnect the broker re-sends unacknowledged messages and may
            # reuse their ids: an old connection's acknowledgement must not go out.
            if client is self._client and qos > 0:
                client._client.ack(mid, qos)

        return ack
