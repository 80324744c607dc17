# A small MQTT 3.1.1 client for the board (docs/firmware.md, "Why this MQTT client").
#
# The socket is passed in (anything with sendall, recv and settimeout), so this
# module is pure and its exact bytes are tested on a PC. Every wait has a
# deadline, and every failure is an OSError: the runtime's one reconnect loop
# catches it, buffers readings and tries again later. Nothing blocks forever.
# Whatever a broker sends, a malformed packet is an MQTTError (an OSError) too:
# the stream can no longer be framed, so the connection is dropped (spec 4.8).
import struct

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
# errno values that mean "nothing waiting yet" from a non-blocking read: EAGAIN (11) on
# CPython and MicroPython, and on the ESP32 port also ETIMEDOUT (110, 116 in lwIP),
# EINPROGRESS (115, 119 in lwIP) and 118: the list mqtt_as keeps for that port.
NOTHING_WAITING = (11, 110, 115, 116, 118, 119)
# Packets one check_msg() handles at most: a long queue of commands kept for the board
# while it was away must not hold the loop (and its watchdog) until it is all read.
MAX_PACKETS_PER_CHECK = 10
# Packets read while waiting for one answer (a PUBACK, SUBACK, PINGRESP) before giving
# up: a broker streaming messages must not keep the board waiting past its watchdog.
MAX_PACKETS_WAITING = 100
# The largest packet the board takes in: its commands and config are a few hundred
# bytes, its access list up to about 14 KB (400 card keys, firmware/core/access.py), and
# a broker announcing megabytes must not exhaust a 111 KB heap. A PUBLISH over it is
# read and dropped a piece at a time (the connection stays framed, so a retained message
# too big for the board cannot keep it reconnecting); the runtime gets its topic alone.
MAX_PACKET_BYTES = 16 * 1024
SKIP_PIECE_BYTES = 512

CONNACK_ERRORS = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MQTTError(OSError):
    """A protocol-level failure; an OSError so the one reconnect loop handles it."""


def encode_length(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(value):
    data = value.encode() if isinstance(value, str) else bytes(value)
    return struct.pack(">H", len(data)) + data


def packet(first_byte, body):
    return bytes((first_byte,)) + encode_length(len(body)) + body


def connect_packet(client_id, keepalive_s, clean=True, will=None, user=None, password=None):
    """CONNECT (spec 3.1). `will` is (topic, payload, qos, retain)."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(message)
    if user:
        flags |= 0x80
        payload += _str(user)
        if password:
            flags |= 0x40
            payload += _str(password)
    header = _str("MQTT") + bytes((4, flags)) + struct.pack(">H", keepalive_s)
    return packet(CONNECT, header + payload)


def publish_packet(topic, payload, qos=0, retain=False, pid=0, dup=False):
    first = PUBLISH | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = _str(topic) + (struct.pack(">H", pid) if qos else b"")
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    return packet(first, body + data)


def subscribe_packet(pid, topic, qos):
    return packet(SUBSCRIBE, struct.pack(">H", pid) + _str(topic) + bytes((qos,)))


def _parse_publish(first, body):
    """(topic, packet id or None, payload) of a PUBLISH body, or MQTTError (spec 3.3)."""
    qos = (first >> 1) & 3
    if qos > 1:  # the board subscribes with QoS 1 at most; 3 is malformed
        raise MQTTError("PUBLISH with QoS %d" % qos)
    if len(body) < 2:
        raise MQTTError("PUBLISH too short (%d bytes)" % len(body))
    offset = 2 + struct.unpack(">H", body[:2])[0]
    if len(body) < offset + 2 * qos:
        raise MQTTError("PUBLISH topic runs past the packet")
    try:
        topic = body[2:offset].decode()
    except UnicodeError as exc:
        raise MQTTError("PUBLISH topic is not UTF-8") from exc
    pid = None
    if qos:
        pid = struct.unpack(">H", body[offset : offset + 2])[0]
        offset += 2
    return topic, pid, body[offset:]


def tls_socket(sock, server_hostname, ca_pem):
    """`sock`, connected, with TLS on it (the handshake is done here, under its timeout):
    only a certificate the site's CA (`ca_pem`) signed for `server_hostname` is trusted.
    The same ssl calls exist on CPython and on MicroPython 1.23+ (mbedtls)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cadata=ca_pem)
    except ValueError as exc:  # MicroPython's answer to a CA that does not parse
        raise MQTTError("the CA file is not a PEM certificate: %s" % exc) from exc
    tls = context.wrap_socket(sock, server_hostname=server_hostname)
    return TLSStream(tls, sock, getattr(ssl, "SSLWantReadError", ()))


class TLSStream:
    """A TLS connection with the calls MQTTClient makes (sendall, recv, settimeout, close),
    over CPython's SSLSocket or MicroPython's (which has read and write instead). Nothing
    to read yet is OSError(EAGAIN) on both, as on a plain socket."""

    def __init__(self, tls, raw, want_read):
        self.tls = tls
        self.raw = raw  # MicroPython: reads through TLS wait as long as this socket
        self.want_read = want_read  # CPython's "nothing waiting" (ssl.SSLWantReadError)

    def settimeout(self, timeout_s):
        if hasattr(self.tls, "settimeout"):
            self.tls.settimeout(timeout_s)
        else:
            self.raw.settimeout(timeout_s)

    def sendall(self, data):
        if hasattr(self.tls, "sendall"):
            self.tls.sendall(data)
            return
        view = memoryview(data)
        while view:
            sent = self.tls.write(view)
            if not sent:
                raise OSError(11)
            view = view[sent:]

    def recv(self, n):
        try:
            data = self.tls.recv(n) if hasattr(self.tls, "recv") else self.tls.read(n)
        except self.want_read as exc:
            raise OSError(11) from exc
        if data is None:  # MicroPython, non-blocking: nothing waiting
            raise OSError(11)
        return data

    def close(self):
        self.tls.close()


class MQTTClient:
    def __init__(self, sock, client_id, keepalive_s=30, timeout_s=5.0, on_message=None):
        self.sock = sock
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.timeout_s = timeout_s  # the longest any single wait may take
        self.on_message = on_message  # on_message(topic, payload bytes, or None: too big)
        self._pid = 0
        self._dropped = False  # the PUBLISH just read was over MAX_PACKET_BYTES

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _send(self, data):
        self.sock.settimeout(self.timeout_s)
        self.sock.sendall(data)

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise MQTTError("connection closed by broker")
            data += chunk
        return data

    def _read_packet(self, blocking=True):
        """(first byte, body) of the next packet, or None if none is waiting."""
        self.sock.settimeout(self.timeout_s if blocking else 0)
        try:
            first = self._read(1)[0]
        except OSError as exc:
            if not blocking and exc.args and exc.args[0] in NOTHING_WAITING:
                return None
            raise
        self.sock.settimeout(self.timeout_s)
        length, shift = 0, 0
        while True:
            byte = self._read(1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")
        if length > MAX_PACKET_BYTES:
            if first & 0xF0 != PUBLISH:
                raise MQTTError("packet 0x%02x of %d bytes is over the board's limit"
                                % (first, length))  # fmt: skip
            return first, self._skip_payload(first, length)
        return first, self._read(length) if length else b""

    def _skip_payload(self, first, length):
        """The topic and packet id of a PUBLISH over the limit; its payload read and dropped."""
        head = self._read(2)
        size = 2 + struct.unpack(">H", head)[0] + 2 * ((first >> 1) & 3)
        if size > length:
            raise MQTTError("PUBLISH topic runs past the packet")
        head += self._read(size - 2)
        left = length - size
        while left:
            left -= len(self._read(min(left, SKIP_PIECE_BYTES)))
        self._dropped = True
        return head

    def _handle(self, first, body):
        """Deal with an unsolicited packet; return (type, packet id) for the caller."""
        kind = first & 0xF0
        if kind == PUBLISH:
            topic, pid, payload = _parse_publish(first, body)
            if self._dropped:
                payload, self._dropped = None, False
            if self.on_message is not None:
                self.on_message(topic, payload)
            if pid is not None:
                self._send(packet(PUBACK, struct.pack(">H", pid)))
            return kind, None
        if kind in (PUBACK, SUBACK):
            if len(body) < 2 + (kind == SUBACK):
                raise MQTTError("packet 0x%02x too short (%d bytes)" % (first, len(body)))
            return kind, struct.unpack(">H", body[:2])[0]
        return kind, None

    def _wait_for(self, wanted, pid=None):
        """Read packets until `wanted` (with `pid`) arrives, handling others on the way."""
        for _ in range(MAX_PACKETS_WAITING):
            first, body = self._read_packet()
            kind, got_pid = self._handle(first, body)
            if kind == wanted and (pid is None or got_pid == pid):
                return body
        raise MQTTError("no answer 0x%02x among %d packets" % (wanted, MAX_PACKETS_WAITING))

    def connect(self, clean=True, will=None, user=None, password=None):
        """Connect; returns whether the broker still had this client's session (spec 3.2.2.2)."""
        self._send(connect_packet(self.client_id, self.keepalive_s, clean, will, user, password))
        first, body = self._read_packet()
        if first != CONNACK or len(body) != 2:
            raise MQTTError("expected CONNACK, got 0x%02x" % first)
        if body[1]:
            raise MQTTError(
                "broker refused connection: " + CONNACK_ERRORS.get(body[1], "code %d" % body[1])
            )
        return bool(body[0] & 1)

    def publish(self, topic, payload, qos=1, retain=False):
        """Publish; with QoS 1, return only once the broker has acknowledged it."""
        pid = self._next_pid() if qos else 0
        self._send(publish_packet(topic, payload, qos, retain, pid))
        if qos == 1:
            self._wait_for(PUBACK, pid)

    def subscribe(self, topic, qos=1):
        pid = self._next_pid()
        self._send(subscribe_packet(pid, topic, qos))
        body = self._wait_for(SUBACK, pid)
        if body[2:3] == b"\x80":
            raise MQTTError("subscription to %s refused" % topic)

    def ping(self):
        self._send(packet(PINGREQ, b""))
        self._wait_for(PINGRESP)

    def check_msg(self):
        """Handle the packets already waiting (MAX_PACKETS_PER_CHECK at most), without blocking."""
        for _ in range(MAX_PACKETS_PER_CHECK):
            waiting = self._read_packet(blocking=False)
            if waiting is None:
                return
            self._handle(*waiting)

    def disconnect(self):
        try:
            self._send(packet(DISCONNECT, b""))
        finally:
            self.sock.close()
