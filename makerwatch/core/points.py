"""What is stored: a point (measurement, tags, fields, time) and the tags every
point about a device carries. The ingest writer turns points into line protocol;
the alert engine and sessions read and make them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from makerwatch.core.site_config import Device

__all__ = ["SIMULATED", "SOURCE_TAG", "FieldValue", "Point", "device_tags"]

# The tag on every point from the simulator (`"sim": true` in its messages); real data
# has no `source` tag. Figures leave simulated data out unless asked for it.
SOURCE_TAG = "source"
SIMULATED = "sim"

FieldValue = float | int | bool | str


class Point(NamedTuple):
    """Immutable, as a tuple: one is made for every reading, and a tuple is made in a
    third of the time a frozen dataclass is (each of whose fields is set by a call)."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ms: int
    # Nanoseconds within the millisecond (0..999_999). Two readings of one device in
    # the same millisecond are two points, not one overwriting the other; the same
    # reading delivered twice gets the same value, so it is stored once.
    nanos: int = 0
    # Stamped with the server's receive time (the board sent no time of its own).
    server_time: bool = False

    @property
    def time_ns(self) -> int:
        return self.time_ms * 1_000_000 + self.nanos


def device_tags(site: str, device: Device) -> dict[str, str]:
    """The tags every point about a device carries; `name` makes Grafana legends readable."""
    return {
        "site": site,
        "device": device.id,
        "kind": device.kind.value,
        "name": device.default_name,
    }
