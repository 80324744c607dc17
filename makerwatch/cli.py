"""`makerwatch`: the one command line for every Makerwatch task."""

from __future__ import annotations

import signal
import sys

# Ctrl-C while Python is still importing (a second or two on a small board computer):
# leave quietly, as after start-up, not with a traceback. main() restores Python's own.
signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(130))

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import logging
import os
import shlex
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from importlib.resources import files
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from makerwatch.core.errors import ConfigError, MakerwatchError, UnreachableError
from makerwatch.core.logs import setup as setup_logging
from makerwatch.core.network import Central, Network, load_sites
from makerwatch.core.protocol import MessageKind, json_schema, topic_for
from makerwatch.core.site_config import InfluxSettings, SiteConfig, load_site_config
from makerwatch.ops.embedded import (
    EmbeddedInfluxDB,
    EmbeddedMosquitto,
    ProvisionedMosquitto,
    StackError,
    Supervisor,
    bind_error,
)
from makerwatch.sim.scenarios import SCENARIOS

__all__ = ["main"]

DEFAULT_MQTT = "127.0.0.1:18830"
DEFAULT_INFLUX = "http://127.0.0.1:18086"
DEFAULT_HTTP = "127.0.0.1:18090"
LAN_MQTT = "0.0.0.0:1883"
LAN_HTTP = "0.0.0.0:8090"
CONFIG_ENV = "MAKERWATCH_CONFIG"
Settings = TypeVar("Settings", SiteConfig, Central)  # both carry mqtt, influxdb and ingest


def _site_file(path: Path | None) -> Path:
    """--config, else $MAKERWATCH_CONFIG (relative to the current folder)."""
    if path is None:
        raise ConfigError(f"no site file: give --config FILE or set {CONFIG_ENV}")
    return path


def _load(path: Path | None) -> SiteConfig:
    return load_site_config(_site_file(path))


def _check_config(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            config = load_site_config(path)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            failed = True
            continue
        site = config.site
        print(f"{path}: ok: site {site.id!r} ({site.name}), {len(config.devices)} devices")
    return 1 if failed else 0


def _device(text: str) -> dict[str, str]:
    from makerwatch.ops.site_file import parse_device

    try:
        return parse_device(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _config_init(args: argparse.Namespace) -> int:
    from makerwatch.ops.site_file import SiteAnswers, ask_missing, parse_days_hours, site_file_text

    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out} exists: give --force to replace it")
    answers: dict[str, object] = {
        "site_id": args.site_id,
        "name": args.name,
        "devices": args.device,
    }
    if args.hours:
        hours: dict[str, list[str]] = {}
        for text in args.hours:
            hours.update(parse_days_hours(text))
        answers["hours"] = hours
    if sys.stdin.isatty():
        ask_missing(answers, input)
    missing = [flag for flag, key in (("--site-id", "site_id"), ("--name", "name"), ("--device", "devices"))
               if not answers.get(key)]  # fmt: skip
    if missing:
        raise ConfigError(f"missing {', '.join(missing)} (or run it in a terminal to be asked)")
    text, tokens = site_file_text(SiteAnswers(
        site_id=str(answers["site_id"]), name=str(answers["name"]), timezone=args.timezone,
        language=args.language, hours=answers.get("hours") or parse_days_hours("mon-sat 10:00-19:00"),  # type: ignore[arg-type]
        devices=answers["devices"], staff=args.staff or [],  # type: ignore[arg-type]
    ))  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Staff tokens: readable by the owner and a service reading through the group, from
    # the moment the file exists (not created world-readable, then narrowed).
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    os.fchmod(fd, 0o640)  # whatever the umask
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {args.out}; check it with: makerwatch check-config {args.out}")
    for name, token in tokens.items():
        print(f"staff token for {name} (shown once, give it to them): {token}")
    return 0


def _config_example(args: argparse.Namespace) -> int:
    """The documented example site file, as installed with the package."""
    example = files("makerwatch.core").joinpath("makerspace.example.yaml")
    sys.stdout.write(example.read_text(encoding="utf-8"))
    return 0


async def _run_until_signalled(
    config: SiteConfig | Network, when_subscribed: Callable[[], Callable[[], None]] | None = None
) -> None:
    """Run ingest (a site's, or central ingest for a network) until SIGINT/SIGTERM.
    `when_subscribed` starts something once ingest listens (the demo boards) and
    returns how to stop it, which happens first on exit."""
    from makerwatch.app import IngestService, tune_gc_for_a_long_running_ingest
    from makerwatch.ingest.central import CentralIngest

    tune_gc_for_a_long_running_ingest()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    service = CentralIngest(config) if isinstance(config, Network) else IngestService(config)
    task = asyncio.create_task(service.run(stop))
    subscribed = asyncio.create_task(service.subscribed.wait())
    await asyncio.wait({task, subscribed}, return_when=asyncio.FIRST_COMPLETED)
    halt = when_subscribed() if when_subscribed is not None and subscribed.done() else None
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if halt is not None:
        await asyncio.to_thread(halt)
    stop.set()
    await task
    subscribed.cancel()
    stopping.cancel()
    logging.getLogger("makerwatch").info(
        "ingest stopped: %s", json.dumps(service.counters.snapshot())
    )


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{option} {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _url_host_port(url: str, option: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ConfigError(f"{option} {url!r}: expected a URL such as http://127.0.0.1:18086")
    return parts.hostname, port


def _loopback(host: str, option: str) -> None:
    """`up` runs its daemons for this machine only (docs/deployment.md for a LAN)."""
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise ConfigError(f"{option}: makerwatch up listens on 127.0.0.1 only, not {host!r}")


def _influx_settings(settings: InfluxSettings, url: str | None) -> InfluxSettings:
    """The site file's InfluxDB, or the one --influx names (checked)."""
    if url is None:
        return settings
    _url_host_port(url, "--influx")
    return settings.model_copy(update={"url": url})


def _with_endpoints(config: Settings, args: argparse.Namespace) -> Settings:
    """The config with the broker, InfluxDB, HTTP API and spool replaced where given."""
    update: dict[str, object] = {}
    ingest: dict[str, object] = {}
    mqtt = config.mqtt
    if args.mqtt is not None:
        host, port = _host_port(args.mqtt, "--mqtt")
        mqtt = mqtt.model_copy(update={"host": host, "port": port})
    if getattr(args, "mqtt_credentials", None) is not None:
        user, password = _credentials(args.mqtt_credentials)
        mqtt = mqtt.model_copy(update={"username": user, "password": password})
    if mqtt is not config.mqtt:
        update["mqtt"] = mqtt
    if args.influx is not None:
        update["influxdb"] = _influx_settings(config.influxdb, args.influx)
    if args.http is not None:
        ingest["http_host"], ingest["http_port"] = _host_port(args.http, "--http")
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


def _ingest(args: argparse.Namespace) -> int:
    network = load_sites(_site_file(args.config))
    if not network.lists_sites:
        if args.sites:
            raise ConfigError(f"--sites: {args.config} is a site file, not a network file")
        asyncio.run(_run_until_signalled(_with_endpoints(network.sites[0], args)))
        return 0
    if args.sites:
        network = network.only(*(site.strip() for site in args.sites.split(",")))
    central = _with_endpoints(network.central, args)
    asyncio.run(_run_until_signalled(dataclasses.replace(network, central_settings=central)))
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _up(args: argparse.Namespace) -> int:
    # A SIGTERM, or a SIGHUP from a closed terminal, while the daemons start unwinds like
    # Ctrl-C, so none is left running.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    config = _load(args.config)
    # --lan: boards and screens on the makerspace network reach the broker and the
    # board; InfluxDB stays on this machine.
    args.mqtt = args.mqtt or (LAN_MQTT if args.lan else DEFAULT_MQTT)
    args.http = args.http or (LAN_HTTP if args.lan else DEFAULT_HTTP)
    mqtt_host, mqtt_port = _host_port(args.mqtt, "--mqtt")
    influx_host, influx_port = _url_host_port(args.influx, "--influx")
    http_host, http_port = _host_port(args.http, "--http")
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
            args.no_sim = True  # real boards drive the site's machines
        else:
            mosquitto = EmbeddedMosquitto(mqtt_port, data / "mosquitto")
        stack.enter_context(mosquitto)
        influxdb = stack.enter_context(EmbeddedInfluxDB(influx_port, data / "influxdb"))
        stack.enter_context(Supervisor([mosquitto, influxdb]))  # stopped first on the way out
        args.mqtt, args.influx, args.spool = f"127.0.0.1:{mosquitto.port}", influxdb.url, data / "spool"  # fmt: skip
        config = _with_endpoints(config, args)
        site, database = config.site.id, config.influxdb.database
        topic = topic_for(site, config.devices[0].id, MessageKind.TELEMETRY)
        query = "SELECT * FROM telemetry"
        shown_http = "127.0.0.1" if http_host in ("0.0.0.0", "::") else http_host
        print(
            f"Makerwatch is up for site {site!r} ({config.site.name}), data in {data.resolve()}\n"
            f"  Floor board  http://{shown_http}:{http_port}/  (wall TV: /?kiosk=1)\n"
            f"  MQTT broker  mqtt://{mqtt_host}:{mosquitto.port}\n"
            f"  InfluxDB     {influxdb.url}  database {database!r}\n"
            f"  HTTP API     http://{shown_http}:{http_port}/alerts, /healthz, /metrics\n"
            f"  Sponsors     http://{shown_http}:{http_port}/sponsors"
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
        demo = None if args.no_sim else _demo(config, mosquitto.port, args.seed)
        asyncio.run(_run_until_signalled(config, demo))
    return 0


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


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _simulate_scenario(args: argparse.Namespace) -> int:
    from makerwatch.sim import commands

    config = _load(args.config)
    host, port = _host_port(args.mqtt, "--mqtt")
    speed = None if args.speed == "max" else float(args.speed)
    stop = _stop_on_signals()
    summary = commands.run_scenario(
        config, args.name, speed, args.seed, host, port, stop, args.on_real_site
    )
    print(f"scenario {args.name!r}, {summary.seconds_simulated / 3600:.1f} simulated hours:")
    print(summary.table())
    return 0


def _simulate_backfill(args: argparse.Namespace) -> int:
    from makerwatch.core.network import load_sites
    from makerwatch.sim import commands

    # A network file backfills each of its sites, each with its own opening hours,
    # time zone and seed, one after the other; each site's ingest must be running.
    network = load_sites(_site_file(args.config))
    host, port = _host_port(args.mqtt, "--mqtt")
    seconds = commands.parse_duration_s(args.duration)
    for index, config in enumerate(network.sites):
        summary = commands.backfill(
            config, seconds, args.seed + index, host, port, args.on_real_site
        )
        print(f"backfilled {args.duration} of site {config.site.id!r} through {host}:{port}:")
        print(summary.table())
    return 0


def _simulate_fleet(args: argparse.Namespace) -> int:
    from makerwatch.sim.fleet import run_fleet

    host, port = _host_port(args.mqtt, "--mqtt")
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    report = run_fleet(
        host, port, args.devices, args.rate, args.seconds, sites, args.processes, args.seed
    )
    print(
        f"sent {report.total} messages (acknowledged by the broker) from {args.devices} boards "
        f"on {len(sites)} sites in {report.seconds:.1f} s: {report.rate:.0f} msg/s (asked {args.rate:g})"
    )
    for site, count in sorted(report.sent.items()):
        print(f"  {site:<12} {count}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tqdm import tqdm

    from makerwatch.core.network import load_sites
    from makerwatch.core.statistics import Statistics, period_of, statistics
    from makerwatch.ingest.influx import InfluxClient
    from makerwatch.report import document

    network = load_sites(_site_file(args.config))
    if args.site is not None:
        network = network.only(args.site)
    elif len(network.sites) > 1 and not args.all_sites:
        known = ", ".join(s.site.id for s in network.sites)
        raise ConfigError(
            f"{args.config} lists several sites: give --site ID ({known}) or --all-sites"
        )
    period_text = args.month or args.week or args.days
    try:
        period_of(period_text, "UTC")  # refuse a bad period before any query
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    out_format = args.format or (args.out.suffix.lstrip(".") if args.out else "html")
    if out_format not in document.FORMATS:
        raise ConfigError(f"--format {out_format!r}: one of {', '.join(document.FORMATS)}")
    scope = network.sites[0].site.id if len(network.sites) == 1 else "network"
    out = args.out or Path(f"makerwatch-{scope}-{period_text}.{out_format}")
    influxdb = _influx_settings(network.central.influxdb, args.influx)

    # A bar once the work takes more than a second: one step per site, then the document.
    with tqdm(total=len(network.sites) + 1, delay=1.0, unit="step", leave=False) as bar:

        async def figures() -> Statistics:
            async with InfluxClient(influxdb) as influx:
                if not await influx.ping():
                    raise UnreachableError(f"cannot reach InfluxDB at {influxdb.url}")
                return await statistics(
                    influx.query, network.sites, period_text, int(time.time() * 1000),
                    progress=lambda _site: bar.update(1), simulated=args.include_simulated,
                )  # fmt: skip

        stats = asyncio.run(figures())
        if out_format == "json":
            out.write_text(document.as_json(stats) + "\n", encoding="utf-8")
        elif out_format == "csv":
            out.write_text(document.as_csv(stats), encoding="utf-8")
        else:
            page = document.html(stats, args.lang, network=network.name)
            if out_format == "pdf":
                document.as_pdf(page, out)
            else:
                out.write_text(page, encoding="utf-8")
        bar.update(1)
    total = stats.total
    print(f"wrote {out} ({stats.period_label}, {len(stats.sites)} site(s), "
          f"{total.machine_hours:.1f} machine-hours, {total.sessions} sessions)")  # fmt: skip
    return 0


def _dashboards_generate(args: argparse.Namespace) -> int:
    import json

    from makerwatch.dashboards.build import every_dashboard

    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in every_dashboard().items():
        (args.out / name).write_text(
            json.dumps(model, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.out / name}")
    return 0


def _dashboards_push(args: argparse.Namespace) -> int:
    from makerwatch.dashboards.build import every_dashboard
    from makerwatch.dashboards.push import datasource_model, push

    if not args.token:
        raise ConfigError("no Grafana token: give --token or set GRAFANA_TOKEN")
    config = _load(args.config)
    influx_url = args.influx or config.influxdb.url
    _url_host_port(influx_url, "--influx")
    datasource = datasource_model(influx_url, config.influxdb.database)
    changes = push(args.url.rstrip("/"), args.token, args.folder, datasource, every_dashboard())
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s) in {args.url}" if changes else f"{args.url} is up to date")
    return 0


def _firmware_deploy(args: argparse.Namespace) -> int:
    from makerwatch.ops import firmware_deploy

    config = _load(args.config)
    secrets = firmware_deploy.load_secrets(args.secrets)
    secrets = firmware_deploy.with_credentials(
        secrets, args.credentials, config.site.id, args.device
    )
    command = firmware_deploy.deploy(
        config, args.device, secrets, args.port, args.build, dry_run=args.dry_run
    )
    print(f"built {args.device!r} for site {config.site.id!r} in {args.build}")
    if args.dry_run:
        print("would run: " + " ".join(shlex.quote(part) for part in command))
    else:
        print(f"copied to the board on {args.port}; it is restarting")
    return 0


def _service_install(args: argparse.Namespace) -> int:
    import getpass

    from makerwatch.ops.service import UNIT_NAME, unit_text

    config_path = _site_file(args.config).resolve()
    config = _load(config_path)
    data = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    unit = args.out / UNIT_NAME
    unit.write_text(unit_text(config_path, data, args.user or getpass.getuser(), config.site.id))
    print(f"wrote {unit}; start it now and at every boot with:")
    print("  systemctl daemon-reload && systemctl enable --now makerwatch")
    print("  journalctl -u makerwatch -f     # its log")
    return 0


def _status(args: argparse.Namespace) -> int:
    import httpx

    host, port = _host_port(args.http, "--http")
    base = f"http://{host}:{port}"
    try:
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        alerts = httpx.get(f"{base}/alerts", timeout=10).json()["alerts"]
        floor = httpx.get(f"{base}/machines", timeout=10).json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise UnreachableError(f"no Makerwatch answering at {base}: {exc}") from None
    state = "healthy" if health.get("healthy") else "NOT HEALTHY"
    print(f"Makerwatch at {base}: {state}")
    checks = (("mqtt_connected", "broker connected"), ("influxdb_reachable", "InfluxDB reachable"),
              ("influxdb_writable", "InfluxDB writable"), ("spool_writable", "spool writable"))  # fmt: skip
    for key, label in checks:
        print(f"  {'ok ' if health.get(key) else 'NO '} {label}")
    print(f"  {health.get('unacknowledged_messages', 0)} messages waiting, "
          f"{health.get('spool_bytes', 0)} bytes in the spool")  # fmt: skip
    for error in ("influxdb_error", "spool_error"):
        if health.get(error):
            print(f"  {error.replace('_', ' ')}: {health[error]}")
    print(f"{len(alerts)} active alert(s)" + (":" if alerts else ""))
    for alert in alerts:
        print(f"  {alert['message'].splitlines()[0]}")
    print("Machines (state, last message):")
    for machine in floor["machines"]:
        seen = machine["last_seen_ms"]
        ago = "never" if seen is None else f"{max(0, floor['now_ms'] - seen) / 1000:.0f} s ago"
        print(f"  {machine['device']:<16} {machine['state']:<8} {ago}")
    return 0 if health.get("healthy") else 1


def _delete_simulated(args: argparse.Namespace) -> int:
    from makerwatch.core.points import SIMULATED, SOURCE_TAG
    from makerwatch.ingest.influx import InfluxClient

    config = _load(args.config)
    influxdb = _influx_settings(config.influxdb, args.influx)

    async def delete() -> None:
        async with InfluxClient(influxdb) as influx:
            # Every measurement's series from the simulator, this site's only.
            where = f"\"{SOURCE_TAG}\" = '{SIMULATED}' AND \"site\" = '{config.site.id}'"
            await influx.query(f"DROP SERIES WHERE {where}", method="POST")

    asyncio.run(delete())
    print(
        f"deleted the simulated data of site {config.site.id!r} from {influxdb.url} ({influxdb.database})"
    )
    return 0


def _backup(args: argparse.Namespace) -> int:
    from makerwatch.ops.backup import backup

    for saved in backup(args.data, args.out, args.config):
        print(f"saved {saved}")
    print(
        f"backup of {args.data} in {args.out}; restore it with: makerwatch restore --from {args.out} --data NEW_FOLDER"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from makerwatch.ops.backup import restore

    for notice in restore(args.source, args.data, broker_configuration=args.broker_configuration):
        print(notice)
    print(
        f"restored {args.source} into {args.data}; start it with: makerwatch up --data {args.data} ..."
    )
    return 0


def _uid_gid(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: expected UID:GID, e.g. 1883:1883")
    return int(uid), int(gid)


def _broker_provision(args: argparse.Namespace) -> int:
    from makerwatch.ops.provision import Bridge, hand_over, provision, provision_central

    network = load_sites(_site_file(args.config))
    where = {
        "root": args.root, "data_dir": args.data_dir, "owner": args.owner,
        "ingest_owner": args.ingest_owner,
    }  # fmt: skip
    if network.lists_sites:
        if args.bridge_to:
            raise ConfigError(
                "--bridge-to: a site's broker bridges to the central one; give a site file"
            )
        files = provision_central(network, args.out, args.port, args.tls_port, **where)
        print(f"wrote {files.passwd}, {files.acl} and {files.conf} (the central broker)")
        print(f"credentials for central ingest and a bridge for each of {len(network.sites)} sites "
              f"in {files.credentials}/ (bridge.<site>.json: that site's --bridge-credentials)")  # fmt: skip
    else:
        config = network.sites[0]
        bridge = None
        if args.bridge_to:
            if args.bridge_credentials is None:
                raise ConfigError(
                    f"--bridge-to needs --bridge-credentials: credentials/bridge.{config.site.id}.json "
                    "from provisioning the central broker with the network file"
                )
            host, port = _host_port(args.bridge_to, "--bridge-to")
            bridge = Bridge(host, port, args.bridge_credentials, args.bridge_cafile)
        files = provision(config, args.out, args.port, args.tls_port, bridge=bridge, **where)
        print(f"wrote {files.passwd}, {files.acl} and {files.conf}")
        print(
            f"credentials for {len(config.devices)} boards, ingest and the floor board in {files.credentials}/"
        )
        if bridge is not None:
            tls = "TLS" if bridge.cafile else "no TLS: give --bridge-cafile across the internet"
            print(f"bridged to the central broker at {bridge.host}:{bridge.port} ({tls})")
    if args.tls_port:
        from makerwatch.ops.certificates import make_certificates

        ca = make_certificates(files.directory / "tls", args.tls_host or ["localhost"])
        hand_over(files.directory / "tls", args.owner)
        print(f"TLS on port {args.tls_port}; give {ca} to the boards and clients")
    print(f"run the broker with: mosquitto -c {files.conf}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def _add_config(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONFIG_ENV)
    parser.add_argument("--config", type=Path, default=Path(default) if default else None,
                        metavar="FILE", help=f"the site file (default: ${CONFIG_ENV})")  # fmt: skip


def _add_endpoints(
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="makerwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text for a terminal, json for one object per line (default: text)")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate site configuration files")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(handler=_check_config)

    config = commands.add_parser("config", help="site file tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    example = config_commands.add_parser("example", help="print the documented example site file")
    example.set_defaults(handler=_config_example)
    init = config_commands.add_parser("init", help="write a new site file from flags or questions")
    init.add_argument("--out", type=Path, default=Path("config/makerspace.yaml"), metavar="FILE",
                      help="where (default: config/makerspace.yaml, what Compose reads)")  # fmt: skip
    init.add_argument("--site-id", help="the site's id, e.g. aktobe")
    init.add_argument("--name", help="the site's name, e.g. 'Makerspace Aktobe'")
    init.add_argument(
        "--timezone", default="Asia/Aqtobe", help="IANA time zone (default: Asia/Aqtobe)"
    )
    init.add_argument("--language", choices=("kk", "ru", "en"), default="ru",
                      help="staff messages and the board's default language (default: ru)")  # fmt: skip
    init.add_argument("--hours", action="append", metavar="'DAYS HH:MM-HH:MM'",
                      help="opening hours, e.g. 'mon-fri 10:00-19:00' (repeatable; default mon-sat 10:00-19:00)")  # fmt: skip
    init.add_argument("--device", action="append", type=_device, metavar="ID:KIND:NAME",
                      help="a machine, e.g. solder-1:soldering_station:'Soldering 1' (repeatable)")  # fmt: skip
    init.add_argument("--staff", action="append", metavar="NAME",
                      help="a staff member to make a token for (repeatable)")  # fmt: skip
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(handler=_config_init)

    ingest = commands.add_parser("ingest", help="run the ingest service (MQTT -> InfluxDB)")
    _add_config(ingest)
    _add_endpoints(ingest, {"mqtt": None, "influx": None, "http": None})
    ingest.add_argument(
        "--spool", type=Path, metavar="DIR", help="spool folder, instead of the site file's"
    )
    ingest.add_argument("--mqtt-credentials", type=Path, metavar="FILE",
                        help="ingest's broker user and password: credentials/ingest.json from `broker provision`")  # fmt: skip
    ingest.add_argument("--sites", metavar="ID,ID",
                        help="with a network file: central ingest for these of its sites only "
                             "(several processes share a network's sites)")  # fmt: skip
    ingest.set_defaults(handler=_ingest)

    up = commands.add_parser("up", help="run Mosquitto, InfluxDB and ingest on this machine")
    _add_config(up)
    _add_endpoints(up, {"mqtt": None, "influx": DEFAULT_INFLUX, "http": None}, {
        "mqtt": f" (default: {DEFAULT_MQTT}; with --lan, {LAN_MQTT})",
        "http": f" (default: {DEFAULT_HTTP}; with --lan, {LAN_HTTP})",
    })  # fmt: skip
    up.add_argument("--lan", action="store_true",
                    help=f"a real site: the broker on every interface ({LAN_MQTT}) with a password "
                         f"for each board, the board and API on {LAN_HTTP}; no simulation")  # fmt: skip
    up.add_argument("--data", type=Path, default=Path("var"), metavar="DIR",
                    help="folder for the daemons' configuration, data and logs (default: var)")  # fmt: skip
    up.add_argument("--no-sim", action="store_true", help="do not start the simulated machines")
    up.add_argument("--seed", type=int, default=1, help="the simulated machines' seed (default: 1)")
    up.set_defaults(handler=_up)

    report = commands.add_parser("report", help="the sponsor report for a month, week or days")
    when = report.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", help="a calendar month, e.g. 2026-11")
    when.add_argument("--week", help="an ISO week, e.g. 2026-W47")
    when.add_argument("--days", help="days, both included, e.g. 2026-11-01..2026-11-15")
    _add_config(report)
    which = report.add_mutually_exclusive_group()
    which.add_argument("--site", metavar="ID", help="one site of a network file")
    which.add_argument(
        "--all-sites", action="store_true", help="every site of a network file, and the total"
    )
    report.add_argument("--format", choices=("html", "pdf", "csv", "json"),
                        help="default: from --out's extension, else html")  # fmt: skip
    report.add_argument("--lang", choices=("en", "ru", "kk"), default="en",
                        help="the language of an HTML or PDF report (default: en)")  # fmt: skip
    report.add_argument("--out", type=Path, metavar="FILE",
                        help="where to write it (default: makerwatch-SITE-PERIOD.FORMAT)")  # fmt: skip
    report.add_argument("--influx", metavar="URL", help="InfluxDB, instead of the site file's")
    report.add_argument("--include-simulated", action="store_true",
                        help="count data from `makerwatch simulate` too (left out by default)")  # fmt: skip
    report.set_defaults(handler=_report)

    dashboards = commands.add_parser("dashboards", help="Grafana dashboards as code")
    dashboard_commands = dashboards.add_subparsers(dest="dashboards_command", required=True)
    generate = dashboard_commands.add_parser("generate", help="write the dashboards' JSON")
    generate.add_argument("--out", type=Path, default=Path("dashboards/json"), metavar="DIR",
                          help="where (default: dashboards/json, what Compose provisions)")  # fmt: skip
    generate.set_defaults(handler=_dashboards_generate)
    push = dashboard_commands.add_parser(
        "push", help="create or update them in an existing Grafana"
    )
    push.add_argument(
        "--url", required=True, help="Grafana's address, e.g. https://grafana.example.org"
    )
    push.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                      help="a service account token (default: $GRAFANA_TOKEN)")  # fmt: skip
    push.add_argument("--folder", default="Makerwatch", help="the folder (default: Makerwatch)")
    _add_config(push)
    push.add_argument("--influx", metavar="URL",
                      help="InfluxDB as Grafana reaches it (default: the site file's)")  # fmt: skip
    push.set_defaults(handler=_dashboards_push)

    simulate = commands.add_parser("simulate", help="simulated boards: scenario, backfill, fleet")
    modes = simulate.add_subparsers(dest="simulate_command", required=True)
    scenario = modes.add_parser("scenario", help="run a named scenario")
    scenario.add_argument("name", choices=sorted(SCENARIOS), metavar="NAME",
                          help=f"one of {', '.join(sorted(SCENARIOS))}")  # fmt: skip
    scenario.add_argument("--speed", default="1",
                          help="simulated seconds per real second, or max (default: 1)")  # fmt: skip
    scenario.set_defaults(handler=_simulate_scenario)
    backfill = modes.add_parser("backfill", help="write history up to now through the pipeline")
    backfill.add_argument("duration", metavar="DURATION", help="how far back, e.g. 30d, 12h")
    backfill.set_defaults(handler=_simulate_backfill)
    fleet = modes.add_parser("fleet", help="a load fleet of many boards")
    fleet.add_argument(
        "--devices", type=int, default=300, metavar="N", help="boards (default: 300)"
    )
    fleet.add_argument("--rate", type=float, default=100.0, help="total messages per second")
    fleet.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    fleet.add_argument("--sites", default="aktobe,almaty,astana,oskemen,pavlodar,oral",
                       help="comma-separated site slugs")  # fmt: skip
    fleet.add_argument("--processes", type=int, default=1, help="publishing processes")
    fleet.set_defaults(handler=_simulate_fleet)
    for mode in (scenario, backfill, fleet):
        if mode is not fleet:
            _add_config(mode)
        mode.add_argument("--mqtt", default=DEFAULT_MQTT, metavar="HOST:PORT",
                          help=f"the broker (default: makerwatch up's, {DEFAULT_MQTT})")  # fmt: skip
        mode.add_argument("--seed", type=int, default=1, help="same seed, same messages")
        if mode is not fleet:
            mode.add_argument("--on-real-site", action="store_true",
                              help="run even where real boards report (refused by default)")  # fmt: skip

    firmware = commands.add_parser("firmware", help="board firmware tools (pip install 'makerwatch[board]')")  # fmt: skip
    firmware_commands = firmware.add_subparsers(dest="firmware_command", required=True)
    deploy = firmware_commands.add_parser(
        "deploy", help="compile the firmware with mpy-cross and copy it to a board with mpremote"
    )
    deploy.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    deploy.add_argument("--device", required=True, help="the device id in the site file")
    _add_config(deploy)
    deploy.add_argument("--secrets", type=Path, default=Path("board-secrets.yaml"), metavar="FILE",
                        help="Wi-Fi and broker settings (default: board-secrets.yaml)")  # fmt: skip
    deploy.add_argument("--build", type=Path, default=Path("var/firmware-build"), metavar="DIR",
                        help="where the compiled files go (default: var/firmware-build)")  # fmt: skip
    deploy.add_argument("--credentials", type=Path, default=Path("var/broker/credentials"), metavar="DIR",
                        help="the board's broker credentials from `makerwatch broker provision`")  # fmt: skip
    deploy.add_argument(
        "--dry-run", action="store_true", help="build, print the mpremote command, copy nothing"
    )
    deploy.set_defaults(handler=_firmware_deploy)

    broker = commands.add_parser("broker", help="broker tools")
    broker_commands = broker.add_subparsers(dest="broker_command", required=True)
    prov = broker_commands.add_parser(
        "provision",
        help="per-device passwords and ACLs for Mosquitto (a network file: the central broker)",
    )
    _add_config(prov)
    prov.add_argument("--out", type=Path, default=Path("var/broker"), metavar="DIR",
                      help="where passwd, acl, mosquitto.conf and credentials/ go (default: var/broker)")  # fmt: skip
    prov.add_argument(
        "--port", type=int, default=1883, help="the authenticated listener's port (default: 1883)"
    )
    prov.add_argument("--tls-port", type=int, metavar="N",
                      help="also listen with TLS here (e.g. 8883), with new certificates")  # fmt: skip
    prov.add_argument("--tls-host", action="append", metavar="NAME",
                      help="a name or address boards use for the broker (repeatable; default: localhost)")  # fmt: skip
    prov.add_argument("--root", type=Path, metavar="DIR",
                      help="the folder as the broker sees it, e.g. /mosquitto/config in a container")  # fmt: skip
    prov.add_argument("--data-dir", type=Path, metavar="DIR",
                      help="the broker's data folder as it sees it (default: ROOT/data)")  # fmt: skip
    prov.add_argument("--owner", type=_uid_gid, metavar="UID:GID",
                      help="the user the broker runs as, who must read its files "
                           "(default: the mosquitto user when run as root, else you)")  # fmt: skip
    prov.add_argument("--ingest-owner", type=int, metavar="UID",
                      help="a user id that may read ingest's credentials (ingest's container)")  # fmt: skip
    prov.add_argument("--bridge-to", metavar="HOST:PORT",
                      help="bridge the boards' topics to a network's central broker")  # fmt: skip
    prov.add_argument("--bridge-credentials", type=Path, metavar="FILE",
                      help="credentials/bridge.<site>.json from provisioning the central broker")  # fmt: skip
    prov.add_argument("--bridge-cafile", type=Path, metavar="FILE",
                      help="the central broker's CA certificate: TLS on the bridge")  # fmt: skip
    prov.set_defaults(handler=_broker_provision)

    status = commands.add_parser("status", help="is the site working? its health and active alerts")
    status.add_argument("--http", default=DEFAULT_HTTP, metavar="HOST:PORT",
                        help=f"ingest's HTTP API (default: {DEFAULT_HTTP}; `up --lan`: 127.0.0.1:8090)")  # fmt: skip
    status.set_defaults(handler=_status)

    data_tools = commands.add_parser("data", help="stored data tools")
    data_commands = data_tools.add_subparsers(dest="data_command", required=True)
    delete_sim = data_commands.add_parser(
        "delete-simulated", help="delete everything `makerwatch simulate` stored for the site"
    )
    _add_config(delete_sim)
    delete_sim.add_argument("--influx", metavar="URL", help="InfluxDB, instead of the site file's")
    delete_sim.set_defaults(handler=_delete_simulated)

    back_up = commands.add_parser("backup", help="back up a running site (`up`'s data folder)")
    back_up.add_argument("--data", type=Path, default=Path("var"), metavar="DIR",
                         help="the site's data folder (default: var)")  # fmt: skip
    back_up.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new folder for the backup"
    )
    _add_config(back_up)  # the site file goes with the backup when given
    back_up.set_defaults(handler=_backup)
    restore = commands.add_parser("restore", help="restore a backup into a new data folder")
    restore.add_argument(
        "--from", dest="source", type=Path, required=True, metavar="DIR", help="the backup"
    )
    restore.add_argument(
        "--data", type=Path, required=True, metavar="DIR", help="a new data folder"
    )
    restore.add_argument("--broker-configuration", action="store_true",
                         help="take the broker's mosquitto.conf, ACL and password file from the backup too")  # fmt: skip
    restore.set_defaults(handler=_restore)

    service = commands.add_parser("service", help="run a site as a systemd service")
    service_commands = service.add_subparsers(dest="service_command", required=True)
    install = service_commands.add_parser("install", help="write the systemd unit for `up --lan`")
    _add_config(install)
    install.add_argument("--data", type=Path, default=Path("/var/lib/makerwatch"), metavar="DIR",
                         help="the site's data folder (default: /var/lib/makerwatch)")  # fmt: skip
    install.add_argument("--user", help="the user it runs as (default: you)")
    install.add_argument("--out", type=Path, default=Path("/etc/systemd/system"), metavar="DIR",
                         help="where the unit goes (default: /etc/systemd/system)")  # fmt: skip
    install.set_defaults(handler=_service_install)

    schema = commands.add_parser("schema", help="print the protocol's JSON Schema")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt again
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_format)
    try:
        code: int = args.handler(args)
    except MakerwatchError as exc:
        print(f"makerwatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a file or folder the command was pointed at
        where = f": {exc.filename}" if exc.filename else ""
        print(f"makerwatch: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a fault of ours: one line, the traceback with -v
        if args.verbose:
            traceback.print_exc()
        print(f"makerwatch: internal error: {type(exc).__name__}: {exc} "
              "(run with -v for the traceback)", file=sys.stderr)  # fmt: skip
        return 70
    return code


if __name__ == "__main__":
    sys.exit(main())
