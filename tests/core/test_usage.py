"""Machine-hours and sessions, defined once, agree between messages and InfluxQL."""

from __future__ import annotations

import json
import time

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.usage import MACHINE_HOURS_QUERY, SESSIONS_QUERY, usage_from_states
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from tests.support import stored

STATES = [  # one session: off -> idle -> active -> idle -> off, then a second short one
    {"state": "idle", "previous": "off", "previous_duration_s": 7200.0},
    {"state": "active", "previous": "idle", "previous_duration_s": 600.0},
    {"state": "idle", "previous": "active", "previous_duration_s": 5400.0},
    {"state": "off", "previous": "idle", "previous_duration_s": 1800.0},
    {"state": "active", "previous": "off", "previous_duration_s": 60.0},
    {"state": "off", "previous": "active", "previous_duration_s": 1800.0},
]


def test_usage_counts_active_hours_and_returns_to_off() -> None:
    """Test that only active time is machine-hours and each return to off ends a session."""
    usage = usage_from_states([{"device": "solder-1", **s} for s in STATES])["solder-1"]
    assert usage.machine_hours == 2.0
    assert usage.sessions == 2


async def test_influxql_definitions_match_the_messages(
    site_config: SiteConfig, influx: InfluxClient
) -> None:
    """Test that the InfluxQL queries give the same numbers as usage_from_states on stored states."""
    await influx.ensure_database()
    decoder = Decoder(site_config)
    start = time.time() - 86400
    lines = []
    for i, state in enumerate(STATES):
        body = {"v": 1, "ts": start + 600 * i, "seq": i, **state}
        topic = f"makerspace/{site_config.site.id}/solder-1/state"
        lines += [encode_point(p) for p in decoder.decode(topic, json.dumps(body).encode()).points]
    await influx.write(lines)
    [hours] = await stored(influx, MACHINE_HOURS_QUERY)
    [sessions] = await stored(influx, SESSIONS_QUERY)
    assert (hours["device"], hours["machine_hours"]) == ("solder-1", 2.0)
    assert sessions["sessions"] == 2
