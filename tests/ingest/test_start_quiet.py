"""Starting ingest sends a burst of publishes (the retained access lists, Home
Assistant's discovery, the alerts' state): none of it is a warning."""

from __future__ import annotations

import logging

import pytest

from makerwatch.core.site_config import load_site_config
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.ingest.test_home_assistant import ENTITIES_PER_MACHINE, PREFIX, home_assistant
from tests.support import ROOT, start_ingest, wait_until

EXAMPLE = ROOT / "makerspace.example.yaml"


async def test_starting_ingest_with_the_example_site_logs_no_pending_publish_warning(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that the example site, Home Assistant discovery on, starts without aiomqtt's
    "pending publish calls" warning, once every publish of the start is acknowledged."""
    example = load_site_config(EXAMPLE)
    config = example.model_copy(update={
        "mqtt": example.mqtt.model_copy(update={"port": mosquitto.port, "client_id": "ingest-quiet"}),
        "influxdb": example.influxdb.model_copy(update={"url": influxdb.url, "database": "quiet"}),
        "ingest": example.ingest.model_copy(update={"http_port": None, "spool_dir": None}),
        "home_assistant": example.home_assistant.model_copy(update={"discovery": True}),
    })  # fmt: skip
    caplog.set_level(logging.INFO)
    ingest = await start_ingest(config)
    try:
        async with home_assistant(mosquitto.port, [f"{PREFIX}/#"]) as ha:
            every = ENTITIES_PER_MACHINE * len(config.devices)
            await wait_until(lambda: len(ha.configs()) == every, "every discovery configuration")
        source = ingest.service.source
        await wait_until(lambda: source.publishing == 0, "the start's publishes acknowledged")
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert not [m for m in warned if "pending publish" in m], warned
    finally:
        await ingest.shutdown()
    ingest.task.result()
