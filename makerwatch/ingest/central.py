"""Central ingest: a network's readings, bridged from each site's broker, in one database.

Each site runs its own stack, so its alerts keep working while its internet link is
down; its broker bridges the boards' topics, and each plug's own under the site's tree
(`bridged_plugs_prefix`), to the central broker, queueing them while the link is down
(docs/scaling.md). Central ingest subscribes to the topics of its sites, decodes each
message with its own site's file (its plugs through the table of sources, which
`makerwatch ingest` passes in as `reader`) and stores it
with a site ingest's guarantees (acknowledged after the write or the fsynced spool,
the same window, the same dead-letter reasons), with the usage sessions and daily
energy rollups the network's figures read. It runs no alert rules: each site's own
ingest does, once.

Several central processes split the sites between them (`sites`): each has its own
persistent session and subscribes to its sites' topics only, so all of a device's
messages reach one process, in order. MQTT v5 shared subscriptions would spread one
device's messages over the processes, and states and sessions need them in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from makerwatch.core.network import Network
from makerwatch.core.protocol import board_kinds
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.dead_letters import MessageDecoder
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.pipeline import Pipeline

__all__ = ["CentralIngest", "SiteReader", "boards_only", "site_subscriptions"]

# How the centre reads one site's messages: its decoder and the topics to subscribe to.
# The composition (app.py) passes the table of sources (sources/central.py), which
# reads the site's plugs too; ingest sits below the sources and cannot import them.
SiteReader = Callable[[SiteConfig, Decoder], tuple[MessageDecoder, list[str]]]

log = logging.getLogger(__name__)


def site_subscriptions(site_ids: Sequence[str]) -> list[str]:
    """The board topics of these sites, and nothing of the others'."""
    return [kind.topic(site, "+") for site in site_ids for kind in board_kinds()]


def boards_only(site: SiteConfig, decoder: Decoder) -> tuple[MessageDecoder, list[str]]:
    """A site read for its boards alone."""
    return decoder, site_subscriptions([site.site.id])


class CentralIngest:
    def __init__(
        self,
        network: Network,
        *,
        clock: Callable[[], float] = time.time,
        reader: SiteReader = boards_only,
    ) -> None:
        self.network = network
        # The stamps of readings without ts are kept in central ingest's spool folder.
        spool = {"spool_dir": network.central.ingest.spool_dir}
        decoders: dict[str, MessageDecoder] = {}
        subscriptions: list[str] = []
        for site in network.sites:
            config = site.model_copy(update={"ingest": site.ingest.model_copy(update=spool)})
            decoders[site.site.id], topics = reader(config, Decoder(config, clock))
            subscriptions += topics
        central = network.central
        self.pipeline = Pipeline(
            central.mqtt, central.ingest, central.influxdb, decoders, network.sites,
            subscriptions, clock,
        )  # fmt: skip
        self.pipeline.broker_dropped = _dropped
        self.counters = self.pipeline.counters
        self.broker_drops = self.pipeline.broker_drops
        self.source = self.pipeline.source
        self.subscribed = self.pipeline.subscribed

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then write what is held, acknowledge it and return."""
        async with self.pipeline.storing():
            await self.pipeline.listen(stop)

    @property
    def unacknowledged(self) -> int:
        return self.pipeline.unacknowledged


def _dropped(count: int) -> None:
    if count > 0:
        log.error("the central broker dropped %d messages (a queue was full)", count)
