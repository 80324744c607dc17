"""A network of sites (the six makerspaces): a file naming each site's own site file.

    network: Makerspaces of Kazakhstan
    sites:            # site files, relative to this file
      - aktobe.yaml
      - almaty.yaml

Figures for the network read every site's data from the InfluxDB of the first site
file (a central database holding each site's `site` tag).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig, load_site_config

__all__ = ["Network", "load_sites"]


@dataclass(frozen=True)
class Network:
    name: str | None  # None: a single site file was given
    sites: list[SiteConfig]

    def only(self, site_id: str) -> Network:
        """The network narrowed to one site, or ConfigError naming the sites there are."""
        chosen = [s for s in self.sites if s.site.id == site_id]
        if not chosen:
            known = ", ".join(s.site.id for s in self.sites)
            raise ConfigError(f"no site {site_id!r} here (sites: {known})")
        return Network(self.name, chosen)


def load_sites(path: Path) -> Network:
    """A network file, or a single site file as a network of one."""
    if not path.is_file():
        return Network(None, [load_site_config(path)])  # which says what is missing
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "sites" not in data:
        return Network(None, [load_site_config(path)])
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
    return Network(name, sites)
