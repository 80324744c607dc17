"""InfluxDB line protocol, exact for every character InfluxDB 1.x, 2.x and 3.x accept.

Escaping rules (checked against a real InfluxDB 1.6 in tests/ingest/test_line_protocol.py):
measurement names escape comma and space; tag keys, tag values and field keys
escape comma, equals sign and space (a backslash there is literal); string field
values escape double quote and backslash. Newlines cannot be carried at all.
"""

from __future__ import annotations

import functools

from makerwatch.core.points import FieldValue, Point

__all__ = ["encode_point"]

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\"})


def _field(value: FieldValue) -> str:
    # bool before int: bool is an int subclass. Floats always carry a decimal
    # point or exponent (repr), so a JSON 12 is written as the float 12.0.
    if type(value) is float:  # most fields: a reading
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return f'"{value.translate(_STRING_ESCAPES)}"'


@functools.lru_cache(maxsize=4096)
def _series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Measurement and tags, escaped: the same for every point of a device's series,
    so made once (ingest writes a few thousand points a second of a few hundred series)."""
    text = "".join(
        f",{key.translate(_KEY_ESCAPES)}={value.translate(_KEY_ESCAPES)}"
        for key, value in sorted(tags)  # sorted: InfluxDB's own key order
        if value
    )
    return f"{measurement.translate(_MEASUREMENT_ESCAPES)}{text}"


@functools.lru_cache(maxsize=1024)
def _field_key(key: str) -> str:
    return key.translate(_KEY_ESCAPES)


def encode_point(point: Point) -> str:
    """One line of line protocol, timestamp in nanoseconds."""
    if not point.fields:
        raise ValueError(f"point in {point.measurement!r} has no fields")
    series = _series_key(point.measurement, tuple(point.tags.items()))
    fields = ",".join([
        # A float (most fields: a reading) is written here, not in a call of its own.
        f"{_field_key(key)}={repr(value) if type(value) is float else _field(value)}"
        for key, value in point.fields.items()
    ])  # fmt: skip
    line = f"{series} {fields} {point.time_ns}"
    if "\n" in line or "\r" in line:  # one point must never become two
        raise ValueError(f"point in {point.measurement!r} has a line break in a tag or field")
    return line
