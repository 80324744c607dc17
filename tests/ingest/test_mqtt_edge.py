"""Our PUBLISH reader against paho's own encoder and decoder: the same messages, from
packets whole or split across reads at any byte, with paho still reading the rest; and
the acknowledgements it batches, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import collections
import itertools
import struct
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from makerwatch.ingest.mqtt_edge import Arrival, BufferedSocket, FlowControlledClient, read_publish
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.support import WAIT_TIMEOUT_S, publish

PINGRESP = b"\xd0\x00"

topics = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="+#\x00"),
    min_size=1,
    max_size=80,
)


@st.composite
def publishes(draw: st.DrawFn) -> tuple[bytes, Arrival]:
    """A PUBLISH as paho itself packs it (v5, with or without properties), and what it carries."""
    qos = draw(st.sampled_from([0, 1]))
    mid = draw(st.integers(1, 65535)) if qos else 0
    topic, payload = draw(topics), draw(st.binary(max_size=300))
    retain = draw(st.booleans())
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if draw(st.booleans()):
        properties.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
        properties.UserProperty = (draw(topics), draw(topics))
    sender = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    sender._sock = wire = _Wire()
    info = paho.MQTTMessageInfo(mid)
    sender._send_publish(
        mid, topic.encode(), payload, qos, retain, info=info, properties=properties
    )
    sender._sock = None
    return bytes(wire.sent), Arrival(topic, payload, retain, qos, mid)


class _Wire:
    """A socket that keeps what paho sends on it."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)


def _paho_decodes(packet: bytes) -> Arrival:
    """What paho's own decoder reads from a whole PUBLISH packet."""
    length, at, shift = 0, 1, 0
    while True:
        length |= (packet[at] & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not packet[at - 1] & 0x80:
            break
    done = _packet.decode_publish(packet[0], packet[at:], MQTTProtocolVersion.MQTTv5)
    return Arrival(done.topic.decode(), bytes(done.payload), done.retain, done.qos, done.mid)


@given(publishes())
@settings(max_examples=300, deadline=None)
def test_a_whole_publish_reads_as_paho_reads_it(sent: tuple[bytes, Arrival]) -> None:
    """Test that any PUBLISH paho packs reads back, by us and by paho, as what was sent."""
    packet, expected = sent
    assert read_publish(packet, 0) == (expected, len(packet))
    assert _paho_decodes(packet) == expected


@given(publishes())
def test_anything_not_a_whole_publish_is_left_to_paho(sent: tuple[bytes, Arrival]) -> None:
    """Test that a PUBLISH cut short anywhere, another packet, and a topic that is not
    UTF-8 are not read (paho reads them), and that the reader never reads past its packet."""
    packet, _ = sent
    for cut in range(len(packet)):
        assert read_publish(packet[:cut], 0) is None
    assert read_publish(PINGRESP + packet, 0) is None
    assert read_publish(PINGRESP + packet, 2) == (read_publish(packet, 0)[0], 2 + len(packet))  # type: ignore[index]
    not_utf8 = b"\x30\x06\x00\x02\xff\xfe\x00x"
    assert read_publish(not_utf8, 0) is None
    alias_only = b"\x30\x06\x00\x00\x03\x23\x00\x07"  # an empty topic and a topic alias
    assert read_publish(alias_only, 0) is None
    qos2 = bytes([0x34]) + packet[1:] if packet[0] & 0x06 == 0x02 else None  # its handshake: paho's
    assert qos2 is None or read_publish(qos2, 0) is None


class _Chunks:
    """A socket that has the given chunks to read, one a read, then nothing yet."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = collections.deque(chunks)

    def recv(self, size: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.popleft()
        if len(chunk) > size:
            self.chunks.appendleft(chunk[size:])
        return chunk[:size]

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.chunks.clear()


async def _read_all(stream: bytes, cuts: list[int]) -> list[Arrival]:
    """Every message a client reads from `stream` delivered in pieces cut at `cuts`,
    one read event a piece, as the event loop would call it."""
    bounds = [0, *sorted(set(cuts)), len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    client = FlowControlledClient(window=10_000, hostname="127.0.0.1", protocol=paho.MQTTv5)
    sock = _Chunks([])
    client._client._sock = client._buffered = BufferedSocket(sock)
    client._reading = True  # as update_reading leaves it once the socket is open
    client._client._state = paho._ConnectionState.MQTT_CS_CONNECTED
    for chunk in chunks:
        sock.chunks.append(chunk)
        client._read()
    assert not client._disconnected.done(), client._disconnected
    return list(client.inbox)


@given(st.lists(publishes(), min_size=1, max_size=8), st.data())
@settings(max_examples=150, deadline=None)
async def test_a_stream_cut_at_any_bytes_reads_the_same_messages_in_order(
    sent: list[tuple[bytes, Arrival]], data: Any
) -> None:
    """Test that PUBLISH packets with paho's packets between them, arriving in pieces
    cut anywhere (a packet split across reads is read by paho), give every message
    once, in order, and that the other packets still reach paho."""
    stream = b"".join(packet + PINGRESP for packet, _ in sent)
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=6))
    assert await _read_all(stream, cuts) == [arrival for _, arrival in sent]


async def test_every_single_byte_cut_of_a_stream_reads_the_same() -> None:
    """Test each cut of a stream of two publishes and a PINGRESP, byte by byte."""
    one = b"\x32" + bytes([2 + 4 + 2 + 1 + 2]) + b"\x00\x04a/b/" + struct.pack("!H", 7) + b"\x00{}"
    two = b"\x30" + bytes([2 + 3 + 1 + 1]) + b"\x00\x03c/d\x00x"
    stream = one + PINGRESP + two
    expected = [Arrival("a/b/", b"{}", False, 1, 7), Arrival("c/d", b"x", False, 0, 0)]
    for cut in range(1, len(stream)):
        assert await _read_all(stream, [cut]) == expected, cut
    assert await _read_all(stream, list(range(1, len(stream)))) == expected


def _session_client(port: int) -> FlowControlledClient:
    """Ingest's kind of client: a persistent MQTT v5 session, acknowledged by hand."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 600
    return FlowControlledClient(
        window=100, hostname="127.0.0.1", port=port, identifier="edge-test",
        protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=properties,
    )  # fmt: skip


async def test_an_acknowledgement_released_just_before_leaving_reaches_the_broker(
    mosquitto: EmbeddedMosquitto,
) -> None:
    """Test that a PUBACK released in the very turn the client leaves goes out ahead of
    its DISCONNECT: the real broker's session does not deliver that message again."""
    async with _session_client(mosquitto.port) as client:
        await client.subscribe("edge/+", qos=1)
        await publish(mosquitto.port, [("edge/first", b"1")])
        first = (await client.arrivals()).popleft()
        client.ack(first.mid, first.qos)  # and leave at once, as ingest does after its last flush
    async with _session_client(mosquitto.port) as again:
        await publish(mosquitto.port, [("edge/marker", b"2")])
        arrived: list[str] = []
        while "edge/marker" not in arrived:
            inbox = await asyncio.wait_for(again.arrivals(), WAIT_TIMEOUT_S)
            arrived += [inbox.popleft().topic for _ in range(len(inbox))]
    assert arrived == ["edge/marker"], "the first message came again: its PUBACK was lost"
