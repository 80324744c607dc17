"""A backfilled network of two sites in a real InfluxDB, shared by the statistics' users:
the report, the sponsor page and the Grafana dashboards (once per test worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.sim.commands import backfill
from tests.support import make_config, start_ingest, stored, wait_until


def previous_month() -> date:
    """The first day of last month (UTC calendar; the sites are a few hours ahead)."""
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)


# Back to two days before last month began: all of it, whatever today is.
DAYS_BACK = (datetime.now(UTC).date() - previous_month()).days + 2
SITES: list[dict[str, Any]] = [
    {"name": "Makerspace Aktobe", "timezone": "Asia/Aqtobe",
     "opening_hours": {d: ["10:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}},
    {"name": "Makerspace Almaty", "timezone": "Asia/Almaty",
     "opening_hours": {d: ["12:00-21:00"] for d in ("tue", "wed", "thu", "fri", "sat", "sun")}},
]  # fmt: skip


@dataclass
class BackfilledNetwork:
    configs: list[SiteConfig]
    network_file: Path
    influx_url: str


def _site_file(config: SiteConfig, path: Path) -> Path:
    data = config.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def _backfill(configs: list[SiteConfig], ports: list[int]) -> None:
    ingests = [await start_ingest(c) for c in configs]
    summaries = await asyncio.gather(
        *(asyncio.to_thread(backfill, c, DAYS_BACK * 86400, i + 1, "127.0.0.1", port)
          for i, (c, port) in enumerate(zip(configs, ports, strict=True)))
    )  # fmt: skip
    sent = sum(sum(s.tally.readings.values()) for s in summaries)
    async with InfluxClient(configs[0].influxdb) as influx:

        async def all_stored() -> bool:
            rows = await stored(influx, "SELECT count(seq) FROM telemetry")
            return bool(rows) and rows[0]["count"] == sent

        await wait_until(all_stored, f"{sent} readings stored", 120)
    for running in ingests:
        await running.shutdown()


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackfilledNetwork]:
    root = tmp_path_factory.mktemp("network")
    with (
        EmbeddedInfluxDB(free_port(), root / "influxdb") as influxdb,
        EmbeddedMosquitto(free_port(), root / "a") as broker_a,
        EmbeddedMosquitto(free_port(), root / "b") as broker_b,
    ):
        configs = []
        for broker, site in zip((broker_a, broker_b), SITES, strict=True):
            config = make_config(broker.port, influxdb.url)
            config = config.model_copy(update={
                "site": config.site.model_copy(update=site),
                "influxdb": configs[0].influxdb if configs else config.influxdb,
                "ingest": config.ingest.model_copy(update={"max_reading_age_s": 400 * 86400.0}),
            })  # fmt: skip
            configs.append(config)
        asyncio.run(_backfill(configs, [broker_a.port, broker_b.port]))
        files = [_site_file(c, root / f"{c.site.id}.yaml") for c in configs]
        network_file = root / "network.yaml"
        network_file.write_text(
            yaml.safe_dump(
                {"network": "Makerspaces of Kazakhstan", "sites": [f.name for f in files]}
            ),
            encoding="utf-8",
        )
        yield BackfilledNetwork(configs, network_file, influxdb.url)
