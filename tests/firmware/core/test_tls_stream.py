"""The TLS adapter the MQTT client talks through: MicroPython's TLS socket (read and write,
None when nothing waits) and CPython's (recv, sendall, SSLWantReadError) look alike."""

from firmware.core import mqtt
from tests.firmware.core.expect import raises


class WantRead(OSError):
    """CPython's ssl.SSLWantReadError, as the adapter is told of it."""


class MicroPythonTLS:
    """MicroPython's SSLSocket: read/write, no recv/sendall/settimeout; partial writes."""

    def __init__(self, incoming=b""):
        self.incoming = bytearray(incoming)
        self.written = bytearray()
        self.closed = False

    def read(self, n):
        if not self.incoming:
            return None  # non-blocking, nothing waiting
        chunk = bytes(self.incoming[:n])
        self.incoming = self.incoming[n:]
        return chunk

    def write(self, data):
        self.written += bytes(data[:3])  # three bytes at a time: the rest is written again
        return min(3, len(data))

    def close(self):
        self.closed = True


class RawSocket:
    def __init__(self):
        self.timeout = None

    def settimeout(self, seconds):
        self.timeout = seconds


class CPythonTLS:
    """CPython's SSLSocket: recv raises SSLWantReadError when nothing waits."""

    def __init__(self):
        self.timeout = None

    def settimeout(self, seconds):
        self.timeout = seconds

    def recv(self, n):
        raise WantRead(2, "The operation did not complete (read)")


def test_micropythons_tls_socket_reads_writes_and_waits_like_a_socket():
    """Test that a whole packet is written across partial writes, a read returns bytes, an
    empty read is EAGAIN (which check_msg takes as nothing waiting), and the timeout goes to
    the socket under TLS."""
    raw, tls = RawSocket(), MicroPythonTLS(b"\xd0\x00")
    stream = mqtt.TLSStream(tls, raw, ())
    stream.settimeout(0)
    assert raw.timeout == 0
    stream.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e\x00\x00")
    assert bytes(tls.written) == b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e\x00\x00"
    assert stream.recv(2) == b"\xd0\x00"
    error = raises(OSError, stream.recv, 1)
    assert error.args[0] == 11
    client = mqtt.MQTTClient(stream, "mw-solder-1")
    client.check_msg()  # nothing waiting: returns
    stream.close()
    assert tls.closed


def test_cpythons_want_read_is_nothing_waiting():
    """Test that CPython's SSLWantReadError on a non-blocking read is EAGAIN to the client."""
    tls = CPythonTLS()
    stream = mqtt.TLSStream(tls, RawSocket(), WantRead)
    stream.settimeout(0)
    assert tls.timeout == 0
    error = raises(OSError, stream.recv, 1)
    assert error.args[0] == 11
    mqtt.MQTTClient(stream, "mw-solder-1").check_msg()
