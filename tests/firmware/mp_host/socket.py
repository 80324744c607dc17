# `socket` for the board program under MicroPython's WebAssembly port: the bytes go
# through `hostnet`, a synchronous bridge to a real TCP socket in Node
# (tests/firmware/micropython_board.mjs). Errors are OSError with the errno a board's
# lwIP would give (11 EAGAIN, 110 ETIMEDOUT, 111 ECONNREFUSED, 104 ECONNRESET).
import binascii

import hostnet

AF_INET = 2
SOCK_STREAM = 1


def getaddrinfo(host, port, *args):
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


class socket:
    def __init__(self, *args):
        self._timeout_ms = -1  # blocking

    def settimeout(self, seconds):
        self._timeout_ms = -1 if seconds is None else int(seconds * 1000)

    def connect(self, address):
        code = hostnet.connect(address[0], address[1], self._timeout_ms)
        if code:
            raise OSError(code)

    def sendall(self, data):
        # Hex text crosses the JavaScript boundary unchanged.
        code = hostnet.send(binascii.hexlify(bytes(data)).decode())
        if code:
            raise OSError(code)

    def recv(self, n):
        got = hostnet.recv(n, self._timeout_ms)
        if isinstance(got, int):
            raise OSError(got)
        return binascii.unhexlify(got)

    def close(self):
        hostnet.close()
