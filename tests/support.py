"""Test helpers shared by the suites: condition waits, publishing, querying, ingest runs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from makerwatch.app import IngestService
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
WAIT_TIMEOUT_S = 15.0
KAZAKH_NAME = "Дәнекерлеу станциясы 1, үстел А"

_unique = itertools.count(1)


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    what: str,
    within_s: float = WAIT_TIMEOUT_S,
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)  # poll interval of a condition wait


def make_config(
    mqtt_port: int, influx_url: str, alerts: dict[str, Any] | None = None, **ingest: Any
) -> SiteConfig:
    """A site of its own per test (unique site id and database), so tests never mix."""
    n = next(_unique)
    return SiteConfig.model_validate(
        {
            "site": {"id": f"test-{n}", "name": "Test space"},
            "devices": [
                {"id": "solder-1", "name": KAZAKH_NAME, "kind": "soldering_station"},
                {"id": "printer-1", "name": 'Prusa "MK4" = #1\\b', "kind": "printer_3d"},
            ],
            "mqtt": {"port": mqtt_port, "client_id": f"ingest-test-{n}"},
            "influxdb": {"url": influx_url, "database": f"test_{n}"},
            "ingest": {"batch_max_age_s": 0.05, "http_port": None, "spool_dir": None, **ingest},
            "alerts": alerts or {},
        }
    )


@dataclass
class RunningIngest:
    service: IngestService
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT_TIMEOUT_S)


async def start_ingest(config: SiteConfig) -> RunningIngest:
    service = IngestService(config)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    subscribed = asyncio.create_task(service.subscribed.wait())
    done, _ = await asyncio.wait(
        {task, subscribed}, timeout=WAIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if subscribed not in done:
        subscribed.cancel()
        if task in done:
            task.result()
        pytest.fail("ingest did not subscribe in time")
    return RunningIngest(service, stop, task)


@contextlib.asynccontextmanager
async def mqtt_client(port: int) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        yield client


async def publish(port: int, messages: list[tuple[str, bytes | str]], retain: bool = False) -> None:
    """Publish with QoS 1 from a real MQTT client, in order."""
    async with mqtt_client(port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


@dataclass
class DeadLetters:
    records: list[dict[str, Any]] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return [record["reason"] for record in self.records]


async def stored(influx: InfluxClient, influxql: str) -> list[dict[str, Any]]:
    """Rows of an InfluxQL query as dicts (time in epoch ms); [] if nothing matched."""
    rows: list[dict[str, Any]] = []
    for series in await influx.query(influxql):
        tags = series.get("tags", {})
        for values in series["values"]:
            rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
    return rows


async def count_points(
    influx: InfluxClient, measurement: str = "telemetry", field: str = "seq"
) -> int:
    rows = await stored(influx, f"SELECT count({field}) FROM {measurement}")
    return int(rows[0]["count"]) if rows else 0


class IngestProcess:
    """`makerwatch ingest` as a separate process, so it can be killed for real: for a
    site file written from `config`, or for a network file (central ingest)."""

    def __init__(
        self, config: SiteConfig | Path, tmp_path: Path, arguments: Sequence[str] = ()
    ) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        if isinstance(config, Path):
            self.config_path = config
        else:
            self.config_path = tmp_path / "site.yaml"
            self.config_path.write_text(
                yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True)
            )
        self.arguments = list(arguments)
        self.log = tmp_path / "ingest.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "makerwatch.cli", "ingest", "--config", str(self.config_path),
                 *self.arguments],
                stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@contextlib.asynccontextmanager
async def ingest_process(
    config: SiteConfig | Path, tmp_path: Path, arguments: Sequence[str] = ()
) -> AsyncIterator[IngestProcess]:
    process = IngestProcess(config, tmp_path, arguments)
    process.start()
    await wait_until(lambda: "subscribed to" in process.log.read_text(), "ingest to subscribe")
    try:
        yield process
    finally:
        process.stop()


class TcpProxy:
    """A TCP proxy on loopback in front of a daemon, for the faults between them: a cut
    (open connections dropped; new ones refused while `up` is false), responses lost
    (the request arrives, its answer never does), and requests held for a while (or,
    cut meanwhile, never delivered)."""

    def __init__(self, target_port: int, *, hold: bytes = b"", hold_s: float = 0.0) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self.hold, self.hold_s = hold, hold_s  # requests starting with `hold` wait `hold_s`
        self.held = 0
        self.responses_to_lose = 0
        self.lost = 0
        self._cut = asyncio.Event()  # set by each cut: a request held then never arrives
        self._open: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> int:
        """Drop every open connection; returns how many sockets were cut."""
        cut, self._open = self._open, []
        self._cut.set()
        self._cut = asyncio.Event()
        for writer in cut:
            writer.transport.abort()
        return len(cut)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._open += [writer, up_writer]

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, responses: bool
        ) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    if responses and self.responses_to_lose > 0:
                        self.responses_to_lose -= 1
                        self.lost += 1
                        writer.transport.abort()
                        up_writer.transport.abort()
                        return
                    if not responses and self.hold and data.startswith(self.hold):
                        self.held += 1
                        cut = self._cut
                        with contextlib.suppress(TimeoutError):  # the daemon, slow to take it
                            await asyncio.wait_for(cut.wait(), self.hold_s)
                        if cut.is_set():
                            return
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))
