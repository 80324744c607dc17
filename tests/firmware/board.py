"""Running the real firmware main loop on the host, and recording what it publishes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from makerwatch.core.protocol import Event, State, Status, Tap, Telemetry, TelemetryBatch
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import free_port
from tests.firmware import hardware
from tests.support import stored

MODELS: dict[str, type[BaseModel]] = {"status": Status, "state": State, "event": Event, "tap": Tap}


def board_settings(site: str, mqtt_port: int, **overrides: Any) -> dict[str, Any]:
    """settings.json for a soldering station with a CT clamp, a MAX6675 and a relay."""
    settings = {
        "site": site,
        "device": "solder-1",
        "kind": "soldering_station",
        "wifi_ssid": "makerspace",
        "wifi_password": "secret",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": mqtt_port,
        "sample_period_s": 0.25,
        "telemetry_period_s": 1,
        "min_dwell_s": 0,
        "idle_above_w": 2,
        "active_above_w": 15,
        "power_sensor": "ct",
        "ct_model": "sct013-005",
        "temp_sensor": "max6675",
        "relay_pin": 26,
        "relay_active_high": True,
        "button_pin": 27,
        "led_pin": 2,
    }
    settings.update(overrides)
    return settings


@dataclass
class RunningBoard:
    board: Any
    runtime: ModuleType
    signals: hardware.Signals
    stop: threading.Event
    thread: threading.Thread

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the board's loop did not stop"


@contextlib.contextmanager
def running_board(
    settings: dict[str, Any], tmp_path: Any, raw_settings: str | None = None
) -> Iterator[RunningBoard]:
    """The firmware's own Board, loaded from a settings.json like on the ESP32, in a thread."""
    signals = hardware.install()
    runtime = importlib.reload(importlib.import_module("firmware.runtime"))
    path = tmp_path / "settings.json"
    path.write_text(
        raw_settings if raw_settings is not None else json.dumps(settings), encoding="utf-8"
    )
    board = runtime.Board(*runtime.load_settings(str(path)), settings_path=str(path))
    stop = threading.Event()
    thread = threading.Thread(target=board.run, args=(stop.is_set,), name="board", daemon=True)
    running = RunningBoard(board, runtime, signals, stop, thread)
    thread.start()
    try:
        yield running
    finally:
        if thread.is_alive():
            running.shutdown()


@dataclass
class Recorder:
    """Every message published under a site, in order, each validated by the server's models."""

    messages: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [body for topic, body, _ in self.messages if topic.split("/", 3)[3] == kind]

    def readings(self) -> list[dict[str, Any]]:
        """Telemetry readings, single and batched alike, each once, in the order first
        received: after a lost connection the board sends its last acknowledged ones
        again (docs/firmware.md), which must be the very same readings."""
        first: dict[int, dict[str, Any]] = {}
        for reading in self.sent_readings():
            if first.setdefault(reading["seq"], reading) != reading:
                self.invalid.append(f"seq {reading['seq']} sent twice, not the same: {reading}")
        return list(first.values())

    def sent_readings(self) -> list[dict[str, Any]]:
        """Every telemetry reading received, in order, those sent again included."""
        out: list[dict[str, Any]] = []
        for body in self.of("telemetry"):
            single = {k: v for k, v in body.items() if k != "v"}  # a reading without the envelope
            out.extend(body.get("readings", [single]))
        return out

    def take(self, topic: str, payload: bytes, retain: bool) -> None:
        kind = topic.split("/", 3)[3]
        body = json.loads(payload)
        model: type[BaseModel] | None = MODELS.get(kind)
        if kind == "telemetry":
            model = TelemetryBatch if "readings" in body else Telemetry
        try:
            if model is not None:
                model.model_validate_json(payload)
        except ValueError as exc:
            self.invalid.append(f"{topic}: {exc}")
        self.messages.append((topic, body, retain))


@contextlib.asynccontextmanager
async def recording(port: int, site: str, client_id: str) -> AsyncIterator[Recorder]:
    """Record from a persistent session that reconnects, so a broker restart loses nothing."""
    recorder = Recorder()
    subscribed = asyncio.Event()

    async def listen() -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=False, properties=properties,
                ) as client:  # fmt: skip
                    await client.subscribe(f"makerspace/{site}/+/+", qos=1)
                    await client.subscribe(f"makerspace/{site}/+/cmd/+", qos=1)
                    subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        if message.payload:
                            recorder.take(message.topic.value, message.payload, message.retain)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # broker away: try again

    task = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 15)
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _packet_size(data: bytes) -> int | None:
    """Bytes of the first whole MQTT packet in `data`, or None while it is incomplete."""
    length, shift = 0, 0
    for index in range(1, min(len(data), 5)):
        length |= (data[index] & 0x7F) << shift
        if not data[index] & 0x80:
            return index + 1 + length if len(data) >= index + 1 + length else None
        shift += 7
    return None


class BrokerTap:
    """A TCP proxy between a board and its broker that slips packets of its own into what
    the broker sends, between whole packets: a broker that sends what it should not."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.port = free_port()
        self.connections = 0
        self._to_board: list[list[Any]] = []  # per connection: [writer, partial, waiting]
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> BrokerTap:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        for writer, _, _ in self._to_board:
            writer.transport.abort()
        self._server.close()
        await self._server.wait_closed()

    def inject(self, data: bytes) -> None:
        """Send `data` to the board on its open connection, after the packet under way."""
        writer, partial, waiting = self._to_board[-1]
        if partial:
            waiting.append(data)
        else:
            writer.write(data)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        self.connections += 1
        link: list[Any] = [writer, b"", []]
        self._to_board.append(link)

        async def to_broker() -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await reader.read(65536):
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def to_board() -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await up_reader.read(65536):
                    buffer = link[1] + data
                    while (size := _packet_size(buffer)) is not None:
                        writer.write(buffer[:size])
                        buffer = buffer[size:]
                        for injected in link[2]:
                            writer.write(injected)
                        link[2].clear()
                    link[1] = buffer
                    await writer.drain()
            writer.close()

        await asyncio.gather(to_broker(), to_board())


def saved_ns(store: Path) -> int:
    """When the broker last saved its store (0: not yet)."""
    return store.stat().st_mtime_ns if store.exists() else 0


async def stored_in_order(influx: InfluxClient, at_least: int) -> bool:
    """Are readings 0 to at least `at_least` - 1 stored, each once?"""
    rows = await stored(influx, "SELECT seq FROM telemetry ORDER BY time")
    return len(rows) >= at_least and [r["seq"] for r in rows] == list(range(len(rows)))
