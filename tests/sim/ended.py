"""How a simulated board's end is read back: its retained status from the real broker, and
what ingest stored in device_status."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from tests.support import WAIT_TIMEOUT_S, mqtt_client, stored, wait_until


async def retained_statuses(port: int, config: SiteConfig) -> dict[str, dict[str, Any]]:
    """Every device's retained `status` as the broker holds it now (a new subscriber's view).

    The broker sends a subscription's retained messages before anything published after
    it on the same connection, so a message of our own marks the end of them."""
    found: dict[str, dict[str, Any]] = {}
    probe = f"tests/probe/{uuid.uuid4().hex}"
    async with mqtt_client(port) as client:
        await client.subscribe(f"makerspace/{config.site.id}/+/status", qos=1)
        await client.subscribe(probe, qos=1)
        await client.publish(probe, b"end", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                if message.topic.value == probe:
                    return
                assert isinstance(message.payload, bytes)
                if message.retain and message.payload:
                    found[message.topic.value.split("/")[2]] = json.loads(message.payload)

        await asyncio.wait_for(collect(), WAIT_TIMEOUT_S)
    return found


async def wait_for_statuses(
    port: int, config: SiteConfig, online: bool
) -> dict[str, dict[str, Any]]:
    """The retained statuses once every device's says `online`."""
    statuses: dict[str, dict[str, Any]] = {}

    async def all_say_it() -> bool:
        statuses.update(await retained_statuses(port, config))
        return len(statuses) == len(_boards(config)) and all(
            s["online"] is online for s in statuses.values()
        )

    await wait_until(all_say_it, f"every device's retained status online={online}")
    return statuses


async def assert_boards_ended_offline(
    port: int, config: SiteConfig, influx: InfluxClient, ended_ms: int | None
) -> None:
    """Every simulated device's retained status says offline (stamped `ended_ms` when given;
    a last will carries no time), and InfluxDB's last device_status of each says offline at
    that moment."""
    statuses = await retained_statuses(port, config)
    assert sorted(statuses) == sorted(_boards(config))
    for device, status in statuses.items():
        assert status["online"] is False, device
        assert status["sim"] is True, device
        if ended_ms is not None:
            assert round(status["ts"] * 1000) == ended_ms, device

    query = "SELECT last(online) AS online FROM device_status GROUP BY device"
    rows: list[dict[str, Any]] = []

    async def stored_offline() -> bool:
        rows[:] = [r for r in await stored(influx, query) if r["device"] in _boards(config)]
        return len(rows) == len(_boards(config)) and all(r["online"] is False for r in rows)

    await wait_until(stored_offline, "every device's last device_status stored as offline")
    if ended_ms is not None:
        assert {r["device"]: r["time"] for r in rows} == dict.fromkeys(_boards(config), ended_ms)


def _boards(config: SiteConfig) -> list[str]:
    """The devices with our board (a plug's status is in its own firmware's format)."""
    return [d.id for d in config.devices if d.source is None]
