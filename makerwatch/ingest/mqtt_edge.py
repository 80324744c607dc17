"""The MQTT edge: the one module that reaches into aiomqtt's and paho's internals.

aiomqtt has no receive window and no manual acknowledgement, and paho spends more on
each incoming PUBLISH than everything else ingest does with it; what ingest needs of
both is built here, on their private names (aiomqtt's `_client`, `_loop`,
`_disconnected` and socket callbacks; paho's `_sock`, `_in_packet`, `_packet_queue` and
`_last_bytes_received`), so that a release of either that renames one breaks this file
alone (tests/ingest/test_source.py and test_backpressure.py run it against a real
Mosquitto; test_mqtt_edge.py holds our PUBLISH reader to paho's own decoder, split at
every byte). Everything else uses `FlowControlledClient`'s public methods.

- The receive window: ingest enforces its own Receive Maximum. Once that many messages
  are held unacknowledged it stops reading its socket, so TCP holds the broker back and
  a backlog of any size waits at the broker, not in ingest's memory (Mosquitto before
  2.0.13 sends a client more than the Receive Maximum it asked for).
- Manual acknowledgement: paho's, switched on for every client built here; `ack` sends
  the PUBACK once what a message carried is stored.
- Our own PUBLISH reader: paho decodes each PUBLISH into a message object, a message
  info with its lock and a property set whose tables it rebuilds, and logs it: a third
  of ingest's CPU in its profile (docs/benchmarks.md). `read_publish` takes a whole,
  well-formed PUBLISH straight from the bytes held; anything else (another packet, one
  not whole yet, a malformed one) is left to paho, which reads it exactly as before.
- Acknowledgements in one write: the PUBACKs a flush releases go out as one queued
  write on paho's own outgoing queue (in order with what else it sends), not one
  system call each.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import struct
import time
from typing import Any, NamedTuple

import aiomqtt
import paho.mqtt.client as paho

__all__ = [
    "READ_CHUNK_BYTES",
    "SESSION_TAKEN_OVER",
    "Arrival",
    "BufferedSocket",
    "FlowControlledClient",
    "read_publish",
]

READ_CHUNK_BYTES = 64 * 1024
SESSION_TAKEN_OVER = 0x8E  # MQTT v5 reason code (MQTT 5.0, 3.14.2.1)
_PUBACK = struct.Struct("!BBH")  # type, remaining length 2, packet id


class Arrival(NamedTuple):
    """One PUBLISH from the broker, as ingest uses it."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    mid: int


def _variable_int(buffer: bytes, at: int, end: int) -> tuple[int, int] | None:
    """MQTT's variable byte integer at `at` (at most four bytes) and where it ends."""
    value, shift = 0, 0
    while at < end and shift < 28:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return None


def read_publish(buffer: bytes, at: int, mqtt5: bool = True) -> tuple[Arrival, int] | None:
    """The PUBLISH packet starting at `at` and where the next packet starts, or None
    when what is there is not a whole, well-formed PUBLISH with a UTF-8 topic (paho
    reads that one instead)."""
    end = len(buffer)
    if at >= end or buffer[at] & 0xF0 != paho.PUBLISH:  # the type: the first byte's high four bits
        return None
    header = buffer[at]
    qos = (header >> 1) & 0x03
    length = _variable_int(buffer, at + 1, end)
    if qos > 1 or length is None:  # QoS 2 has its own handshake: paho's
        return None
    remaining, body = length
    packet_end = body + remaining
    topic_at = body + 2
    if packet_end > end or topic_at > packet_end:
        return None
    topic_end = topic_at + (buffer[body] << 8 | buffer[body + 1])
    after = topic_end + 2 if qos else topic_end  # a packet id at QoS 1
    if topic_end == topic_at or after > packet_end:
        return None  # an empty topic (a v5 topic alias, which ingest never allows) or too short
    mid = buffer[topic_end] << 8 | buffer[topic_end + 1] if qos else 0
    if mqtt5:
        properties = _variable_int(buffer, after, packet_end)
        if properties is None or properties[1] + properties[0] > packet_end:
            return None
        after = properties[1] + properties[0]
    try:
        topic = buffer[topic_at:topic_end].decode()
    except UnicodeDecodeError:
        return None
    return Arrival(topic, buffer[after:packet_end], bool(header & 0x01), qos, mid), packet_end


class BufferedSocket:
    """paho's socket, read in large chunks: paho asks for a packet's header a byte or
    two at a time, and a system call per read was a tenth of ingest's time. `pending`
    (which paho and the reader below already ask of TLS sockets) says what is held;
    `publish` takes the whole PUBLISH packet at the head of it."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._tls = hasattr(sock, "pending")  # TLS may hold decrypted bytes of its own
        self._held = b""
        self._at = 0  # what is held starts here
        self._error: OSError | None = None
        self.closed_by_peer = False  # an orderly close (EOF), not a reset or a timeout

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._held) and not self.closed_by_peer:
            if self._error is not None:  # met by `fill`, raised where paho reads
                error, self._error = self._error, None
                raise error
            data = self._sock.recv(max(size, READ_CHUNK_BYTES))  # BlockingIOError: none yet
            self._held, self._at = data, 0
            self.closed_by_peer = not self._held
        data = self._held[self._at : self._at + size]
        self._at += len(data)
        return data

    def fill(self) -> bool:
        """Read what the socket has if nothing is held. False when there is nothing to
        read yet; True when something is held, or an error or the end of the
        connection waits for paho's next read."""
        if self._at < len(self._held) or self.closed_by_peer or self._error is not None:
            return True
        try:
            self._held, self._at = self._sock.recv(READ_CHUNK_BYTES), 0
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except ssl.SSLWantWriteError:
            return True  # paho's read meets it again and waits for the socket to be writable
        except OSError as exc:
            self._error = exc
            return True
        self.closed_by_peer = not self._held
        return True

    def publish(self, mqtt5: bool) -> Arrival | None:
        """The whole PUBLISH at the head of what is held, taken off it, or None."""
        read = read_publish(self._held, self._at, mqtt5)
        if read is None:
            return None
        arrival, self._at = read
        return arrival

    def pending(self) -> int:
        inner = self._sock.pending() if self._tls else 0
        return len(self._held) - self._at + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FlowControlledClient(aiomqtt.Client):
    """aiomqtt's client, which stops reading its socket while `window` messages are held.

    aiomqtt reads the socket whenever it is readable and queues every message it
    decodes; this subclass keeps what arrives in its own inbox instead (aiomqtt's
    iterator starts a task per message, a fifth of ingest's time), counts what
    arrived and what was acknowledged, and takes the socket off the event loop from
    when the count reaches the window until half of it is acknowledged.
    """

    def __init__(self, window: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inbox: collections.deque[Arrival] = collections.deque()
        self._waiting: asyncio.Future[None] | None = None  # `arrivals` waits on it
        self._window = window
        self.held = 0  # decoded, not yet acknowledged
        self.full = False
        self.session_present = False
        self._fd: int | None = None
        self._reading = False
        self.taken_over = False  # the broker said so (DISCONNECT 0x8E)
        self.closed_by_broker = False  # the broker closed the connection, with or without a word
        self._buffered: BufferedSocket | None = None
        self._mqtt5 = self._client.protocol == paho.MQTTv5
        self._pubacks = bytearray()  # released by this turn of the event loop, not yet queued
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
        if qos == 1:
            if not self._pubacks:
                self._loop.call_soon(self._send_pubacks)
            self._pubacks += _PUBACK.pack(paho.PUBACK, 2, mid)
        elif qos == 2:
            self._client.ack(mid, qos)

    def _send_pubacks(self) -> None:
        """The PUBACKs released since the last call, as one write on paho's queue: paho
        writes a queued packet's bytes as they are, and sends each queued one with a
        system call of its own."""
        if not self._pubacks:
            return
        pubacks, self._pubacks = bytes(self._pubacks), bytearray()
        self._client._packet_queue(paho.PUBACK, pubacks, 0, 0)

    async def __aexit__(self, *exc_info: Any) -> None:
        # Ahead of the DISCONNECT that aiomqtt queues: released before leaving, they
        # would otherwise be dropped with the socket and delivered again next time.
        self._send_pubacks()
        await super().__aexit__(*exc_info)

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

    async def arrivals(self) -> collections.deque[Arrival]:
        """The inbox, once it holds a message; MqttError once the connection is gone.

        One bare future a wait, woken by an arrival or by the end of the connection (a
        task and `asyncio.wait` a wait cost more than what most reads bring)."""
        while not self.inbox:
            disconnected = self._disconnected
            if disconnected.done():
                raise aiomqtt.MqttError("disconnected") from disconnected.exception()
            self._waiting = self._loop.create_future()
            disconnected.add_done_callback(self._wake)
            try:
                await self._waiting
            finally:
                disconnected.remove_done_callback(self._wake)
                self._waiting = None
        return self.inbox

    def _wake(self, _: object = None) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        """A PUBLISH that paho read (one split across reads, or one ours left to it)."""
        arrival = Arrival(message.topic, bytes(message.payload), message.retain, message.qos, message.mid)  # fmt: skip
        self._arrive(arrival)

    def _arrive(self, arrival: Arrival) -> None:
        self.inbox.append(arrival)
        self._wake()
        self.held += 1
        if self.held >= self._window and not self.full:
            self.full = True
            self.update_reading()

    def _read(self) -> None:
        """aiomqtt's reader, as its own `_on_socket_open` registers it: the whole
        PUBLISH packets held are read here, anything else by paho, in the order they
        came, reading on while the socket holds more and the window allows."""
        client, buffered = self._client, self._buffered
        assert buffered is not None, "registered only once the socket is open (open_on_loop)"
        arrived = False
        try:
            while self._reading:
                # Not while paho is halfway through a packet of its own.
                between_packets = client._in_packet["command"] == 0
                if between_packets and not buffered.fill():
                    break  # nothing to read yet
                arrival = buffered.publish(self._mqtt5) if between_packets else None
                if arrival is not None:
                    arrived = True
                    self._arrive(arrival)
                else:
                    client.loop_read()  # another packet, the start of one, or the connection's end
                if not buffered.pending():
                    break
            if arrived:
                client._last_bytes_received = time.monotonic()  # what paho's keepalive reads
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
