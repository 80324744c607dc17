"""`makerwatch broker provision`: per-device credentials and ACLs for a site's Mosquitto.

Each board may publish only its own board-to-server topics and read only its own
server-to-board ones, one ACL line per row of the protocol's table of message kinds
(core/protocol.py MESSAGE_KINDS); each smart plug has its own login that may publish
only under its own topic tree and read its own commands (the table of sources,
makerwatch/sources/, says which; a Zigbee2MQTT bridge has one login for the plugs
behind it), and ingest reads their topics and writes their commands; ingest reads
every device topic and writes dead letters, alerts and commands; the floor board reads; the `operator` login reads dead
letters and `$SYS` and writes nothing; a `healthcheck` user may read the broker's
uptime and nothing else; the `fleet` login (`firmware update`, `board calibrate`) may
send boards updates and calibrations and read their events; with Home Assistant's
discovery on, ingest writes its discovery prefix and values and the `homeassistant` login
reads them. Anonymous access is off.

Each board also gets its own update key (credentials/<site>.<device>.json
`update_key`): it signs the updates sent to that board, which refuses any other.
Passwords are kept across runs (a board keeps working after re-provisioning) and
hashed by Mosquitto's own `mosquitto_passwd`.

For a network of sites, the central broker is provisioned from the network file:
ingest (central ingest), the operator, the health check, and one `bridge.<site>` user
per site, which may write only its own site's board topics. A site's broker then bridges its
boards' topics to it (`bridge`): queued at the site while the link is down, QoS 1,
TLS when given the central broker's CA, with that site's bridge user.

Mosquitto started as root drops to its own user before it reads the password file
and ACL, so those files (and the data folder) belong to the user the broker will
run as: `owner`, by default the `mosquitto` user when provisioning as root, else
whoever provisions. For a broker in a container, `root` and `data_dir` are the
folders as the container sees them (Compose: /mosquitto/config, /mosquitto/data).

Longer than 400 lines on purpose: every identity's ACL is written here, so what each
login may do is read, and reviewed, in one file.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from makerwatch.core.errors import ConfigError, ToolError
from makerwatch.core.home_assistant import discovery_pattern, values_root
from makerwatch.core.network import Network
from makerwatch.core.protocol import (
    BROKER_DROPPED_TOPIC,
    DEAD_LETTER_TOPIC,
    TOPIC_ROOT,
    Role,
    board_kinds,
    kinds,
    message_kind,
)
from makerwatch.core.site_config import Device, SiteConfig
from makerwatch.core.source_settings import bridged_plugs_prefix
from makerwatch.ops.broker_tuning import tuning
from makerwatch.ops.system_tools import system_tool
from makerwatch.sources.table import family_of

__all__ = [
    "Bridge", "BrokerFiles", "board_user", "bridge_user", "hand_over", "plug_login", "provision",
    "provision_central",
]  # fmt: skip

INGEST_USER = "ingest"
FLOOR_USER = "floor"
HEALTHCHECK_USER = "healthcheck"
# Watches dead letters and $SYS by hand (docs/operations.md): its own login, so its
# client id (the user name) is never ingest's and watching cannot end ingest's session.
OPERATOR_USER = "operator"
# The volunteer's tools for the boards (firmware update, calibrate): a login of their own,
# since a second client with ingest's login would take over ingest's session.
FLEET_USER = "fleet"
# Server-to-board kinds the fleet tools send: updates and calibrations, no switching.
FLEET_KINDS = ("update/manifest", "update/chunk", "cmd/calibrate")
# Home Assistant's MQTT integration, for a site with discovery on (docs/home-assistant.md).
HOME_ASSISTANT_USER = "homeassistant"


def board_user(site: str, device: str) -> str:
    return f"{site}.{device}"


def bridge_user(site: str) -> str:
    return f"bridge.{site}"


@dataclass(frozen=True)
class Bridge:
    """A site broker's link to the central broker."""

    host: str
    port: int
    credentials: Path  # credentials/bridge.<site>.json from provisioning the central broker
    cafile: Path | None = None  # the central broker's CA: TLS on the link

    def conf(self, config: SiteConfig) -> str:
        site = config.site.id
        try:
            secret = json.loads(self.credentials.read_text(encoding="utf-8"))
            user, password = secret["mqtt_user"], secret["mqtt_password"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{self.credentials}: not a bridge credentials file from provisioning the central broker ({exc})"
            ) from None
        if user != bridge_user(site):
            raise ConfigError(
                f"{self.credentials}: {user}'s credentials, not {bridge_user(site)}'s"
            )
        topics = "\n".join(
            [f"topic {kind.topic(site, '+')} out 1" for kind in board_kinds()]
            + _bridged_plug_lines(config)
        )
        tls = f"bridge_cafile {self.cafile.resolve()}\n" if self.cafile else ""
        return f"""
# The boards' messages to the central broker of the network (docs/scaling.md): QoS 1,
# queued here while the link is down (up to max_queued_messages), sent on return.
connection central
address {self.host}:{self.port}
remote_clientid {user}
remote_username {user}
remote_password {password}
local_clientid {user}.local
cleansession false
bridge_protocol_version mqttv311
bridge_attempt_unsubscribe false
notifications true
notifications_local_only true
keepalive_interval 30
restart_timeout 2 60
{tls}{topics}
"""


def _bridged_plug_lines(config: SiteConfig) -> list[str]:
    """Each plug's own topics, put under the site's tree at the centre
    (`bridged_plugs_prefix`), where central ingest reads them as the site does. A level
    with a space (a Zigbee2MQTT friendly name) cannot be written in Mosquitto's
    `topic` line, so it is bridged as `+`: the centre reads only its plugs' topics."""
    prefix = bridged_plugs_prefix(config.site.id)
    topics: list[str] = []
    for device in config.devices:
        family = family_of(device)
        if family is None:
            continue
        for topic in family.topics(device.source):
            pattern = "/".join("+" if " " in level else level for level in topic.split("/"))
            if pattern not in topics:
                topics.append(pattern)
    return [f'topic {topic} out 1 "" {prefix}' for topic in topics]


@dataclass(frozen=True)
class BrokerFiles:
    directory: Path

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl(self) -> Path:
        return self.directory / "acl"

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def credentials(self) -> Path:
        """One JSON file per user: what `firmware deploy` and ingest read."""
        return self.directory / "credentials"

    @property
    def healthcheck_password(self) -> Path:
        """The health check's password alone, for a shell command to read."""
        return self.credentials / f"{HEALTHCHECK_USER}.password"


def _board_lines(site: str, device: str) -> list[str]:
    """A board's own topics, one line per kind of the table: what it sends, what it is sent."""
    return [f"topic write {kind.topic(site, device)}" for kind in board_kinds()] + [
        f"topic read {kind.topic(site, device)}" for kind in kinds(reader=Role.BOARD)
    ]


def plug_login(site: str, device: Device) -> str | None:
    """A plug's own login (a Zigbee2MQTT bridge's, for the plugs behind it); None for a board."""
    family = family_of(device)
    return None if family is None else family.login(site, device.id, device.source)


def _matches(pattern: str, topic: str) -> bool:
    """Does an ACL pattern (with + and a final #) cover this topic?"""
    want, have = pattern.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or level not in ("+", have[i]):
            return False
    return len(want) == len(have)


def _check_plugs_apart(config: SiteConfig) -> None:
    """No plug's login may write where another device's plug publishes (a Shelly prefix
    `shellies` would cover every Gen1 plug, an ESPHome node `tele` every Tasmota)."""
    site = config.site.id
    plugs = [(d, f, plug_login(site, d)) for d in config.devices if (f := family_of(d))]
    for device, family, login in plugs:
        for other, other_family, other_login in plugs:
            if other_login == login:
                continue
            for topic in other_family.topics(other.source):
                if any(_matches(tree, topic) for tree in family.writes(device.source)):
                    raise ConfigError(
                        f"device {device.id!r}: its plug's topics cover device {other.id!r}'s "
                        f"({topic}); give one of them another topic"
                    )


def _plug_acl(config: SiteConfig) -> tuple[list[str], list[str]]:
    """Each plug's login with its own topic tree only; and what ingest may do with them:
    read what they publish, write their command topics."""
    site = config.site.id
    users: dict[str, list[str]] = {}
    ingest: list[str] = []
    for device in config.devices:
        family, login = family_of(device), plug_login(site, device)
        if family is None or login is None:
            continue
        lines = users.setdefault(login, [])
        lines += [
            f"topic write {t}"
            for t in family.writes(device.source)
            if f"topic write {t}" not in lines
        ]
        lines += [
            f"topic read {t}" for t in family.reads(device.source) if f"topic read {t}" not in lines
        ]
        ingest += [f"topic read {topic}" for topic in family.topics(device.source)]
        ingest.append(f"topic write {family.command(device.source, False)[0]}")
    plugs = [line for login, lines in users.items() for line in (f"user {login}", *lines, "")]
    return plugs, ingest


def _acl(config: SiteConfig) -> str:
    site = config.site.id
    _check_plugs_apart(config)
    plugs, ingest_plugs = _plug_acl(config)
    root = f"{TOPIC_ROOT}/{site}"
    lines = [
        "# Generated by makerwatch broker provision; edit the site file instead.",
        f"user {INGEST_USER}",
        f"topic read {TOPIC_ROOT}/#",
        f"topic read {BROKER_DROPPED_TOPIC}",
        f"topic write {DEAD_LETTER_TOPIC}",
        f"topic readwrite {root}/alerts/#",
        f"topic readwrite {root}/_ingest/#",
        *(f"topic write {kind.topic(site, '+')}" for kind in kinds(reader=Role.BOARD)),
        *_home_assistant_ingest_lines(config),
        *ingest_plugs,
        "",
        f"user {FLOOR_USER}",
        f"topic read {root}/#",
        "",
        *_operator_lines(),
        f"user {HEALTHCHECK_USER}",
        "topic read $SYS/broker/uptime",
        "",
        f"user {FLEET_USER}",
        *(f"topic write {message_kind(suffix).topic(site, '+')}" for suffix in FLEET_KINDS),
        f"topic read {message_kind('event').topic(site, '+')}",
        "",
    ]
    lines += _home_assistant_lines(config)
    for device in config.devices:
        if device.source is None:
            lines += [f"user {board_user(site, device.id)}", *_board_lines(site, device.id), ""]
    return "\n".join(lines + plugs)


def _home_assistant_ingest_lines(config: SiteConfig) -> list[str]:
    """Ingest writes the site's discovery configurations (and reads them back, to clear
    a removed machine's) and the values they point to."""
    settings = config.home_assistant
    if not settings.discovery:
        return []
    return [
        f"topic readwrite {discovery_pattern(settings.prefix, config.site.id)}",
        f"topic readwrite {values_root(config.site.id)}/#",
    ]


def _home_assistant_lines(config: SiteConfig) -> list[str]:
    """Home Assistant reads the discovery prefix and the values, and writes only its own
    birth and last will (`<prefix>/status`); it commands nothing."""
    settings = config.home_assistant
    if not settings.discovery:
        return []
    return [
        f"user {HOME_ASSISTANT_USER}",
        f"topic read {settings.prefix}/#",
        f"topic write {settings.prefix}/status",
        f"topic read {values_root(config.site.id)}/#",
        "",
    ]


def _operator_lines() -> list[str]:
    """Read-only: the dead letters and the broker's own figures, nothing else."""
    return [
        f"user {OPERATOR_USER}",
        *(f"topic read {kind.pattern}" for kind in kinds(reader=Role.OPERATORS)),
        "topic read $SYS/#",
        "",
    ]


def _central_acl(network: Network) -> str:
    lines = [
        "# Generated by makerwatch broker provision from the network file.",
        f"user {INGEST_USER}",
        f"topic read {TOPIC_ROOT}/#",
        f"topic read {BROKER_DROPPED_TOPIC}",
        f"topic write {DEAD_LETTER_TOPIC}",
        "",
        *_operator_lines(),
        f"user {HEALTHCHECK_USER}",
        "topic read $SYS/broker/uptime",
        "",
    ]
    for site in network.sites:
        lines.append(f"user {bridge_user(site.site.id)}")
        lines += [f"topic write {kind.topic(site.site.id, '+')}" for kind in board_kinds()]
        lines.append(f"topic write {bridged_plugs_prefix(site.site.id)}#")
        lines.append("")
    return "\n".join(lines)


def _conf(root: Path, data_dir: Path, port: int, tls_port: int | None) -> str:
    tls = root / "tls"
    tls_block = (
        f"""listener {tls_port}
use_username_as_clientid true
cafile {tls}/ca.crt
certfile {tls}/server.crt
keyfile {tls}/server.key
"""
        if tls_port
        else f"""# Add --tls-port 8883 to provision (and make the certificates) for:
#listener 8883
#use_username_as_clientid true
#cafile {tls}/ca.crt
#certfile {tls}/server.crt
#keyfile {tls}/server.key
"""
    )
    return f"""# Generated by makerwatch broker provision.
# Boards and ingest on the makerspace network, with a user name and password each.
# Settings apply to every listener (one password file and ACL for all).
per_listener_settings false
allow_anonymous false
password_file {root / "passwd"}
acl_file {root / "acl"}

listener {port}
# The client id is the user name: no board can take over ingest's session (and its
# queued readings) or another board's (and publish its last will) by using its id.
# (A listener setting: it goes with each listener.)
use_username_as_clientid true

# TLS, for boards or a bridge across the internet (docs/operations.md, "Certificates").
{tls_block}

{tuning(data_dir)}"""


def _default_owner() -> tuple[int, int] | None:
    """Root provisions for the `mosquitto` user the broker drops to; anyone else, for
    themselves (a broker they start runs as them)."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return user.pw_uid, user.pw_gid


def hand_over(path: Path, owner: tuple[int, int] | None) -> None:
    """Give a file, or a folder and what is in it, to the user the broker runs as."""
    owner = owner or _default_owner()
    if owner is None:
        return
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.chown(item, *owner)


def provision(
    config: SiteConfig,
    out: Path,
    port: int = 1883,
    tls_port: int | None = None,
    *,
    root: Path | None = None,
    data_dir: Path | None = None,
    owner: tuple[int, int] | None = None,
    ingest_owner: int | None = None,
    bridge: Bridge | None = None,
) -> BrokerFiles:
    """Write passwd, acl, mosquitto.conf and credentials/<user>.json under `out`.

    `root` and `data_dir`: the folder and the broker's data folder as the broker will
    see them (default: where they are written). `owner`: who the broker runs as.
    `ingest_owner`: a user id that may read ingest's credentials (ingest's container).
    `bridge`: the link to a network's central broker.
    """
    users = [INGEST_USER, FLOOR_USER, OPERATOR_USER, HEALTHCHECK_USER, FLEET_USER]
    if config.home_assistant.discovery:
        users.append(HOME_ASSISTANT_USER)
    boards = [board_user(config.site.id, d.id) for d in config.devices if d.source is None]
    trees = _plug_trees(config)
    extra = bridge.conf(config) if bridge is not None else ""
    return _write(
        out, users + boards + sorted(trees), _acl(config), extra, port, tls_port, root, data_dir,
        owner,
        ingest_owner, keyed=frozenset(boards), trees=trees,
    )  # fmt: skip


def _plug_trees(config: SiteConfig) -> dict[str, str]:
    """Each plug login's topic trees, space-separated: in its credentials, so the demo's
    agents (agents/run.sh) bridge a simulated plug's topics with its login."""
    trees: dict[str, list[str]] = {}
    for device in config.devices:
        family, login = family_of(device), plug_login(config.site.id, device)
        if family is not None and login is not None:
            mine = trees.setdefault(login, [])
            mine += [tree for tree in family.writes(device.source) if tree not in mine]
    return {login: " ".join(mine) for login, mine in trees.items()}


def provision_central(
    network: Network,
    out: Path,
    port: int = 1883,
    tls_port: int | None = None,
    *,
    root: Path | None = None,
    data_dir: Path | None = None,
    owner: tuple[int, int] | None = None,
    ingest_owner: int | None = None,
) -> BrokerFiles:
    """The central broker of a network: central ingest, the health check and a bridge
    user per site (credentials/bridge.<site>.json, for that site's `--bridge-credentials`)."""
    users = [
        INGEST_USER,
        OPERATOR_USER,
        HEALTHCHECK_USER,
        *(bridge_user(s.site.id) for s in network.sites),
    ]
    acl = _central_acl(network)
    return _write(out, users, acl, "", port, tls_port, root, data_dir, owner, ingest_owner)


def _write(
    out: Path,
    users: list[str],
    acl: str,
    extra_conf: str,
    port: int,
    tls_port: int | None,
    root: Path | None,
    data_dir: Path | None,
    owner: tuple[int, int] | None,
    ingest_owner: int | None,
    keyed: frozenset[str] = frozenset(),
    trees: Mapping[str, str] | None = None,
) -> BrokerFiles:
    """`keyed`: the users (boards) that get an update key, kept across runs like passwords;
    `trees`: a plug login's topic trees, written into its credentials."""
    tool = system_tool("mosquitto_passwd", "mosquitto")
    files = BrokerFiles(out.resolve())
    files.credentials.mkdir(parents=True, exist_ok=True)
    data = files.directory / "data"
    data.mkdir(exist_ok=True)
    plain = []
    for user in users:
        path = files.credentials / f"{user}.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        password = kept.get("mqtt_password") or secrets.token_urlsafe(18)
        credentials = {"mqtt_user": user, "mqtt_password": password}
        if user in keyed:
            credentials["update_key"] = kept.get("update_key") or secrets.token_hex(32)
        if trees and user in trees:
            credentials["topics"] = trees[user]
        path.write_text(json.dumps(credentials) + "\n")
        path.chmod(0o600)
        plain.append(f"{user}:{password}")
        if user == HEALTHCHECK_USER:
            files.healthcheck_password.write_text(password)
            files.healthcheck_password.chmod(0o600)
    files.passwd.write_text("\n".join(plain) + "\n")
    files.passwd.chmod(0o600)
    result = subprocess.run([tool, "-U", str(files.passwd)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"mosquitto_passwd failed on {files.passwd}: {result.stderr.strip()}")
    files.acl.write_text(acl)
    files.acl.chmod(0o600)  # who may do what is nobody else's business
    base = root or files.directory
    files.conf.write_text(_conf(base, data_dir or base / "data", port, tls_port) + extra_conf)
    if extra_conf:
        files.conf.chmod(0o600)  # the bridge's password is in it
    for path in (files.passwd, files.acl, files.conf, data, files.healthcheck_password):
        hand_over(path, owner)
    if ingest_owner is not None:
        os.chown(files.credentials / f"{INGEST_USER}.json", ingest_owner, -1)
    return files
