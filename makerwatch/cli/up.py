"""`makerwatch up`: Mosquitto, InfluxDB and ingest on this machine, for a demo or a site."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

from makerwatch.cli import signals
from makerwatch.cli.ingest import run_until_signalled
from makerwatch.cli.options import (
    DEFAULT_DATA,
    DEFAULT_HTTP,
    DEFAULT_INFLUX,
    DEFAULT_MQTT,
    LAN_HTTP,
    AddCommand,
    RunningStack,
    add_config,
    add_endpoints,
    host_port,
    lan_address,
    load,
    site_file,
    url_host_port,
    with_endpoints,
)
from makerwatch.core.errors import ConfigError
from makerwatch.core.protocol import MessageKind, topic_for
from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import (
    EmbeddedInfluxDB,
    EmbeddedMosquitto,
    ProvisionedMosquitto,
    StackError,
    Supervisor,
    bind_error,
)

LAN_MQTT = "0.0.0.0:1883"


def add_commands(add: AddCommand) -> None:
    up = add("up", help="run Mosquitto, InfluxDB and ingest on this machine")
    add_config(up)
    add_endpoints(up, {"mqtt": None, "influx": DEFAULT_INFLUX, "http": None}, {
        "mqtt": f" (default: {DEFAULT_MQTT}; with --lan, {LAN_MQTT})",
        "http": f" (default: {DEFAULT_HTTP}; with --lan, {LAN_HTTP})",
    })  # fmt: skip
    up.add_argument("--lan", action="store_true",
                    help=f"a real site: the broker on every interface ({LAN_MQTT}) with a password "
                         f"for each board, the board and API on {LAN_HTTP}; no simulation")  # fmt: skip
    up.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR",
                    help=f"folder for the daemons' configuration, data and logs (default: {DEFAULT_DATA})")  # fmt: skip
    up.add_argument("--no-sim", action="store_true", help="do not start the simulated machines")
    up.add_argument("--seed", type=int, default=1, help="the simulated machines' seed (default: 1)")
    up.set_defaults(handler=_up)


def _loopback(host: str, option: str) -> None:
    """`up` runs its daemons for this machine only (docs/deployment.md for a LAN)."""
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise ConfigError(f"{option}: makerwatch up listens on 127.0.0.1 only, not {host!r}")


def _up(args: argparse.Namespace) -> int:
    # Stopped while the daemons start: unwind, so none is left running.
    signals.interrupt_on_stop_signals()
    config = load(args.config)
    # --lan: boards and screens on the makerspace network reach the broker and the
    # board; InfluxDB stays on this machine.
    args.mqtt = args.mqtt or (LAN_MQTT if args.lan else DEFAULT_MQTT)
    args.http = args.http or (LAN_HTTP if args.lan else DEFAULT_HTTP)
    mqtt_host, mqtt_port = host_port(args.mqtt, "--mqtt")
    influx_host, influx_port = url_host_port(args.influx, "--influx")
    http_host, http_port = host_port(args.http, "--http")
    _loopback(influx_host, "--influx")
    if not args.lan:
        for host, option in ((mqtt_host, "--mqtt"), (http_host, "--http")):
            _loopback(host, option)
    data: Path = args.data
    with ExitStack() as stack:
        stack.enter_context(_data_folder_lock(data))
        _port_free(http_host, http_port, "--http")
        if args.lan:
            from makerwatch.ops.provision import provision

            files = provision(config, data / "broker", mqtt_port, owner=(os.getuid(), os.getgid()))
            mosquitto: EmbeddedMosquitto = ProvisionedMosquitto(
                mqtt_port, data / "mosquitto", files.conf
            )
            args.mqtt_credentials = files.credentials / "ingest.json"
            https = _https_certificate(files.directory / "tls", http_host)
            args.no_sim = True  # real boards drive the site's machines
        else:
            mosquitto = EmbeddedMosquitto(mqtt_port, data / "mosquitto")
        stack.enter_context(mosquitto)
        influxdb = stack.enter_context(EmbeddedInfluxDB(influx_port, data / "influxdb"))
        stack.enter_context(Supervisor([mosquitto, influxdb]))  # stopped first on the way out
        args.mqtt, args.influx, args.spool = f"127.0.0.1:{mosquitto.port}", influxdb.url, data / "spool"  # fmt: skip
        args.maintenance_dir = data / "maintenance"
        config = with_endpoints(config, args)
        members = config.members.model_copy(update={"store": str(data / "members.sqlite")})
        config = config.model_copy(update={"members": members})  # `makerwatch members --data`
        if args.lan:  # staff tokens cross the Wi-Fi: HTTPS only
            tls = {"http_certfile": str(https), "http_keyfile": str(https.with_suffix(".key"))}
            config = config.model_copy(update={"ingest": config.ingest.model_copy(update=tls)})
        scheme = "https" if args.lan else "http"
        site, database = config.site.id, config.influxdb.database
        topic = topic_for(site, config.devices[0].id, MessageKind.TELEMETRY)
        query = "SELECT * FROM telemetry"
        shown_http = "127.0.0.1" if http_host in ("0.0.0.0", "::") else http_host
        print(
            f"Makerwatch is up for site {site!r} ({config.site.name}), data in {data.resolve()}\n"
            f"  Floor board  {scheme}://{shown_http}:{http_port}/  (wall TV: /?kiosk=1)\n"
            f"  MQTT broker  mqtt://{mqtt_host}:{mosquitto.port}\n"
            f"  InfluxDB     {influxdb.url}  database {database!r}\n"
            f"  HTTP API     {scheme}://{shown_http}:{http_port}/alerts, /healthz, /metrics\n"
            f"  Sponsors     {scheme}://{shown_http}:{http_port}/sponsors"
            + (
                "  (this month's usage figures)"
                if args.lan
                else "?simulated=1  (the simulation's figures)"
            ),
            flush=True,
        )
        if args.lan:
            print(
                f"On the makerspace network: boards connect to port {mosquitto.port} of this machine "
                f"with their own passwords\n(anonymous clients are refused); each board's are in "
                f"{files.credentials}/, used by\n"
                f"  makerwatch firmware deploy --credentials {files.credentials} ...\n"
                f"The floor board and API answer HTTPS only, with a certificate from the site's CA:\n"
                f"install {https.parent / 'ca.crt'} on staff phones (docs/operations.md, HTTPS).\n"
                f"Stop with Ctrl-C.",
                flush=True,
            )
        else:
            print(
                f"Try:\n"
                f"  mosquitto_pub -p {mosquitto.port} -q 1 -t {topic}"
                f' -m \'{{"v":1,"seq":1,"power_w":42.5}}\'\n'
                f"  influx -port {influxdb.port} -database {database} -execute '{query}'\n"
                f"Stop with Ctrl-C.",
                flush=True,
            )
        # Where `status`, `report`, `simulate` and `backup` find this stack.
        run_file = RunningStack(
            data=str(data.resolve()), pid=os.getpid(), mqtt=f"127.0.0.1:{mosquitto.port}",
            influx=influxdb.url, http=f"{shown_http}:{http_port}",
            config=str(site_file(args.config).resolve()),
            board_url=f"{scheme}://{lan_address() if args.lan else shown_http}:{http_port}",
        ).write()  # fmt: skip
        stack.callback(run_file.unlink, missing_ok=True)
        demo = None if args.no_sim else _demo(config, mosquitto.port, args.seed)
        run_until_signalled(config, demo)
    return 0


def _https_certificate(directory: Path, http_host: str) -> Path:
    """The API's certificate, signed by the site's CA, for the names and addresses a phone
    on the Wi-Fi may use for this machine (made anew at each start: addresses change)."""
    from makerwatch.ops.certificates import make_certificates

    host = socket.gethostname()
    names = [f"{host}.local", host, "localhost", "127.0.0.1", lan_address()]
    if http_host not in ("0.0.0.0", "::"):
        names.append(http_host)
    make_certificates(directory, list(dict.fromkeys(names)), name="https")
    return directory / "https.crt"


@contextlib.contextmanager
def _data_folder_lock(data: Path) -> Iterator[None]:
    """One `up` per data folder: a second would rewrite the daemons' configs under the first."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / ".lock"
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"{data.resolve()} is in use by another makerwatch up") from None
        yield


def _port_free(host: str, port: int, option: str) -> None:
    error = bind_error(host, port)
    if error is not None:
        raise StackError(f"{option} {host}:{port}: {error.strerror}; choose another port")


def _demo(config: SiteConfig, mqtt_port: int, seed: int) -> Callable[[], Callable[[], None]]:
    """Starts the simulated makerspace once ingest listens; returns how to stop it."""

    def start() -> Callable[[], None]:
        from makerwatch.sim.commands import start_demo

        stop = threading.Event()
        thread = start_demo(config, "127.0.0.1", mqtt_port, seed, stop)
        print(f"Simulating the {len(config.devices)} machines of {config.site.name} "
              "(makerwatch up --no-sim turns this off).", flush=True)  # fmt: skip

        def halt() -> None:
            stop.set()
            thread.join(30)

        return halt

    return start
