"""The MQTT side of ingest: one persistent MQTT v5 session, one reconnect loop,
acknowledgement by hand, and publishing for the rest of the application.

Messages are handed on with an `ack` to call once what they carried is stored;
an acknowledgement from an earlier connection is never sent on a later one.

Only one process may hold the session. When another connects with the same client id,
the broker takes the session over: an MQTT v5 broker says so (DISCONNECT, reason 0x8E);
Mosquitto 2.0.11 only closes the connection, exactly as when it stops. So a close by
the broker of a session that had just begun counts as a takeover from the third in a
row on (a restarting broker refuses or keeps the next connection; a takeover closes it
again at once). The process that loses says which client id another process holds and
stops (SessionTakenOver): two processes would otherwise take the session from each other
for ever, each judging alerts on what it could not observe.

Ingest enforces its own Receive Maximum (back-pressure) through the flow-controlled
client of ingest/mqtt_edge.py, the one module that touches aiomqtt's and paho's
internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.core.backoff import Backoff
from makerwatch.core.site_config import MqttSettings
from makerwatch.ingest.counters import IngestCounters
from makerwatch.ingest.errors import IngestError
from makerwatch.ingest.mqtt_edge import FlowControlledClient

__all__ = ["Ack", "MessageHandler", "MqttSource", "SessionTakenOver"]

log = logging.getLogger(__name__)

Ack = Callable[[], None]
# (topic, payload, retained, ack) for each message, in arrival order.
MessageHandler = Callable[[str, bytes, bool, Ack], Awaitable[None]]

RECONNECT_FIRST_MS = 500
RECONNECT_MAX_MS = 30_000
DRAIN_PUBLISHES_S = 5.0
# A session the broker closes sooner than this after it began may have been taken over...
SETTLED_SESSION_S = 10.0
# ...and this many such closes in a row, without a DISCONNECT saying why, are a takeover.
SILENT_CLOSES_FOR_A_TAKEOVER = 3
# aiomqtt warns ("There are N pending publish calls") above 10 publishes awaiting their
# PUBACK, a limit for a client that awaits each one. Ingest sends without waiting, and a
# start sends a burst of about ten a machine (Home Assistant's discovery and values, the
# access lists): the example site with discovery on passed 10 at every start. Above this
# many, the broker is not acknowledging what ingest sends, which is worth a warning.
PENDING_PUBLISHES_WARNING = 5000


class SessionTakenOver(IngestError):
    """Another process connected with this client id: the broker gave it the session."""


class MqttSource:
    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: Sequence[str],
        handle: MessageHandler,
        counters: IngestCounters,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        handed_on: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._handed_on = handed_on  # awaited once all that arrived together is handed on
        self._subscriptions = list(subscriptions)  # in order: retained alerts first
        self._handle = handle
        self._counters = counters
        self._on_connected = on_connected
        self._client: FlowControlledClient | None = None
        self.will: aiomqtt.Will | None = None  # published by the broker if ingest vanishes
        # Told when the window is full and all it holds is handed on: nothing more
        # arrives until acknowledgements go out, so the writer should flush now.
        self.window_full: Callable[[], None] = lambda: None
        self._publishing: set[asyncio.Task[None]] = set()
        self._began: float | None = None  # when the current session was accepted (monotonic)
        # Set while subscribed; tests and `makerwatch up` wait on it.
        self.subscribed = asyncio.Event()

    async def run(self, stop: asyncio.Event, before_leaving: Callable[[], Awaitable[None]]) -> None:
        """Stay connected until `stop` is set; then, still connected, await
        `before_leaving` (write and acknowledge what is held) and return."""
        backoff = Backoff(first_ms=RECONNECT_FIRST_MS, max_ms=RECONNECT_MAX_MS)
        closes = 0  # the broker's closes in a row, each of a session that had just begun
        while not stop.is_set():
            self._began = None
            try:
                await self._session(stop, before_leaving)
                backoff.reset()
            except aiomqtt.MqttError as exc:
                worked = self.subscribed.is_set()
                self.subscribed.clear()  # nothing is judged from here on: we do not observe
                closes = self._closes_so_far(closes)
                client = self._client
                reason = str(exc)
                if self._began is not None and client is not None and client.closed_by_broker:
                    reason = "the broker closed the connection"
                if worked and not closes:  # a session that worked: the next blip starts afresh
                    backoff.reset()
                delay = backoff.next_s()
                self._counters.mqtt_reconnects += 1
                log.warning(
                    "MQTT %s:%d: %s; reconnecting in %.1f s",
                    self._settings.host, self._settings.port, reason, delay,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    def _closes_so_far(self, closes: int) -> int:
        """After a session ended: the count of closes that look like a takeover, or
        SessionTakenOver once it is one."""
        client, began = self._client, self._began
        if client is None or began is None:
            return closes  # no session this time (refused, unreachable): nothing taken
        settings = self._settings
        holder = f"MQTT {settings.host}:{settings.port}: another process holds client id {settings.client_id!r}"
        if settings.username:  # a provisioned broker takes the user name as the client id
            holder += f" (or user {settings.username!r})"
        advice = (
            "stopping; stop the other one, or give each ingest its own client id (mqtt.client_id)"
        )
        if client.taken_over:
            raise SessionTakenOver(
                f"{holder} (the broker took the session over: MQTT v5 reason 0x8E); {advice}"
            )
        if not client.closed_by_broker or time.monotonic() - began >= SETTLED_SESSION_S:
            return 0
        closes += 1
        if closes >= SILENT_CLOSES_FOR_A_TAKEOVER:
            raise SessionTakenOver(
                f"{holder} (the broker closed the session {closes} times in a row as soon as it "
                f"began, as it does when another client connects with the same id); {advice}"
            )
        return closes

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Send at QoS 1, in call order, without waiting for the broker's PUBACK: that
        comes in on the socket behind the messages the window holds back, so waiting
        for it here could wait for ever."""
        client = self._client
        if client is None:
            log.warning("not connected: %s not published", topic)
            return
        task = asyncio.create_task(self._publish(client, topic, payload, retain))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    @property
    def publishing(self) -> int:
        """Publishes sent and not yet acknowledged by the broker."""
        return len(self._publishing)

    @staticmethod
    async def _publish(
        client: aiomqtt.Client, topic: str, payload: str | bytes, retain: bool
    ) -> None:
        try:
            await client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish %s: %s", topic, exc)

    def _client_for_session(self) -> FlowControlledClient:
        settings = self._settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_s
        properties.ReceiveMaximum = settings.receive_maximum
        client = FlowControlledClient(
            window=settings.receive_maximum,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            # Never start clean: the broker keeps what arrived while ingest was away.
            clean_start=False,
            properties=properties,
            keepalive=30,
            will=self.will,
            # Without it Nagle's algorithm meets the broker's delayed ACK: ~40 ms per QoS 1 publish.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        client.pending_calls_threshold = PENDING_PUBLISHES_WARNING
        return client

    async def _session(
        self, stop: asyncio.Event, before_leaving: Callable[[], Awaitable[None]]
    ) -> None:
        async with self._client_for_session() as client:
            self._client = client
            self._began = time.monotonic()
            renewing = await self._subscribe(client)
            if self._on_connected is not None:
                await self._on_connected()
            self.subscribed.set()
            log.info("subscribed to %s", ", ".join(self._subscriptions))
            if self._counters.mqtt_reconnects:  # a session before this one was lost
                log.warning("MQTT %s:%d is back", self._settings.host, self._settings.port)
            try:
                await self._consume_until(client, stop, before_leaving)
            finally:
                for task in renewing:
                    task.cancel()

    async def _subscribe(self, client: FlowControlledClient) -> list[asyncio.Task[Any]]:
        """Subscribe, in order. A session the broker kept has its subscriptions, and
        perhaps a backlog queued ahead of the SUBACKs that the window holds back:
        they are renewed without waiting (the tasks returned)."""
        if not client.session_present:
            for topic in self._subscriptions:
                await client.subscribe(topic, qos=1)
            return []
        return [
            asyncio.create_task(client.subscribe(topic, qos=1, timeout=math.inf))
            for topic in self._subscriptions
        ]

    async def _consume_until(
        self,
        client: FlowControlledClient,
        stop: asyncio.Event,
        before_leaving: Callable[[], Awaitable[None]],
    ) -> None:
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
        if self._publishing:  # what was sent, acknowledged by the broker before leaving
            await asyncio.wait(self._publishing, timeout=DRAIN_PUBLISHES_S)

    async def _consume(self, client: FlowControlledClient) -> None:
        while True:
            inbox = await client.arrivals()
            # What has arrived by now, told on as one; more may arrive meanwhile (the
            # writer's flush awaits), and goes with the next.
            for _ in range(len(inbox)):
                message = inbox.popleft()
                ack = self._ack_for(client, message.mid, message.qos)
                await self._handle(message.topic, message.payload, message.retain, ack)
            if self._handed_on is not None:
                await self._handed_on()
            if client.full and not inbox:
                self.window_full()  # all it holds is handed on: nothing more comes until acks

    def _ack_for(self, client: FlowControlledClient, mid: int, qos: int) -> Ack:
        def ack() -> None:
            # After a reconnect the broker re-sends unacknowledged messages and may
            # reuse their ids: an old connection's acknowledgement must not go out.
            if client is self._client:
                client.ack(mid, qos)

        return ack
