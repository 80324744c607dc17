"""A site's plugs at a network's centre: the site's bridge carries each plug's own
topics under `bridged_plugs_prefix` (ops/provision.py, `Bridge`), and central ingest
reads them with the same table of sources as the site's own ingest."""

from __future__ import annotations

from makerwatch.core.site_config import SiteConfig
from makerwatch.core.source_settings import bridged_plugs_prefix
from makerwatch.ingest.central import site_subscriptions
from makerwatch.ingest.decode import Decoder
from makerwatch.sources.board import BoardSource
from makerwatch.sources.router import SiteSources

__all__ = ["bridged_sources"]


def bridged_sources(site: SiteConfig, decoder: Decoder) -> tuple[SiteSources, list[str]]:
    """The site's decoder at the centre, and its topics there: its boards', its plugs'."""
    sources = SiteSources(site, BoardSource(decoder), prefix=bridged_plugs_prefix(site.site.id))
    return sources, [*site_subscriptions([site.site.id]), *sources.plug_topics()]
