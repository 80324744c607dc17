"""Messages the real Mosquitto drops (a full queue for a session that is away) are
never silent: staff are told, and /metrics shows the count."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.alerts.conftest import Receiver
from tests.support import make_config, publish, start_ingest, wait_until

pytestmark = pytest.mark.stack
QUEUE = 5


class SmallQueueMosquitto(EmbeddedMosquitto):
    """A broker that keeps 5 messages for a session that is away, reporting $SYS each second."""

    def config_text(self) -> str:
        text = (
            super()
            .config_text()
            .replace("max_queued_messages 200000", f"max_queued_messages {QUEUE}")
        )
        return text + "sys_interval 1\n"


async def test_messages_the_broker_drops_reach_staff_and_the_metrics(
    receiver: Receiver, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that 20 messages for a persistent session that is away, with room for 5,
    make the broker drop 15, and ingest tells staff and exports the count."""
    with SmallQueueMosquitto(free_port(), tmp_path / "mosquitto") as broker:
        http_port = free_port()
        alerts = {"language": "en", "channels": [{"name": "staff", "url": receiver.url("staff")}]}
        config = make_config(broker.port, influxdb.url, alerts, http_port=http_port)
        running = await start_ingest(config)
        try:
            # A client with a persistent session subscribes, then goes away.
            await asyncio.to_thread(subprocess.run, ["mosquitto_sub", "-p", str(broker.port), "-c", "-i", "away",
                                    "-q", "1", "-t", "away/#", "-W", "1"], capture_output=True, timeout=10)  # fmt: skip
            await publish(broker.port, [("away/reading", f"reading {i}") for i in range(20)])

            def told() -> bool:
                return any(
                    "dropped 15 messages" in body["message"] for body in receiver.on("staff")
                )

            await wait_until(told, "staff told of the 15 dropped messages")
            [note] = [b for b in receiver.on("staff") if "dropped" in b["message"]]
            assert note["message"].startswith(
                "The message broker at Test space dropped 15 messages"
            )
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{http_port}/metrics")).text
            assert re.search(r'makerwatch_broker_dropped_messages\{site="[^"]+"\} 15\.0', metrics)
        finally:
            await running.shutdown()
