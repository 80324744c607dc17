"""`makerwatch members add|import|train|untrain|uncard|list|forget`: the members store in the
data folder (docs/members.md). A card's UID, typed or imported, is keyed with the
site's card secret at once (board-secrets.yaml `card_secret`, the boards' own) and
never stored. A running ingest sees each change within seconds and sends the boards
their new access lists."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from makerwatch.cli.options import AddCommand, add_config, add_data, load, stack_in_use
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig

if TYPE_CHECKING:
    from makerwatch.members.store import MembersStore

DEFAULT_SECRETS = Path("board-secrets.yaml")


def add_commands(add: AddCommand) -> None:
    members = add("members", help="members, their cards and training (docs/members.md)")
    commands = members.add_subparsers(dest="members_command", required=True)

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        add_data(parser)
        add_config(parser)
        parser.set_defaults(handler=handler)
        return parser

    adding = command("add", "add a member", _add)
    adding.add_argument("name", help="the member's full name")
    adding.add_argument("--short", help="what staff see (default: first name and initial)")
    adding.add_argument("--email")
    adding.add_argument("--card", action="append", default=[], metavar="UID",
                        help="a card's UID as the reader prints it (keyed, never stored)")  # fmt: skip
    adding.add_argument("--staff", action="store_true", help="a staff card: opens every machine")
    _add_secrets(adding)
    importing = command("import", "add the members of a CSV member list", _import)
    importing.add_argument("csv", type=Path, metavar="FILE")
    _add_secrets(importing)
    training = command("train", "a member is trained on a machine kind or device", _train)
    training.add_argument("member", help="the member's number (members list) or exact name")
    training.add_argument("machine", help="a machine kind (laser_cutter) or device id (laser-1)")
    training.add_argument("--until", metavar="YYYY-MM-DD", help="the last day it holds (default: no expiry)")  # fmt: skip
    untraining = command("untrain", "withdraw a member's training on a machine", _untrain)
    untraining.add_argument("member")
    untraining.add_argument("machine")
    uncarding = command("uncard", "take one card off a member (lost, or handed back)", _uncard)
    uncarding.add_argument("member")
    uncarding.add_argument("card", metavar="UID|KEY",
                           help="the card's UID as the reader prints it, or its key (32 hex digits)")  # fmt: skip
    _add_secrets(uncarding)
    listing = command("list", "list the members (numbers, short names, cards, training)", _list)
    listing.add_argument("--keys", action="store_true",
                         help="each card's key too (for members uncard, when the card is lost)")  # fmt: skip
    forgetting = command("forget", "remove a member's name and cards for good", _forget)
    forgetting.add_argument("member")


def _add_secrets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, metavar="FILE",
                        help="where card_secret is (default: board-secrets.yaml)")  # fmt: skip


def card_secret(path: Path) -> str:
    """board-secrets.yaml's `card_secret`, or ConfigError naming the file. The example's
    placeholder is refused as the boards' build refuses it: cards keyed with it would
    match no board, and their UIDs are not kept to key them again."""
    import yaml

    from makerwatch.core.cards import MIN_SECRET_CHARS
    from makerwatch.ops.firmware_deploy import EXAMPLE_SECRETS, PLACEHOLDERS

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; copy {EXAMPLE_SECRETS} to it and set card_secret "
            "(or give --secrets FILE)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    secret = data.get("card_secret") if isinstance(data, dict) else None
    placeholder, wanted = PLACEHOLDERS["card_secret"]
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{path}: no card_secret (the boards' card secret)")
    if secret == placeholder:
        raise ConfigError(f"{path}: card_secret is still the example's; put {wanted} there")
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{path}: card_secret has {len(secret)} characters, not the {MIN_SECRET_CHARS} or more it needs"
        )
    return secret


def _open(
    args: argparse.Namespace, *, create: bool = False
) -> tuple[MembersStore, SiteConfig | None]:
    """The store in --data and the site file. Only `add` and `import` create the store:
    the others refuse a folder without one (a mistyped --data), not make an empty one."""
    from makerwatch.members.store import FILE_NAME, MembersStore

    # The site file given, else the running up's: for device ids and the site's time zone.
    stack = stack_in_use(args)
    path = args.config or (Path(stack.config) if stack is not None and stack.config else None)
    config = load(path) if path is not None else None
    store = args.data / FILE_NAME
    if not create and not store.is_file():
        raise ConfigError(
            f"{args.data}: no members store ({FILE_NAME}) there: give --data the data folder "
            "of makerwatch up, or add the first member with members add"
        )
    return MembersStore(store), config


def _now_ms() -> int:
    return int(time.time() * 1000)


def _machines(config: SiteConfig | None) -> set[str]:
    """What training may name: the site's kinds and device ids (every kind without a site file)."""
    from makerwatch.core.site_config import MachineKind

    kinds = {kind.value for kind in MachineKind}
    return kinds if config is None else kinds | {device.id for device in config.devices}


def _midnight(config: SiteConfig | None) -> Callable[[date], int]:
    from datetime import datetime
    from datetime import time as day_time
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(config.site.timezone if config else "UTC")
    return lambda day: int(datetime.combine(day, day_time(0), zone).timestamp() * 1000)


def _add(args: argparse.Namespace) -> int:
    from makerwatch.core.cards import card_key, parse_uid

    keys: tuple[str, ...] = ()
    if args.card:
        secret = card_secret(args.secrets)
        try:
            keys = tuple(card_key(secret, parse_uid(uid)) for uid in args.card)
        except ValueError as exc:
            raise ConfigError(f"--card: {exc}") from None
    store, _ = _open(args, create=True)
    member = store.add(args.name, _now_ms(), short=args.short, email=args.email,
                       staff=args.staff, keys=keys)  # fmt: skip
    print(f"member {member}: {args.name} ({len(keys)} card(s))")
    return 0


def _import(args: argparse.Namespace) -> int:
    from makerwatch.members.cards_csv import import_members, read_rows

    store, config = _open(args, create=True)
    secret = card_secret(args.secrets) if args.secrets.exists() else None
    rows = read_rows(args.csv, secret, _machines(config), _midnight(config))
    added, there = import_members(store, rows, _now_ms(), args.csv)
    again = f"; {there} already there (same name and e-mail), left as they are" if there else ""
    print(f"added {added} member(s) from {args.csv}{again}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from makerwatch.members.cards_csv import expiry_ms

    store, config = _open(args)
    if args.machine not in _machines(config):
        raise ConfigError(f"{args.machine!r} is not a machine kind or a device of the site file")
    until = None
    if args.until:
        try:
            until = expiry_ms(args.until, _midnight(config))
        except ValueError as exc:
            raise ConfigError(f"--until: {exc}") from None
    member = store.find(args.member)
    store.train(member, args.machine, until)
    shown = f"until {args.until}" if args.until else "with no expiry"
    print(f"member {member} is trained on {args.machine} {shown}")
    return 0


def _untrain(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    member = store.find(args.member)
    gone = store.untrain(member, args.machine)
    print(f"member {member} {'is no longer' if gone else 'was not'} trained on {args.machine}")
    return 0


def _uncard(args: argparse.Namespace) -> int:
    import re

    from makerwatch.core.cards import card_key, parse_uid

    store, _ = _open(args)
    member = store.find(args.member)
    if re.fullmatch(r"[0-9a-fA-F]{32}", args.card):
        key = args.card.lower()
    else:
        try:
            uid = parse_uid(args.card)
        except ValueError as exc:
            # (the UID is not repeated: what is printed may reach a log)
            raise ConfigError(f"the card: {exc}, or a card key (32 hex digits)") from None
        key = card_key(card_secret(args.secrets), uid)
    gone = store.detach(member, key)
    print(f"member {member}: {'that card is taken off' if gone else 'had no such card'}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store, config = _open(args)
    zone = config.site.timezone if config else "UTC"
    if not store.members():
        print(
            f"no members yet in {args.data}: makerwatch members add NAME, or members import FILE.csv"
        )
    for member in store.members():
        trained = ", ".join(
            t.machine + ("" if t.expires_ms is None else f" (until {_day(t.expires_ms, zone)})")
            for t in member.training
        )
        staff = " staff" if member.staff else ""
        print(
            f"{member.id:>5}  {member.short:<20} {len(member.keys)} card(s){staff}  {trained}".rstrip()
        )
        for key in member.keys if args.keys else ():
            print(f"{'':>5}  card {key}")
    return 0


def _day(expires_ms: int, zone: str) -> date:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    # The end of the last day it holds is the next midnight: show that last day.
    return datetime.fromtimestamp(expires_ms / 1000 - 1, ZoneInfo(zone)).date()


def _forget(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    # A number goes straight to forget: run again for a member already deleted, it
    # wipes what a reader held up the first time, then says there is no such member.
    member = int(args.member) if args.member.isdigit() else store.find(args.member)
    store.forget(member)
    print(f"member {member} forgotten: their name and cards are gone (usage counts stay, unnamed)")
    return 0
