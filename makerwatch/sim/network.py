"""One network thread for many simulated boards' MQTT connections.

Each simulated board keeps what makes it a board to the broker: its own connection, client
id and last will. What a real board does not need to be faithful, a network thread of its
own, is shared: one thread watches every board's socket (a selector), reads what arrives,
writes what is queued, keeps each connection alive and reconnects one the broker dropped,
as paho's own thread would. A thousand boards are a thousand sockets and one thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

import paho.mqtt.client as mqtt

__all__ = ["SharedNetwork"]

HOUSEKEEPING_S = 1.0  # keepalive pings and reconnects are looked at this often
RECONNECT_AFTER_S = 2.0  # a dropped board tries again after this long, as paho's thread would

Change = Callable[[], object]


class SharedNetwork:
    """The network loop of many paho clients in one daemon thread (paho's external loop:
    loop_read, loop_write and loop_misc, driven by socket callbacks)."""

    def __init__(self, name: str = "simulated-boards") -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._changes: deque[Change] = deque()  # selector changes asked for by other threads
        self._clients: dict[mqtt.Client, float] = {}  # client -> when it was last dropped (0: up)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def attach(self, client: mqtt.Client) -> None:
        """Serve this client from the shared thread; call before its connect()."""
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._written
        self._clients[client] = 0.0

    def detach(self, client: mqtt.Client) -> None:
        """Stop serving it (after its disconnect) and never reconnect it."""
        self._clients.pop(client, None)

    def close(self) -> None:
        self._stopping.set()
        self._wake()
        self._thread.join(5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # paho's socket callbacks: they may run in any thread, so the selector is changed by ours

    def _opened(self, client: mqtt.Client, _userdata: object, sock: mqtt.SocketLike) -> None:
        self._change(lambda: self._selector.register(sock, selectors.EVENT_READ, client))
        self._clients[client] = 0.0

    def _closed(self, client: mqtt.Client, _userdata: object, sock: mqtt.SocketLike) -> None:
        self._change(lambda: _unregister(self._selector, sock))
        if client in self._clients:
            self._clients[client] = time.monotonic()

    def _want_write(self, client: mqtt.Client, _userdata: object, sock: mqtt.SocketLike) -> None:
        self._change(
            lambda: _modify(
                self._selector, sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client
            )
        )

    def _written(self, client: mqtt.Client, _userdata: object, sock: mqtt.SocketLike) -> None:
        self._change(lambda: _modify(self._selector, sock, selectors.EVENT_READ, client))

    def _change(self, change: Change) -> None:
        if threading.current_thread() is self._thread:
            change()
        else:
            self._changes.append(change)
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # already awake: the pipe is full
            self._wake_w.send(b"\0")

    # the thread

    def _run(self) -> None:
        next_housekeeping = time.monotonic() + HOUSEKEEPING_S
        while not self._stopping.is_set():
            for key, events in self._selector.select(timeout=HOUSEKEEPING_S):
                self._serve(key, events)
            while self._changes:
                self._changes.popleft()()
            if time.monotonic() >= next_housekeeping:
                self._housekeeping()
                next_housekeeping = time.monotonic() + HOUSEKEEPING_S

    def _serve(self, key: selectors.SelectorKey, events: int) -> None:
        client = key.data
        if client is None:  # the wake-up pipe
            while _drained(self._wake_r):
                pass
            return
        if events & selectors.EVENT_READ:
            client.loop_read(max_packets=100)
        if events & selectors.EVENT_WRITE and client.socket() is not None:
            client.loop_write()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for client, dropped_at in list(self._clients.items()):
            if client.socket() is not None:
                client.loop_misc()
                if client.want_write():  # a packet queued while the last write finished
                    client.loop_write()
            elif dropped_at and now - dropped_at >= RECONNECT_AFTER_S:
                self._clients[client] = now
                with contextlib.suppress(OSError):  # the broker is still away: again later
                    client.reconnect()


def _drained(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(4096))
    except BlockingIOError:
        return False


def _unregister(selector: selectors.BaseSelector, sock: mqtt.SocketLike) -> None:
    with contextlib.suppress(KeyError, ValueError):  # never registered, or already closed
        selector.unregister(sock)


def _modify(
    selector: selectors.BaseSelector, sock: mqtt.SocketLike, events: int, client: mqtt.Client
) -> None:
    with contextlib.suppress(KeyError, ValueError):  # closed meanwhile: nothing to write to
        selector.modify(sock, events, client)
