"""A test site's device with a card reader, valid as check-config would have it."""

from __future__ import annotations

from makerwatch.core.protocol import AccessMode
from makerwatch.core.site_config import Device

READER = {"card_reader": "mfrc522"}
RELAY = {"relay_pin": 26, "relay_active_high": True}  # enforce switches the machine by it


def with_reader(device: Device, access: AccessMode) -> Device:
    """`device` reading cards in `access` mode: a reader fitted, and a relay for enforce,
    validated again (a copy with `access` changed alone would skip the site file's checks)."""
    board = {**device.board, **READER, **(RELAY if access is AccessMode.ENFORCE else {})}
    fields = device.model_dump(mode="json", exclude_unset=True)
    return Device.model_validate({**fields, "access": access.value, "board": board})
