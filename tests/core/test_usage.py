"""Machine-hours and sessions, defined once, agree between messages and InfluxQL."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from makerwatch.core.points import Point
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.usage import (
    MACHINE_HOURS_QUERY,
    SEGMENT_MS,
    SESSIONS_QUERY,
    usage_from_states,
    usage_segments,
)
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


@given(
    end_ms=st.integers(1_600_000_000_000, 1_900_000_000_000),
    duration_s=st.floats(0, 40 * 86400, allow_nan=False),
    previous=st.sampled_from(["idle", "active", "off"]),
)
def test_usage_segments_cut_an_on_period_at_quarter_hours(
    end_ms: int, duration_s: float, previous: str
) -> None:
    """Test that segments add up to the period, each inside one quarter hour, in order."""
    fields = {"state": "off", "previous": previous, "previous_duration_s": duration_s}
    state = Point("state", {"site": "s", "device": "d"}, fields, end_ms)
    segments = usage_segments(state, not_before_ms=0)
    if previous == "off":
        assert segments == []
        return
    assert sum(float(s.fields["seconds"]) for s in segments) == pytest.approx(
        round(duration_s * 1000) / 1000, abs=1e-6
    )
    for segment in segments:
        assert segment.tags == {"site": "s", "device": "d", "state": previous}
        quarter = segment.time_ms // SEGMENT_MS
        ends_ms = segment.time_ms + round(float(segment.fields["seconds"]) * 1000)
        assert (ends_ms - 1) // SEGMENT_MS == quarter, "within one quarter hour"
    assert [s.time_ms for s in segments] == sorted({s.time_ms for s in segments})


def test_a_claimed_period_is_not_taken_back_past_the_oldest_accepted_time() -> None:
    """Test that a state claiming a year idle makes segments only back to the age limit."""
    end_ms = 1_800_000_000_000
    fields = {"state": "off", "previous": "idle", "previous_duration_s": 366 * 86400.0}
    segments = usage_segments(Point("state", {}, fields, end_ms), end_ms - 86_400_000)
    assert len(segments) == 96
    assert sum(float(s.fields["seconds"]) for s in segments) == 86400
