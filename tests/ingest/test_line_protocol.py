"""Line protocol encoding: exact text, and exact round-trips through a real InfluxDB."""

from __future__ import annotations

import pytest

from makerwatch.core.points import Point
from makerwatch.ingest.errors import SinkRejectedError
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from tests.support import KAZAKH_NAME, stored

NASTY_TAG_VALUES = [
    KAZAKH_NAME,
    "space and,comma=equals",
    'double "quotes"',
    "back\\slash in the middle",
    "trailing space ",
    "Паяльная станция №2",
    "emoji 🔥 ok",
]

NASTY_STRINGS = [*NASTY_TAG_VALUES, "ends with backslash\\", 'quote at end"', "\\\\double"]


def test_tags_are_sorted_and_escaped() -> None:
    """Test that tag keys are sorted and commas, equals signs and spaces are escaped."""
    point = Point("telemetry", {"site": "a b", "device": "x,y=z"}, {"power_w": 1.5}, 1000)
    assert encode_point(point) == r"telemetry,device=x\,y\=z,site=a\ b power_w=1.5 1000000000"


def test_integral_float_is_written_as_float() -> None:
    """Test that a float field holding 12 is written 12.0, never as an integer."""
    point = Point("telemetry", {}, {"power_w": 12.0, "seq": 7, "ts_from_server": True}, 5)
    assert encode_point(point) == "telemetry power_w=12.0,seq=7i,ts_from_server=true 5000000"


def test_string_field_escapes_quote_and_backslash() -> None:
    """Test that string fields escape double quotes and backslashes only."""
    point = Point("m", {}, {"fw": 'a"b\\c,d e=f'}, 1)
    assert encode_point(point) == 'm fw="a\\"b\\\\c,d e=f" 1000000'


@pytest.mark.parametrize("where", ["tag", "field"])
@pytest.mark.parametrize("brk", ["\n", "\r"])
def test_a_line_break_is_refused_not_written_as_two_points(where: str, brk: str) -> None:
    """Test that text with a line break can never become a second, forged line."""
    text = f"x{brk}telemetry,device=other power_w=1 1"
    point = Point(
        "m",
        {"t": text} if where == "tag" else {},
        {"f": text} if where == "field" else {"f": 1.0},
        1,
    )
    with pytest.raises(ValueError, match="line break"):
        encode_point(point)


def test_empty_tag_is_omitted() -> None:
    """Test that an empty tag value is left out, since InfluxDB rejects it."""
    assert encode_point(Point("m", {"a": "", "b": "x"}, {"f": 1.0}, 1)) == "m,b=x f=1.0 1000000"


def test_point_without_fields_is_refused() -> None:
    """Test that a point with no fields raises instead of producing invalid text."""
    with pytest.raises(ValueError, match="no fields"):
        encode_point(Point("m", {"a": "b"}, {}, 1))


async def test_nasty_tags_round_trip_through_influxdb(influx: InfluxClient) -> None:
    """Test that every tag value above reads back from InfluxDB exactly as written."""
    await influx.ensure_database()
    points = [
        Point("lp", {"name": value, "n": str(i)}, {"f": float(i)}, 1_700_000_000_000 + i)
        for i, value in enumerate(NASTY_TAG_VALUES)
    ]
    await influx.write([encode_point(p) for p in points])
    rows = await stored(influx, 'SELECT "f", "name" FROM lp ORDER BY time')
    assert [row["name"] for row in rows] == NASTY_TAG_VALUES


async def test_nasty_strings_round_trip_as_fields(influx: InfluxClient) -> None:
    """Test that string fields with quotes and backslashes read back exactly."""
    await influx.ensure_database()
    points = [
        Point("sf", {}, {"s": value}, 1_700_000_000_000 + i)
        for i, value in enumerate(NASTY_STRINGS)
    ]
    await influx.write([encode_point(p) for p in points])
    rows = await stored(influx, "SELECT s FROM sf ORDER BY time")
    assert [row["s"] for row in rows] == NASTY_STRINGS


async def test_float_type_survives_integral_values(influx: InfluxClient) -> None:
    """Test that 12.0 then 12.5 go into one float field without a type conflict."""
    await influx.ensure_database()
    await influx.write([encode_point(Point("ft", {}, {"power_w": 12.0}, 1_700_000_000_000))])
    await influx.write([encode_point(Point("ft", {}, {"power_w": 12.5}, 1_700_000_000_001))])
    rows = await stored(influx, "SELECT power_w FROM ft ORDER BY time")
    assert [row["power_w"] for row in rows] == [12.0, 12.5]


async def test_type_conflict_is_a_rejection(influx: InfluxClient) -> None:
    """Test that InfluxDB's 400 for a field type conflict surfaces as SinkRejectedError."""
    await influx.ensure_database()
    await influx.write([encode_point(Point("tc", {}, {"v": 1.5}, 1_700_000_000_000))])
    with pytest.raises(SinkRejectedError, match="field type conflict"):
        await influx.write([encode_point(Point("tc", {}, {"v": "text"}, 1_700_000_000_001))])
