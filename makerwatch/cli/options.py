"""What several commands share: the site file, the endpoint flags and their checks."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from makerwatch.core.errors import ConfigError
from makerwatch.core.network import Central
from makerwatch.core.site_config import InfluxSettings, SiteConfig, load_site_config

DEFAULT_MQTT = "127.0.0.1:18830"
DEFAULT_INFLUX = "http://127.0.0.1:18086"
DEFAULT_HTTP = "127.0.0.1:18090"
CONFIG_ENV = "MAKERWATCH_CONFIG"
Settings = TypeVar("Settings", SiteConfig, Central)  # both carry mqtt, influxdb and ingest
# How a command module adds its command: the `add_parser` of `makerwatch`'s subcommands.
AddCommand = Callable[..., argparse.ArgumentParser]


def add_config(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONFIG_ENV)
    parser.add_argument("--config", type=Path, default=Path(default) if default else None,
                        metavar="FILE", help=f"the site file (default: ${CONFIG_ENV})")  # fmt: skip


def add_endpoints(
    parser: argparse.ArgumentParser,
    defaults: dict[str, str | None],
    described: dict[str, str] | None = None,
) -> None:
    """The same flags on `up` and `ingest`; `up` starts the daemons there."""
    shown = {k: f" (default: {v})" if v else ", instead of the site file's" for k, v in defaults.items()}  # fmt: skip
    shown.update(described or {})
    parser.add_argument("--mqtt", default=defaults["mqtt"], metavar="HOST:PORT",
                        help="the MQTT broker" + shown["mqtt"])  # fmt: skip
    parser.add_argument("--influx", default=defaults["influx"], metavar="URL",
                        help="InfluxDB" + shown["influx"])  # fmt: skip
    parser.add_argument("--http", default=defaults["http"], metavar="HOST:PORT",
                        help="the HTTP API" + shown["http"])  # fmt: skip


def site_file(path: Path | None) -> Path:
    """--config, else $MAKERWATCH_CONFIG (relative to the current folder)."""
    if path is None:
        raise ConfigError(f"no site file: give --config FILE or set {CONFIG_ENV}")
    return path


def load(path: Path | None) -> SiteConfig:
    return load_site_config(site_file(path))


def host_port(text: str, option: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{option} {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def url_host_port(url: str, option: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ConfigError(f"{option} {url!r}: expected a URL such as http://127.0.0.1:18086")
    return parts.hostname, port


def influx_settings(settings: InfluxSettings, url: str | None) -> InfluxSettings:
    """The site file's InfluxDB, or the one --influx names (checked)."""
    if url is None:
        return settings
    url_host_port(url, "--influx")
    return settings.model_copy(update={"url": url})


def with_endpoints(config: Settings, args: argparse.Namespace) -> Settings:
    """The config with the broker, InfluxDB, HTTP API and spool replaced where given."""
    update: dict[str, object] = {}
    ingest: dict[str, object] = {}
    mqtt = config.mqtt
    if args.mqtt is not None:
        host, port = host_port(args.mqtt, "--mqtt")
        mqtt = mqtt.model_copy(update={"host": host, "port": port})
    if getattr(args, "mqtt_credentials", None) is not None:
        user, password = _credentials(args.mqtt_credentials)
        mqtt = mqtt.model_copy(update={"username": user, "password": password})
    if mqtt is not config.mqtt:
        update["mqtt"] = mqtt
    if args.influx is not None:
        update["influxdb"] = influx_settings(config.influxdb, args.influx)
    if args.http is not None:
        ingest["http_host"], ingest["http_port"] = host_port(args.http, "--http")
    if getattr(args, "spool", None) is not None:
        ingest["spool_dir"] = str(args.spool)

    if ingest:
        update["ingest"] = config.ingest.model_copy(update=ingest)
    return config.model_copy(update=update)


def _credentials(path: Path) -> tuple[str, str]:
    """A broker user and password from `broker provision`'s credentials/<user>.json."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["mqtt_user"]), str(data["mqtt_password"])
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{path}: not a credentials file from `makerwatch broker provision`"
        ) from None
