"""The firmware tests' site: their own broker, with ingest writing to its InfluxDB database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedMosquitto
from tests.support import RunningIngest


@dataclass
class Site:
    """The test's own broker, with ingest writing to its InfluxDB database."""

    config: SiteConfig
    mosquitto: EmbeddedMosquitto
    influx: InfluxClient

    @property
    def id(self) -> str:
        return self.config.site.id


@pytest.fixture
def site(
    site_config: SiteConfig,
    mosquitto: EmbeddedMosquitto,
    ingest: RunningIngest,
    influx: InfluxClient,
) -> Site:
    return Site(site_config, mosquitto, influx)
