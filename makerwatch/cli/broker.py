"""`makerwatch broker provision`: passwords, ACLs and configuration for Mosquitto."""

from __future__ import annotations

import argparse
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_config, host_port, site_file
from makerwatch.core.errors import ConfigError
from makerwatch.core.network import load_sites


def add_commands(add: AddCommand) -> None:
    broker = add("broker", help="broker tools")
    broker_commands = broker.add_subparsers(dest="broker_command", required=True)
    prov = broker_commands.add_parser(
        "provision",
        help="per-device passwords and ACLs for Mosquitto (a network file: the central broker)",
    )
    add_config(prov)
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
    prov.set_defaults(handler=_provision)


def _uid_gid(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: expected UID:GID, e.g. 1883:1883")
    return int(uid), int(gid)


def _provision(args: argparse.Namespace) -> int:
    from makerwatch.ops.provision import Bridge, hand_over, provision, provision_central

    network = load_sites(site_file(args.config))
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
            host, port = host_port(args.bridge_to, "--bridge-to")
            bridge = Bridge(host, port, args.bridge_credentials, args.bridge_cafile)
        files = provision(config, args.out, args.port, args.tls_port, bridge=bridge, **where)
        print(f"wrote {files.passwd}, {files.acl} and {files.conf}")
        plugs = sum(1 for d in config.devices if d.source is not None)
        print(
            f"credentials for {len(config.devices) - plugs} boards, {plugs} smart plugs, ingest "
            f"and the floor board in {files.credentials}/"
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
