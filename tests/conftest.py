"""Fixtures: real Mosquitto and InfluxDB on free ports, and an in-process ingest service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from makerwatch.core.protocol import DEAD_LETTER_TOPIC
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.network import network  # noqa: F401  (a fixture, shared by several folders)
from tests.support import (
    WAIT_TIMEOUT_S,
    DeadLetters,
    RunningIngest,
    make_config,
    mqtt_client,
    start_ingest,
)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs `makerwatch ...` in this process sets up logging as the command
    does (logging.basicConfig(force=True) on the root logger): put the root logger back
    afterwards, so the next test's caplog sees only what its own code logs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMosquitto]:
    """A broker per test: boards and simulations leave retained messages behind, and
    ingest subscribes to every site, so a shared broker would mix tests. It starts in
    milliseconds."""
    with EmbeddedMosquitto(free_port(), tmp_path_factory.mktemp("mosquitto")) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedInfluxDB]:
    with EmbeddedInfluxDB(free_port(), tmp_path_factory.mktemp("influxdb")) as daemon:
        yield daemon


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[EmbeddedInfluxDB]:
    """An InfluxDB of the test's own, which it may stop and start."""
    with EmbeddedInfluxDB(free_port(), tmp_path / "influxdb") as daemon:
        yield daemon


@pytest.fixture
def site_config(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> SiteConfig:
    return make_config(mosquitto.port, influxdb.url)


@pytest.fixture
async def ingest(site_config: SiteConfig) -> AsyncIterator[RunningIngest]:
    running = await start_ingest(site_config)
    yield running
    if not running.task.done():
        await running.shutdown()
    running.task.result()  # an exception inside ingest fails the test


@pytest.fixture
async def influx(site_config: SiteConfig) -> AsyncIterator[InfluxClient]:
    async with InfluxClient(site_config.influxdb) as client:
        yield client


@pytest.fixture
async def dead_letters(mosquitto: EmbeddedMosquitto) -> AsyncIterator[DeadLetters]:
    """Everything ingest republishes on the dead-letter topic during the test."""
    collected = DeadLetters()
    ready = asyncio.Event()

    async def listen() -> None:
        async with mqtt_client(mosquitto.port) as client:
            await client.subscribe(DEAD_LETTER_TOPIC, qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                collected.records.append(json.loads(message.payload))

    task = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), WAIT_TIMEOUT_S)
    yield collected
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
