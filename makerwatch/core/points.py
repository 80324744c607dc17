"""What is stored: a point (measurement, tags, fields, time) and the tags every
point about a device carries. The ingest writer turns points into line protocol;
the alert engine and sessions read and make them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from makerwatch.core.site_config import Device

__all__ = ["FieldValue", "Point", "device_tags"]

FieldValue = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ms: int


def device_tags(site: str, device: Device) -> dict[str, str]:
    """The tags every point about a device carries; `name` makes Grafana legends readable."""
    return {"site": site, "device": device.id, "kind": device.kind.value, "name": device.name}
