"""Where simulated boards' messages go: a real broker over MQTT, or a list in memory."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from makerwatch.core.errors import UnreachableError
from makerwatch.core.protocol import TOPIC_ROOT, MessageKind
from makerwatch.sim.network import SharedNetwork

__all__ = ["MqttPublisher", "RecordingPublisher", "Tally", "connect"]

ACK_TIMEOUT_S = 60.0
DISCONNECTED_WITHIN_S = 10.0


@dataclass
class Tally:
    """What was sent, per device: messages, readings, and every state (a restatement of a
    state is the same point in InfluxDB: counted once)."""

    messages: Counter[str] = field(default_factory=Counter)
    readings: Counter[str] = field(default_factory=Counter)
    states: list[dict[str, Any]] = field(default_factory=list)
    power: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # device -> (ms, W)
    _stated: set[tuple[str, object, str]] = field(default_factory=set, repr=False)

    def count(self, topic: str, payload: str) -> None:
        if not topic.startswith(f"{TOPIC_ROOT}/"):
            return  # a simulated plug's, in its own firmware's format: not a board's message
        _, _, device, kind = topic.split("/", 3)
        self.messages[device] += 1
        if kind == MessageKind.TELEMETRY:
            body = json.loads(payload)
            batch = body.get("readings", [body])
            self.readings[device] += len(batch)
            series = self.power.setdefault(device, [])
            series += [
                (round(r["ts"] * 1000), r["power_w"]) for r in batch if "power_w" in r and "ts" in r
            ]
        elif kind == MessageKind.STATE:
            body = json.loads(payload)
            key = (device, body.get("ts"), body["state"])
            if body.get("ts") is None or key not in self._stated:
                self._stated.add(key)
                self.states.append({"device": device, **body})


class RecordingPublisher:
    """Keeps every message in order; for tests and byte-for-byte comparisons."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bool]] = []
        self.tally = Tally()

    def __call__(self, topic: str, payload: str, retain: bool) -> None:
        self.sent.append((topic, payload, retain))
        self.tally.count(topic, payload)

    def flush(self) -> None:
        pass

    def commands(self) -> list[tuple[str, str, bytes]]:
        return []

    def close(self) -> None:
        pass


class MqttPublisher:
    """QoS 1 through paho with a wide in-flight window; counts only what the broker acknowledged.

    `will_topic` is emptied by the broker if this process dies; `add_boards` gives boards a
    connection each, with a client id and a last will of their own, as real boards have.
    Every connection is served by one shared network thread (makerwatch/sim/network.py),
    so a board costs its connection and its state, not a thread."""

    def __init__(
        self, host: str, port: int, client_id: str, max_inflight: int = 1000,
        will_topic: str | None = None,
    ) -> None:  # fmt: skip
        self.tally = Tally()
        self._pending: list[tuple[mqtt.MQTTMessageInfo, str, str]] = []
        self._boards: dict[str, mqtt.Client] = {}
        # (device, command name, payload) for the boards, from paho's thread to the runner's.
        self._commands: queue.SimpleQueue[tuple[str, str, bytes]] = queue.SimpleQueue()
        self._address = (host, port, client_id, max_inflight)
        self._network = SharedNetwork()
        self._gone = threading.Semaphore(0)  # released as each connection closes
        try:
            self.client = self._connect(client_id, None if will_topic is None else (will_topic, ""))
        except UnreachableError:
            self._network.close()
            raise

    def add_boards(self, board_wills: Mapping[str, tuple[str, str]]) -> None:
        """A connection of its own for each of these boards (device id -> (topic, payload) of
        its last will): their messages go through it, and if this process dies the broker
        says each board is offline."""
        client_id = self._address[2]
        try:
            for device, will in board_wills.items():
                # One of our boards takes commands; a simulated plug does not.
                ours = will[0].startswith(f"{TOPIC_ROOT}/")
                commands = will[0].rsplit("/", 1)[0] + "/cmd/" if ours else None
                self._boards[device] = self._connect(f"{client_id}-{device}", will,
                                                     self._listener(device, commands))  # fmt: skip
        except UnreachableError:
            self._disconnect()
            raise

    def _listener(self, device: str, commands: str | None) -> Callable[[mqtt.Client], None] | None:
        """What makes a board's connection hear its `cmd/+` topics (subscribed on every
        connect: a reconnection after a dropped connection has no session to keep them)."""
        if commands is None:
            return None

        def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            self._commands.put((device, message.topic[len(commands) :], bytes(message.payload)))

        def on_connect(client: mqtt.Client, *_: object) -> None:
            client.subscribe(commands + "+", qos=1)

        def listen(client: mqtt.Client) -> None:
            client.on_message = on_message
            client.on_connect = on_connect

        return listen

    def commands(self) -> list[tuple[str, str, bytes]]:
        """The commands the broker delivered to the boards since the last call."""
        arrived = []
        while not self._commands.empty():
            arrived.append(self._commands.get())
        return arrived

    def __call__(self, topic: str, payload: str, retain: bool) -> None:
        parts = topic.split("/")
        client = self._boards.get(parts[2], self.client) if len(parts) > 2 else self.client
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise UnreachableError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self._pending.append((info, topic, payload))
        if len(self._pending) >= 10_000:
            self.flush()

    def flush(self) -> None:
        """Wait until the broker has acknowledged everything published so far."""
        for info, topic, payload in self._pending:
            info.wait_for_publish(ACK_TIMEOUT_S)
            if not info.is_published():
                raise UnreachableError(
                    f"the broker did not acknowledge a message on {topic} in {ACK_TIMEOUT_S:.0f} s"
                )
            self.tally.count(topic, payload)
        self._pending.clear()

    def close(self) -> None:
        """Flush, then disconnect cleanly (a clean disconnect does not trigger a last will)."""
        self.flush()
        self._disconnect()

    def _disconnect(self) -> None:
        """Each connection says goodbye (DISCONNECT, written by the network thread), then the
        thread stops once every socket has closed."""
        connected = 0
        for client in [self.client, *self._boards.values()]:
            self._network.detach(client)  # never reconnected from here on
            client.on_disconnect = lambda *_: self._gone.release()
            connected += client.disconnect() == mqtt.MQTT_ERR_SUCCESS
        deadline = time.monotonic() + DISCONNECTED_WITHIN_S
        for _ in range(connected):
            if not self._gone.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break  # the broker is away: its sockets are closed with the thread below
        self._network.close()

    def _connect(
        self, client_id: str, will: tuple[str, str] | None,
        listen: Callable[[mqtt.Client], None] | None = None,
    ) -> mqtt.Client:  # fmt: skip
        host, port, _, max_inflight = self._address
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if listen is not None:
            listen(client)
        client.max_inflight_messages_set(max_inflight)
        if will is not None:
            client.will_set(will[0], will[1].encode(), qos=1, retain=True)
        self._network.attach(client)
        connect(client, host, port, keepalive_s=30)
        return client


def connect(client: mqtt.Client, host: str, port: int, keepalive_s: int) -> None:
    """Connect, or say in one line which broker cannot be reached and why."""
    try:
        client.connect(host, port, keepalive=keepalive_s)
    except OSError as exc:
        raise UnreachableError(
            f"cannot reach the MQTT broker at {host}:{port}: {exc.strerror or exc}"
        ) from exc
