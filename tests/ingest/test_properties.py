"""Property-based: the decoder never fails unexpectedly, and what it accepts survives InfluxDB exactly."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from makerwatch.core.points import Point
from makerwatch.core.protocol import READING_FIELDS
from makerwatch.core.site_config import Device, MachineKind
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.errors import DecodeError
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ops.embedded import EmbeddedInfluxDB
from tests.support import make_config

CONFIG = make_config(1883, "http://127.0.0.1:8086")
UNIQUE = itertools.count()
SITE = CONFIG.site.id
NOW_S = 1_790_000_000.0
DECODER = Decoder(CONFIG, clock=lambda: NOW_S, monotonic=lambda: 0.0)  # time stands still
RANGES = {
    "power_w": (0, 20000),
    "current_a": (0, 100),
    "voltage_v": (0, 300),
    "energy_wh": (0, 1e9),
    "temp_c": (-50, 1000),
}
TOPICS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [f"makerspace/{SITE}/solder-1/{k}" for k in ("telemetry", "status", "state", "event")]
    ),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)


def outcome(topic: str, payload: bytes, retained: bool = False) -> list[Point] | DecodeError:
    """The points, or the DecodeError; any other exception fails the test. Every accepted
    point is one line of line protocol, and every refused part has a reason and a payload."""
    try:
        decoded = DECODER.decode(topic, payload, retained)
    except DecodeError as error:
        return error
    for point in decoded.points:
        assert "\n" not in encode_point(point)
    for refused in decoded.refused:
        assert refused.reason
        assert refused.payload is not None
    return decoded.points


@given(topic=TOPICS, payload=st.binary(max_size=300), retained=st.booleans())
@settings(max_examples=300)
def test_any_bytes_on_any_topic_is_points_or_a_reasoned_rejection(
    topic: str, payload: bytes, retained: bool
) -> None:
    """Test that arbitrary bytes, live or retained, never raise anything but DecodeError, and
    every rejection has a reason."""
    result = outcome(topic, payload, retained)
    if isinstance(result, DecodeError):
        assert result.reason
        assert result.detail.startswith(topic)
    else:
        assert all(isinstance(p, Point) for p in result)


KEYS = ["v", "seq", "ts", "readings", "online", "state", "event", "detail", "previous", *RANGES]


@given(
    body=st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=8),
    readings=st.lists(st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=6), max_size=5),
    retained=st.booleans(),
)
@settings(max_examples=300)
def test_any_json_object_is_points_or_a_reasoned_rejection(
    body: dict[str, object], readings: list[dict[str, object]], retained: bool
) -> None:
    """Test that JSON objects close to the protocol, batches of them, live or retained, on every
    topic kind, never crash the decoder either."""
    for candidate in (body, {**body, "readings": readings}):
        try:
            payload = json.dumps(candidate).encode()
        except ValueError:
            continue
        for kind in ("telemetry", "status", "state", "event"):
            result = outcome(f"makerspace/{SITE}/solder-1/{kind}", payload, retained)
            assert not isinstance(result, DecodeError) or result.reason


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    from makerwatch.ops.embedded import free_port

    with (
        EmbeddedInfluxDB(free_port(), tmp_path_factory.mktemp("influxdb")) as daemon,
        httpx.Client(base_url=daemon.url) as client,
    ):
        client.post("/query", data={"q": 'CREATE DATABASE "props"'})
        yield client


def round_trip(client: httpx.Client, point: Point, query: str) -> dict[str, object]:
    response = client.post(
        "/write", params={"db": "props", "precision": "ns"}, content=encode_point(point).encode()
    )
    assert response.status_code == 204, response.text
    result = client.get("/query", params={"db": "props", "q": query, "epoch": "ms"}).json()[
        "results"
    ][0]
    series = result["series"][0]
    return dict(zip(series["columns"], series["values"][-1], strict=True))


READINGS = st.fixed_dictionaries(
    {"seq": st.integers(0, 2**53)},
    optional={name: st.floats(low, high, allow_nan=False) for name, (low, high) in RANGES.items()},
).filter(lambda r: any(name in r for name in READING_FIELDS))


@given(reading=READINGS, offset_ms=st.integers(0, 86_400_000))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_accepted_reading_round_trips_through_influxdb(
    influx: httpx.Client, reading: dict[str, float], offset_ms: int
) -> None:
    """Test that every reading the decoder accepts reads back from a real InfluxDB with the same values."""
    body = {"v": 1, "ts": NOW_S - 86400 + offset_ms / 1000, **reading}
    [point] = DECODER.decode(
        f"makerspace/{SITE}/solder-1/telemetry", json.dumps(body).encode()
    ).points
    point = Point("rt", point.tags, point.fields, point.time_ms)
    row = round_trip(influx, point, f"SELECT * FROM rt WHERE time = {point.time_ms}ms")
    for name, value in point.fields.items():
        assert row[name] == value, name  # exact: repr() floats parse back to the same double


@given(name=st.text(min_size=1, max_size=40))
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_accepted_display_name_round_trips_as_a_tag(influx: httpx.Client, name: str) -> None:
    """Test that any display name the site file accepts comes back from InfluxDB exactly."""
    try:
        device = Device(id="d-1", name=name, kind=MachineKind.OTHER)
    except ValueError:
        assume(False)
    assume("\x00" not in name)
    at_ms = 1_700_000_000_000 + next(UNIQUE)  # one timestamp per example
    point = Point("tags", {"name": device.name}, {"f": 1.0}, at_ms)
    row = round_trip(influx, point, f'SELECT "name", f FROM tags WHERE time = {at_ms}ms')
    assert row["name"] == device.name
