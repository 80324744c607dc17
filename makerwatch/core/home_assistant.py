"""Where Home Assistant finds a site's machines (docs/home-assistant.md): the topics
ingest publishes each machine's values on, under the site's own root, and its MQTT
discovery messages, under Home Assistant's discovery prefix. Defined once here for the
publisher (ingest/home_assistant.py) and the broker's ACL (ops/provision.py).
"""

from __future__ import annotations

from makerwatch.core.protocol import TOPIC_ROOT

__all__ = [
    "HA_LEVEL",
    "availability_topic",
    "discovery_pattern",
    "discovery_topic",
    "ingest_availability_topic",
    "node_id",
    "state_topic",
    "values_root",
]

# The level under the site's root: "_" keeps it out of the slug space, so no board can
# be given this id and write there (as makerspace/{site}/_ingest).
HA_LEVEL = "_ha"


def values_root(site: str) -> str:
    """Every topic ingest writes for Home Assistant under the site's own root."""
    return f"{TOPIC_ROOT}/{site}/{HA_LEVEL}"


def state_topic(site: str, device: str) -> str:
    """The machine's values as one JSON object, retained."""
    return f"{values_root(site)}/{device}/state"


def availability_topic(site: str, device: str) -> str:
    """`online` while the machine can be heard, `offline` in "no signal", retained."""
    return f"{values_root(site)}/{device}/availability"


def ingest_availability_topic(site: str) -> str:
    """`online` while ingest runs; its last will says `offline`."""
    return f"{values_root(site)}/availability"


def node_id(site: str) -> str:
    """The discovery topics' node level: one per site, so ingest can find (and clear)
    every configuration it published with one subscription."""
    return f"makerwatch-{site}"


def discovery_topic(prefix: str, component: str, site: str, object_id: str) -> str:
    """`<prefix>/<component>/<node_id>/<object_id>/config` (Home Assistant's MQTT
    discovery, "Discovery topic")."""
    return f"{prefix}/{component}/{node_id(site)}/{object_id}/config"


def discovery_pattern(prefix: str, site: str) -> str:
    """Every discovery topic of the site's machines, whatever the component."""
    return f"{prefix}/+/{node_id(site)}/+/config"
