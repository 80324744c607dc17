"""The board's MQTT client: exact bytes on a scripted socket, deadlines, errors as OSError."""

from firmware.core import mqtt
from tests.firmware.core.expect import raises


class ScriptedSocket:
    """A socket whose incoming bytes are scripted; it records what is sent."""

    def __init__(self, incoming=b""):
        self.incoming = bytearray(incoming)
        self.sent = bytearray()
        self.timeout = None
        self.closed = False

    def settimeout(self, seconds):
        self.timeout = seconds

    def sendall(self, data):
        self.sent += data

    def recv(self, n):
        if not self.incoming:
            raise OSError(11 if self.timeout == 0 else 110)  # EAGAIN / ETIMEDOUT
        chunk = bytes(self.incoming[:n])
        self.incoming = self.incoming[n:]
        return chunk

    def close(self):
        self.closed = True


def test_remaining_length_matches_the_spec_table():
    """Test the variable-length encoding against MQTT 3.1.1 table 2.4."""
    assert mqtt.encode_length(0) == b"\x00"
    assert mqtt.encode_length(127) == b"\x7f"
    assert mqtt.encode_length(128) == b"\x80\x01"
    assert mqtt.encode_length(16383) == b"\xff\x7f"
    assert mqtt.encode_length(16384) == b"\x80\x80\x01"


def test_connect_bytes_with_will_and_credentials():
    """Test the exact CONNECT packet: flags, keepalive, will and credentials."""
    sock = ScriptedSocket(b"\x20\x02\x00\x00")
    client = mqtt.MQTTClient(sock, "b1", keepalive_s=30)
    client.connect(will=("t", "x", 1, True), user="u", password="p")
    expected_body = (
        b"\x00\x04MQTT\x04"
        + bytes((0x02 | 0x04 | 0x08 | 0x20 | 0x80 | 0x40,))
        + b"\x00\x1e"
        + b"\x00\x02b1"
        + b"\x00\x01t"
        + b"\x00\x01x"
        + b"\x00\x01u"
        + b"\x00\x01p"
    )
    assert bytes(sock.sent) == b"\x10" + bytes((len(expected_body),)) + expected_body


def test_refused_connection_names_the_reason():
    """Test that a CONNACK refusal becomes an OSError saying why."""
    client = mqtt.MQTTClient(ScriptedSocket(b"\x20\x02\x00\x05"), "b1")
    error = raises(OSError, client.connect)
    assert "not authorised" in str(error)


def test_qos1_publish_returns_after_its_puback():
    """Test that publish sends QoS 1 bytes and returns once the matching PUBACK arrives."""
    sock = ScriptedSocket(b"\x40\x02\x00\x01")
    mqtt.MQTTClient(sock, "b1").publish("a/b", "hi", qos=1, retain=True)
    assert bytes(sock.sent) == b"\x33\x09\x00\x03a/b\x00\x01hi"


def test_missing_puback_is_an_error_not_a_hang():
    """Test that a broker that never acknowledges raises instead of blocking forever."""
    client = mqtt.MQTTClient(ScriptedSocket(), "b1", timeout_s=0.01)
    raises(OSError, client.publish, "a", "x", 1)


def test_incoming_message_is_delivered_and_acknowledged():
    """Test that a QoS 1 message from the broker reaches the callback and gets a PUBACK."""
    received = []
    sock = ScriptedSocket(b"\x32\x0a\x00\x03c/r\x00\x07" + b"off")
    client = mqtt.MQTTClient(sock, "b1", on_message=lambda t, p: received.append((t, p)))
    client.check_msg()
    assert received == [("c/r", b"off")]
    assert bytes(sock.sent) == b"\x40\x02\x00\x07"


def test_check_msg_returns_at_once_when_nothing_waits():
    """Test that polling with nothing waiting neither blocks nor raises."""
    client = mqtt.MQTTClient(ScriptedSocket(), "b1")
    client.check_msg()


def test_every_esp32_nothing_waiting_errno_is_nothing_waiting_and_others_are_errors():
    """Test that a poll meeting any of the errno values the ESP32 port uses for "no data
    yet" returns quietly, while a reset connection is an error."""

    class Busy(ScriptedSocket):
        def __init__(self, errno_value):
            ScriptedSocket.__init__(self)
            self.errno_value = errno_value

        def recv(self, n):
            raise OSError(self.errno_value)

    for busy in mqtt.NOTHING_WAITING:
        mqtt.MQTTClient(Busy(busy), "b1").check_msg()
    raises(OSError, mqtt.MQTTClient(Busy(104), "b1").check_msg)  # ECONNRESET


def test_closed_connection_is_an_error():
    """Test that the broker closing the socket surfaces as OSError."""

    class Closed(ScriptedSocket):
        def recv(self, n):
            return b""

    raises(OSError, mqtt.MQTTClient(Closed(), "b1").ping)


def test_subscribe_waits_for_suback_and_detects_refusal():
    """Test SUBSCRIBE bytes and that a 0x80 return code is an error."""
    sock = ScriptedSocket(b"\x90\x03\x00\x01\x01")
    mqtt.MQTTClient(sock, "b1").subscribe("x/cmd/#", qos=1)
    assert bytes(sock.sent) == b"\x82\x0c\x00\x01\x00\x07x/cmd/#\x01"
    refused = mqtt.MQTTClient(ScriptedSocket(b"\x90\x03\x00\x01\x80"), "b1")
    raises(OSError, refused.subscribe, "x", 1)


def test_malformed_packets_from_the_broker_are_one_error_class():
    """Test that a truncated PUBLISH, a non-UTF-8 topic, QoS 3, a short SUBACK or PUBACK
    and an oversized packet each raise MQTTError (an OSError the loop reconnects on)."""
    huge = mqtt.encode_length(mqtt.MAX_PACKET_BYTES + 1)
    for incoming in (
        b"\x30\x01\x00",  # PUBLISH whose topic length is cut
        b"\x30\x03\x00\x05a",  # topic runs past the packet
        b"\x32\x05\x00\x03a/b",  # QoS 1 without its packet id
        b"\x30\x04\x00\x02\xff\xfe",  # topic not UTF-8
        b"\x36\x04\x00\x01a\x00",  # QoS 3
        b"\x90\x02\x00\x01",  # SUBACK without a return code
        b"\x40\x01\x00",  # PUBACK without a full packet id
        b"\x90" + huge,  # more than the board takes in (a PUBLISH is skipped instead)
        b"\x30\xff\xff\xff\xff\x01",  # remaining length of five bytes
    ):
        for call in ("check_msg", "ping"):
            client = mqtt.MQTTClient(ScriptedSocket(incoming), "b1", on_message=lambda t, p: None)
            raises(mqtt.MQTTError, getattr(client, call))


def test_a_publish_on_any_topic_is_delivered_as_text():
    """Test that a topic the board never subscribed to (a broker's $SYS) still arrives as
    text for the runtime to ignore, and is acknowledged."""
    received = []
    sock = ScriptedSocket(b"\x32\x0a\x00\x04$SYS\x00\x09up")
    client = mqtt.MQTTClient(sock, "b1", on_message=lambda t, p: received.append((t, p)))
    client.check_msg()
    assert received == [("$SYS", b"up")]
    assert bytes(sock.sent) == b"\x40\x02\x00\x09"


def test_a_long_queue_is_read_a_few_packets_per_check():
    """Test that one check_msg handles a bounded number of waiting messages, so a long queue
    kept for the board while it was away cannot hold its loop; the next call goes on."""
    one = b"\x30\x05\x00\x01a{}"
    received = []
    sock = ScriptedSocket(one * (mqtt.MAX_PACKETS_PER_CHECK + 3))
    client = mqtt.MQTTClient(sock, "b1", on_message=lambda t, p: received.append(t))
    client.check_msg()
    assert len(received) == mqtt.MAX_PACKETS_PER_CHECK
    client.check_msg()
    assert len(received) == mqtt.MAX_PACKETS_PER_CHECK + 3


def test_a_stream_of_messages_cannot_keep_the_board_waiting_for_its_ack():
    """Test that a broker streaming messages instead of the PUBACK is an error after a
    bounded number of packets, not a wait without end."""
    one = b"\x30\x05\x00\x01a{}"
    sock = ScriptedSocket(one * mqtt.MAX_PACKETS_WAITING + b"\x40\x02\x00\x01")
    raises(mqtt.MQTTError, mqtt.MQTTClient(sock, "b1").publish, "t", "x", 1)
    sock = ScriptedSocket(one * (mqtt.MAX_PACKETS_WAITING - 1) + b"\x40\x02\x00\x01")
    mqtt.MQTTClient(sock, "b1").publish("t", "x", 1)


def test_a_publish_over_the_limit_is_skipped_and_the_connection_stays():
    """Test that a message too big for the board (a retained one would come back at every
    reconnect) reaches the runtime as its topic with no payload, is acknowledged, and the
    next packet is read as usual."""
    topic = b"s/d/access"
    body = b"\x00\x0a" + topic + b"\x00\x07" + b"x" * (mqtt.MAX_PACKET_BYTES + 100)
    big = b"\x32" + mqtt.encode_length(len(body)) + body
    received = []
    sock = ScriptedSocket(big + b"\x30\x05\x00\x01a{}")
    client = mqtt.MQTTClient(sock, "b1", on_message=lambda t, p: received.append((t, p)))
    client.check_msg()
    assert received == [("s/d/access", None), ("a", b"{}")]
    assert bytes(sock.sent) == b"\x40\x02\x00\x07"
