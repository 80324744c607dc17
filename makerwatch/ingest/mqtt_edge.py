"""The MQTT edge: the one module that reaches into aiomqtt's and paho's internals.

aiomqtt has no receive window and no manual acknowledgement, and paho rebuilds its
property tables for every message; what ingest needs of both is built here, on their
private names (aiomqtt's `_client`, `_loop`, `_disconnected` and socket callbacks;
paho's `_sock` and `_packet`), so that a release of either that renames one breaks this
file alone (tests/ingest/test_source.py and test_backpressure.py run it against a real
Mosquitto; test_mqtt_edge.py reads paho's packets with the shared tables). Everything
else uses `FlowControlledClient`'s public methods.

- The receive window: ingest enforces its own Receive Maximum. Once that many messages
  are held unacknowledged it stops reading its socket, so TCP holds the broker back and
  a backlog of any size waits at the broker, not in ingest's memory (Mosquitto before
  2.0.13 sends a client more than the Receive Maximum it asked for).
- Manual acknowledgement: paho's, switched on for every client built here; `ack` sends
  the PUBACK once what a message carried is stored.
- Shared property tables: paho builds `Properties` for every PUBLISH it receives, and
  each one rebuilds the same two tables of property names and types: about 7 us a
  message, the largest single cost in ingest's profile (docs/benchmarks.md).
  `SharedTableProperties` keeps the tables on the class and is used for the PUBLISH
  packets paho decodes; it is paho's own class otherwise, so every property reads,
  packs and prints the same. The fix belongs in paho itself; until it lands there,
  `use_shared_tables()` puts it in for this process.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = [
    "READ_CHUNK_BYTES",
    "SESSION_TAKEN_OVER",
    "BufferedSocket",
    "FlowControlledClient",
    "SharedTableProperties",
    "use_shared_tables",
]

READ_CHUNK_BYTES = 64 * 1024
SESSION_TAKEN_OVER = 0x8E  # MQTT v5 reason code (MQTT 5.0, 3.14.2.1)

_TABLES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class SharedTableProperties(Properties):
    # Read through the instance, as paho's methods do; never written after this.
    types = _TABLES.types
    names = _TABLES.names
    properties = _TABLES.properties

    def __init__(self, packetType: int) -> None:  # paho's name
        object.__setattr__(self, "packetType", packetType)


def use_shared_tables() -> None:
    """Decode every incoming PUBLISH's properties with the shared tables (idempotent)."""
    setattr(_packet, "Properties", SharedTableProperties)  # noqa: B010 (paho's private name)


class BufferedSocket:
    """paho's socket, read in large chunks: paho asks for a packet's header a byte or
    two at a time, and a system call per read was a tenth of ingest's time. `pending`
    (which paho and the reader below already ask of TLS sockets) says what is held."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._held = b""
        self.closed_by_peer = False  # an orderly close (EOF), not a reset or a timeout

    def recv(self, size: int) -> bytes:
        if not self._held:
            self._held = self._sock.recv(max(size, READ_CHUNK_BYTES))  # BlockingIOError: none yet
            self.closed_by_peer = not self._held
        data, self._held = self._held[:size], self._held[size:]
        return data

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._held) + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FlowControlledClient(aiomqtt.Client):
    """aiomqtt's client, which stops reading its socket while `window` messages are held.

    aiomqtt reads the socket whenever it is readable and queues every message it
    decodes; this subclass keeps paho's messages in its own inbox instead (aiomqtt's
    iterator starts a task per message, a fifth of ingest's time), counts what
    arrived and what was acknowledged, and takes the socket off the event loop from
    when the count reaches the window until half of it is acknowledged.
    """

    def __init__(self, window: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inbox: collections.deque[paho.MQTTMessage] = collections.deque()
        self._arrived = asyncio.Event()
        self._window = window
        self.held = 0  # decoded, not yet acknowledged
        self.full = False
        self.session_present = False
        self._fd: int | None = None
        self._reading = False
        self.taken_over = False  # the broker said so (DISCONNECT 0x8E)
        self.closed_by_broker = False  # the broker closed the connection, with or without a word
        self._buffered: BufferedSocket | None = None
        # aiomqtt has no manual acknowledgement of its own; paho's is used so a
        # message is acknowledged only after its points are written (docs/ingest.md).
        self._client.manual_ack_set(True)

    def ack(self, mid: int, qos: int) -> None:
        """One message handed on is done with: free its place in the window and, at
        QoS 1 or 2, acknowledge it to the broker."""
        self.held -= 1
        if self.full and self.held <= self._window // 2:
            self.full = False
        self.update_reading()
        if qos > 0:
            self._client.ack(mid, qos)

    def update_reading(self) -> None:
        """Read the socket unless the window is full."""
        read = not self.full
        if self._fd is None or read == self._reading:
            return
        self._reading = read
        if read:
            self._loop.add_reader(self._fd, self._read)
            self._loop.call_soon(self._read)  # TLS may hold decrypted bytes already
        else:
            self._loop.remove_reader(self._fd)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any = None,
    ) -> None:
        self.session_present = bool(flags.session_present)
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any = None,
    ) -> None:
        if getattr(flags, "is_disconnect_packet_from_server", False):
            self.closed_by_broker = True
            self.taken_over = getattr(reason_code, "value", None) == SESSION_TAKEN_OVER
        elif self._buffered is not None and self._buffered.closed_by_peer:
            self.closed_by_broker = True  # paho has let go of the socket by now
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    async def arrivals(self) -> collections.deque[paho.MQTTMessage]:
        """The inbox, once it holds a message; MqttError once the connection is gone."""
        while not self.inbox:
            self._arrived.clear()
            arrived: asyncio.Future[Any] = asyncio.ensure_future(self._arrived.wait())
            waiting: set[asyncio.Future[Any]] = {arrived, self._disconnected}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                arrived.cancel()
            if self._disconnected.done() and not self.inbox:
                raise aiomqtt.MqttError("disconnected") from self._disconnected.exception()
        return self.inbox

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.inbox.append(message)
        self._arrived.set()
        self.held += 1
        if self.held >= self._window:
            self.full = True
        self.update_reading()

    def _read(self) -> None:
        """aiomqtt's reader, as its own `_on_socket_open` registers it, reading on while
        the socket holds more (and the window allows)."""
        try:
            while True:
                self._client.loop_read()
                sock = self._client._sock
                if isinstance(sock, BufferedSocket) and sock.pending() > 0 and self._reading:
                    continue
                break
        except Exception as exc:  # a broken connection: end the session, as aiomqtt does
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Called from the thread aiomqtt connects in: loop operations are handed over.
        def open_on_loop() -> None:
            self._client._sock = self._buffered = BufferedSocket(sock)
            self._fd = sock.fileno()
            self.update_reading()
            self._misc_task = self._loop.create_task(self._misc_loop())

        self._loop.call_soon_threadsafe(open_on_loop)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._fd, self._reading = None, False  # the number may belong to another socket next
        super()._on_socket_close(client, userdata, sock)
