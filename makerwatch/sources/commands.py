"""A relay command, sent the way the device's source takes it.

The alert service (auto-off, the chat's switch-off) and the floor board's staff action
publish our protocol's `cmd/relay` for a device. For a board it goes out as it is; for
a plug this turns it into the plug's own command (Tasmota `cmnd/<topic>/POWER OFF`,
Shelly's `Switch.Set`, ...), by the same safety rule as a board: off, and on only where
the site file's `allow_remote_on` says so. The plug's next report of its relay is the
relay event that confirms it (router.py), as a board's is.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from makerwatch.core.ports import Publisher
from makerwatch.core.protocol import TOPIC_ROOT, RelayCommand
from makerwatch.core.site_config import SiteConfig
from makerwatch.sources.table import family_of

__all__ = ["PlugCommands"]

log = logging.getLogger(__name__)


class PlugCommands:
    """A `Publisher` that sends a plug's commands through its source, the rest as they are."""

    def __init__(self, config: SiteConfig, publisher: Publisher) -> None:
        self._config, self._publisher = config, publisher
        self._root = f"{TOPIC_ROOT}/{config.site.id}/"

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        device = self._plug_addressed(topic)
        if device is None:
            await self._publisher.publish(topic, payload, retain=retain)
            return
        if not topic.endswith("/cmd/relay"):
            log.info("%s: a plug takes no %s; not sent", device, topic, extra={"topic": topic})
            return
        try:
            command = RelayCommand.model_validate_json(payload)
        except ValidationError as exc:
            log.error("%s: not a relay command (%s); not sent", topic, exc, extra={"topic": topic})
            return
        try:
            await self.switch(device, on=command.on)
        except KeyError:
            log.error(
                "%s: its plug has no relay to switch; not sent", device, extra={"topic": topic}
            )

    async def switch(self, device_id: str, *, on: bool) -> None:
        """Switch a plug's relay: off always, on only where the site file allows it."""
        device = self._config.device(device_id)
        family = family_of(device) if device is not None else None
        if device is None or device.source is None or family is None or not device.has_relay:
            raise KeyError(device_id)
        if on and not device.source.allow_remote_on:
            log.warning("%s: remote switch-on is not allowed by the site file; not sent", device_id)
            return
        topic, body = family.command(device.source, on)
        await self._publisher.publish(topic, body)

    def _plug_addressed(self, topic: str) -> str | None:
        """The plug a server-to-device topic addresses, or None for a board's (or no device's)."""
        if not topic.startswith(self._root):
            return None
        device = self._config.device(topic[len(self._root) :].split("/", 1)[0])
        return device.id if device is not None and device.source is not None else None
