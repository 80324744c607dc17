"""paho's MQTT v5 properties, with their tables built once instead of for each message.

paho builds `Properties` for every PUBLISH it receives, and each one rebuilds the
same two tables of property names and types: about 7 us a message, the largest
single cost in ingest's profile (docs/benchmarks.md). `SharedTableProperties`
keeps the tables on the class and is used for the PUBLISH packets paho decodes;
it is paho's own class otherwise, so every property reads, packs and prints the
same (tests/ingest/test_paho_properties.py). The fix belongs in paho itself; until
it lands there, `use_shared_tables()` puts it in for this process.
"""

from __future__ import annotations

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["SharedTableProperties", "use_shared_tables"]

_TABLES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class SharedTableProperties(Properties):
    # Read through the instance, as paho's methods do; never written after this.
    types = _TABLES.types
    names = _TABLES.names
    properties = _TABLES.properties

    def __init__(self, packetType: int) -> None:  # paho's name
        object.__setattr__(self, "packetType", packetType)


def use_shared_tables() -> None:
    """Decode every incoming PUBLISH's properties with the shared tables (idempotent)."""
    setattr(_packet, "Properties", SharedTableProperties)  # noqa: B010 (paho's private name)
