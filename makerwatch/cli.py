"""`makerwatch`: the one command line for every Makerwatch task."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from makerwatch.core.logs import setup as setup_logging
from makerwatch.core.protocol import json_schema
from makerwatch.core.site_config import ConfigError, SiteConfig, load_site_config
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, StackError
from makerwatch.ops.firmware_deploy import DeployError

__all__ = ["main"]

# The scenario names, without importing the simulator for every command.
SCENARIO_NAMES = ("normal-week", "left-on-overnight", "board-offline", "flaky-wifi", "demo")
DEFAULT_MQTT_PORT = 18830
DEFAULT_INFLUX_PORT = 18086
DEFAULT_HTTP_PORT = 18090


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


async def _run_until_signalled(
    config: SiteConfig, when_subscribed: Callable[[], Callable[[], None]] | None = None
) -> None:
    """Run ingest until SIGINT/SIGTERM. `when_subscribed` starts something once ingest
    listens (the demo boards) and returns how to stop it, which happens first on exit."""
    from makerwatch.app import IngestService  # keeps `check-config` fast

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    service = IngestService(config)
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


def _host_port(text: str, option: str = "--mqtt") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{option} {text!r}: expected HOST:PORT")
    return host, int(port)


def _with_endpoints(config: SiteConfig, mqtt: str | None, influx_url: str | None) -> SiteConfig:
    """The config with the broker (HOST:PORT) and InfluxDB URL replaced where given."""
    update: dict[str, object] = {}
    if mqtt is not None:
        host, port = _host_port(mqtt)
        update["mqtt"] = config.mqtt.model_copy(update={"host": host, "port": port})
    if influx_url is not None:
        update["influxdb"] = config.influxdb.model_copy(update={"url": influx_url})
    return config.model_copy(update=update)


def _with_ingest(config: SiteConfig, **settings: object) -> SiteConfig:
    return config.model_copy(update={"ingest": config.ingest.model_copy(update=settings)})


def _ingest(args: argparse.Namespace) -> int:
    config = _with_endpoints(load_site_config(args.config), args.mqtt, args.influx)
    if args.http is not None:
        host, port = _host_port(args.http, "--http")
        config = _with_ingest(config, http_host=host, http_port=port)
    if args.spool is not None:
        config = _with_ingest(config, spool_dir=str(args.spool))
    asyncio.run(_run_until_signalled(config))
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _up(args: argparse.Namespace) -> int:
    # A SIGTERM while the daemons start unwinds like Ctrl-C, so none is left running.
    signal.signal(signal.SIGTERM, _interrupt)
    config = load_site_config(args.config)
    data: Path = args.data
    with ExitStack() as stack:
        mosquitto = stack.enter_context(EmbeddedMosquitto(args.mqtt_port, data / "mosquitto"))
        influxdb = stack.enter_context(EmbeddedInfluxDB(args.influx_port, data / "influxdb"))
        config = _with_endpoints(config, f"127.0.0.1:{mosquitto.port}", influxdb.url)
        config = _with_ingest(
            config, http_host="127.0.0.1", http_port=args.http_port, spool_dir=str(data / "spool")
        )
        site, database = config.site.id, config.influxdb.database
        topic = f"makerspace/{site}/{config.devices[0].id}/telemetry"
        query = "SELECT * FROM telemetry"
        print(
            f"Makerwatch is up for site {site!r} ({config.site.name}), data in {data.resolve()}\n"
            f"  MQTT broker  {mosquitto.url}\n"
            f"  InfluxDB     {influxdb.url}  database {database!r}\n"
            f"  HTTP API     http://127.0.0.1:{args.http_port}/alerts, /healthz, /metrics\n"
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


def _simulate(args: argparse.Namespace) -> int:
    from makerwatch.sim import commands

    host, port = _host_port(args.mqtt)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.devices is not None:
        from makerwatch.sim.fleet import run_fleet

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
    if args.config is None:
        raise ConfigError("--config FILE is needed with --scenario and --backfill")
    config = load_site_config(args.config)
    if args.backfill:
        summary = commands.backfill(
            config, commands.parse_duration_s(args.backfill), args.seed, host, port
        )
        print(f"backfilled {args.backfill} of site {config.site.id!r} through {host}:{port}:")
    else:
        speed = None if args.speed == "max" else float(args.speed)
        summary = commands.run_scenario(config, args.scenario, speed, args.seed, host, port, stop)
        print(
            f"scenario {args.scenario!r}, {summary.seconds_simulated / 3600:.1f} simulated hours:"
        )
    print(summary.table())
    return 0


def _firmware_deploy(args: argparse.Namespace) -> int:
    from makerwatch.ops import firmware_deploy

    config = load_site_config(args.config)
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


def _broker_provision(args: argparse.Namespace) -> int:
    from makerwatch.ops.provision import provision

    config = load_site_config(args.config)
    files = provision(config, args.out, args.port, args.tls_port)
    print(f"wrote {files.passwd}, {files.acl} and {files.conf}")
    print(
        f"credentials for {len(config.devices)} boards, ingest and the floor board in {files.credentials}/"
    )
    if args.tls_port:
        from makerwatch.ops.certificates import make_certificates

        ca = make_certificates(files.directory / "tls", args.tls_host or ["localhost"])
        print(f"TLS on port {args.tls_port}; give {ca} to the boards and clients")
    print(f"run the broker with: mosquitto -c {files.conf}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="makerwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="text for a terminal, json for one object per line (default: text)")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate site configuration files")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(handler=_check_config)

    ingest = commands.add_parser("ingest", help="run the ingest service (MQTT -> InfluxDB)")
    ingest.add_argument("--config", required=True, type=Path, metavar="FILE")
    ingest.add_argument("--mqtt", metavar="HOST:PORT", help="broker, instead of the config's mqtt")
    ingest.add_argument("--influx", metavar="URL", help="InfluxDB, instead of the config's url")
    ingest.add_argument(
        "--http", metavar="HOST:PORT", help="HTTP API address, instead of the config's"
    )
    ingest.add_argument(
        "--spool", type=Path, metavar="DIR", help="spool folder, instead of the config's"
    )
    ingest.set_defaults(handler=_ingest)

    up = commands.add_parser("up", help="run Mosquitto, InfluxDB and ingest on this machine")
    up.add_argument("--config", required=True, type=Path, metavar="FILE")
    up.add_argument(
        "--data",
        type=Path,
        default=Path("var"),
        metavar="DIR",
        help="folder for the daemons' configuration, data and logs (default: var)",
    )
    up.add_argument(
        "--mqtt-port",
        type=int,
        default=DEFAULT_MQTT_PORT,
        metavar="N",
        help=f"MQTT port on 127.0.0.1 (default: {DEFAULT_MQTT_PORT})",
    )
    up.add_argument(
        "--influx-port",
        type=int,
        default=DEFAULT_INFLUX_PORT,
        metavar="N",
        help=f"InfluxDB HTTP port on 127.0.0.1 (default: {DEFAULT_INFLUX_PORT})",
    )
    up.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, metavar="N",
                    help=f"alerts HTTP API port on 127.0.0.1 (default: {DEFAULT_HTTP_PORT})")  # fmt: skip
    up.add_argument("--no-sim", action="store_true", help="do not start the simulated machines")
    up.add_argument("--seed", type=int, default=1, help="the simulated machines' seed (default: 1)")
    up.set_defaults(handler=_up)

    simulate = commands.add_parser(
        "simulate", help="simulated boards: a scenario, a backfill or a load fleet"
    )
    mode = simulate.add_mutually_exclusive_group(required=True)
    mode.add_argument("--scenario", choices=SCENARIO_NAMES, help="run a named scenario")
    mode.add_argument("--backfill", metavar="DURATION", help="write history up to now, e.g. 30d")
    mode.add_argument("--devices", type=int, metavar="N", help="a load fleet of N boards")
    simulate.add_argument(
        "--config", type=Path, metavar="FILE", help="the site file (scenario, backfill)"
    )
    simulate.add_argument(
        "--mqtt",
        default=f"127.0.0.1:{DEFAULT_MQTT_PORT}",
        metavar="HOST:PORT",
        help=f"the broker (default: makerwatch up's, 127.0.0.1:{DEFAULT_MQTT_PORT})",
    )
    simulate.add_argument(
        "--speed", default="1", help="simulated seconds per real second, or max (default: 1)"
    )
    simulate.add_argument(
        "--seed", type=int, default=1, help="same seed, same messages (default: 1)"
    )
    simulate.add_argument(
        "--rate", type=float, default=100.0, help="fleet: total messages per second"
    )
    simulate.add_argument("--seconds", type=float, default=10.0, help="fleet: how long to publish")
    simulate.add_argument(
        "--sites",
        default="aktobe,almaty,astana,oskemen,pavlodar,oral",
        help="fleet: comma-separated site slugs",
    )
    simulate.add_argument("--processes", type=int, default=1, help="fleet: publishing processes")
    simulate.set_defaults(handler=_simulate)

    firmware = commands.add_parser("firmware", help="board firmware tools")
    firmware_commands = firmware.add_subparsers(dest="firmware_command", required=True)
    deploy = firmware_commands.add_parser(
        "deploy", help="compile the firmware with mpy-cross and copy it to a board with mpremote"
    )
    deploy.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    deploy.add_argument("--device", required=True, help="the device id in the site file")
    deploy.add_argument("--config", required=True, type=Path, metavar="FILE")
    deploy.add_argument(
        "--secrets",
        type=Path,
        default=Path("board-secrets.yaml"),
        metavar="FILE",
        help="Wi-Fi and broker settings (default: board-secrets.yaml)",
    )
    deploy.add_argument(
        "--build",
        type=Path,
        default=Path("var/firmware-build"),
        metavar="DIR",
        help="where the compiled files go (default: var/firmware-build)",
    )
    deploy.add_argument("--credentials", type=Path, default=Path("var/broker/credentials"), metavar="DIR",
                        help="the board's broker credentials from `makerwatch broker provision`")  # fmt: skip
    deploy.add_argument(
        "--dry-run", action="store_true", help="build, print the mpremote command, copy nothing"
    )
    deploy.set_defaults(handler=_firmware_deploy)

    broker = commands.add_parser("broker", help="broker tools")
    broker_commands = broker.add_subparsers(dest="broker_command", required=True)
    prov = broker_commands.add_parser(
        "provision", help="per-device passwords and ACLs for Mosquitto"
    )
    prov.add_argument("--config", required=True, type=Path, metavar="FILE")
    prov.add_argument("--out", type=Path, default=Path("var/broker"), metavar="DIR",
                      help="where passwd, acl, mosquitto.conf and credentials/ go (default: var/broker)")  # fmt: skip
    prov.add_argument(
        "--port", type=int, default=1883, help="the authenticated listener's port (default: 1883)"
    )
    prov.add_argument(
        "--tls-port",
        type=int,
        metavar="N",
        help="also listen with TLS here (e.g. 8883), with new certificates",
    )
    prov.add_argument("--tls-host", action="append", metavar="NAME",
                      help="a name or address boards use for the broker (repeatable; default: localhost)")  # fmt: skip
    prov.set_defaults(handler=_broker_provision)

    schema = commands.add_parser("schema", help="print the protocol's JSON Schema")
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_format)
    try:
        code: int = args.handler(args)
    except (ConfigError, StackError, DeployError) as exc:
        print(f"makerwatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
