"""What several commands share: the site file, the endpoint flags and their checks."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from makerwatch.core.errors import ConfigError
from makerwatch.core.network import Central
from makerwatch.core.site_config import InfluxSettings, SiteConfig, load_site_config

DEFAULT_MQTT = "127.0.0.1:18830"
DEFAULT_INFLUX = "http://127.0.0.1:18086"
DEFAULT_HTTP = "127.0.0.1:18090"
LAN_HTTP = "0.0.0.0:8090"  # `up --lan`: the board for phones on the makerspace network
CONFIG_ENV = "MAKERWATCH_CONFIG"
DEFAULT_DATA = Path("var")
# `makerwatch up` writes where its daemons listen here, in its data folder, and removes
# it when it stops: the commands run beside it find the stack without being told.
RUN_FILE = "makerwatch-up.json"
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


@dataclass(frozen=True)
class RunningStack:
    """A running `makerwatch up`: its pid, where its daemons listen, its site file."""

    data: str
    pid: int
    mqtt: str  # HOST:PORT
    influx: str  # URL
    http: str  # HOST:PORT
    config: str | None
    board_url: str | None = None  # the floor board as phones on the network reach it

    def write(self) -> Path:
        """Write the run file (whole or not at all: a reader never sees half of it)."""
        path = Path(self.data) / RUN_FILE
        partial = path.with_name(RUN_FILE + ".partial")
        partial.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    def describe(self) -> str:
        return f"the running makerwatch up in {self.data} (pid {self.pid})"


def lan_address() -> str:
    """This machine's address on the network it reaches others by (127.0.0.1 without one)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # sends nothing: picks the outgoing interface's address
        return str(probe.getsockname()[0])
    return "127.0.0.1"


def add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR",
                        help="the data folder of the makerwatch up to use, when one runs there "
                             f"(default: {DEFAULT_DATA})")  # fmt: skip


def running_stack(data: Path) -> RunningStack | None:
    """The `makerwatch up` running with this data folder, or None (none, or it died
    without removing its run file)."""
    try:
        fields = json.loads((data / RUN_FILE).read_text(encoding="utf-8"))
        stack = RunningStack(**fields)
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(stack.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return stack


def stack_in_use(args: argparse.Namespace) -> RunningStack | None:
    """The running `up` of --data, said once on stderr when a command uses it."""
    data = getattr(args, "data", None)
    if data is None:
        return None
    if hasattr(args, "found_stack"):  # looked for once per command, said once
        cached: RunningStack | None = args.found_stack
        return cached
    stack = running_stack(data)
    args.found_stack = stack
    if stack is not None:
        print(f"makerwatch: using {stack.describe()}", file=sys.stderr)
    return stack


def site_file(path: Path | None, args: argparse.Namespace | None = None) -> Path:
    """--config, else $MAKERWATCH_CONFIG (relative to the current folder), else the
    site file of the running `up` of --data."""
    if path is None and args is not None:
        stack = stack_in_use(args)
        if stack is not None and stack.config is not None:
            return Path(stack.config)
    if path is None:
        raise ConfigError(
            f"no site file: give --config FILE or set {CONFIG_ENV} (or start makerwatch up)"
        )
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


def influx_settings(
    settings: InfluxSettings, url: str | None, args: argparse.Namespace | None = None
) -> InfluxSettings:
    """The InfluxDB --influx names (checked), else the running `up`'s, else the site file's."""
    if url is None and args is not None:
        stack = stack_in_use(args)
        url = stack.influx if stack is not None else None
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
    if getattr(args, "maintenance_dir", None) is not None:
        ingest["maintenance_dir"] = str(args.maintenance_dir)

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
