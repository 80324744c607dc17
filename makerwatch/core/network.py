"""A network of sites (the six makerspaces): a file naming each site's own site file.

    network: Makerspaces of Kazakhstan
    sites:            # site files, relative to this file
      - aktobe.yaml
      - almaty.yaml
    central:          # the central broker, database and ingest (docs/scaling.md)
      mqtt: {host: 127.0.0.1, port: 1883, client_id: makerwatch-central}
      influxdb: {url: "http://127.0.0.1:8086", database: makerwatch}

Figures for the network read every site's data from the central InfluxDB (each
point carries its `site` tag); without a `central` section, the first site file's
broker, database and ingest settings are the central ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import (
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    SiteConfig,
    describe,
    load_site_config,
    read_yaml_file,
    site_config_from,
)

__all__ = ["Central", "Network", "load_sites"]


class Central(BaseModel):
    """Where a network's readings meet: the central broker, database and ingest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: MqttSettings
    influxdb: InfluxSettings
    ingest: IngestSettings = IngestSettings()


@dataclass(frozen=True)
class Network:
    name: str | None  # None: a single site file was given
    sites: list[SiteConfig]
    central_settings: Central | None = None
    lists_sites: bool = False  # a network file, not a single site file

    @property
    def central(self) -> Central:
        if self.central_settings is not None:
            return self.central_settings
        first = self.sites[0]
        return Central(mqtt=first.mqtt, influxdb=first.influxdb, ingest=first.ingest)

    def only(self, *site_ids: str) -> Network:
        """The network narrowed to these sites, or ConfigError naming the sites there are."""
        known = [s.site.id for s in self.sites]
        for site_id in site_ids:
            if site_id not in known:
                raise ConfigError(f"no site {site_id!r} here (sites: {', '.join(known)})")
        chosen = [s for s in self.sites if s.site.id in site_ids]
        return dataclasses.replace(self, sites=chosen)


def load_sites(path: Path) -> Network:
    """A network file, or a single site file as a network of one."""
    if not path.is_file():
        return Network(None, [load_site_config(path)])  # which says what is missing
    data = read_yaml_file(path)
    if not isinstance(data, dict) or "sites" not in data:
        return Network(None, [site_config_from(path, data)])  # a site file, parsed once
    files = data["sites"]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"{path}: sites: expected a list of site files")
    name = data.get("network")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: network: expected the network's name")
    sites = [load_site_config(path.parent / file) for file in files]
    ids = [s.site.id for s in sites]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: a site id appears twice: {', '.join(ids)}")
    central = None
    if data.get("central") is not None:
        try:
            central = Central.model_validate(data["central"])
        except ValidationError as exc:
            raise ConfigError(describe(exc, path, ("central",))) from None
    return Network(name, sites, central, lists_sites=True)
