"""A machine's relay: whether its board has one, and the error for one that has not.

The board's settings say `relay_pin: -1` when no relay is fitted (firmware/core/config.py),
a plug has its own (`Device.has_relay` reads both); this is the one check for the floor
board, the alert engine and staff actions.
"""

from __future__ import annotations

from makerwatch.core.site_config import Device

__all__ = ["NoRelay", "has_relay"]


class NoRelay(Exception):
    """The machine's board has no relay to switch it off with."""


def has_relay(device: Device) -> bool:
    return device.has_relay
