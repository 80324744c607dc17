"""`makerwatch staff invite|revoke|list`: staff phones signed in by a one-time link."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from makerwatch.cli.options import (
    LAN_HTTP,
    AddCommand,
    add_config,
    add_data,
    lan_address,
    load,
    running_stack,
    site_file,
)
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig


def add_commands(add: AddCommand) -> None:
    staff = add("staff", help="sign staff phones in to the floor board with one-time links")
    commands = staff.add_subparsers(dest="staff_command", required=True)
    invite = commands.add_parser(
        "invite", help="print a one-time sign-in link and QR code for a staff member's phone"
    )
    invite.add_argument("name", help="a staff member's name, as in the site file's staff:")
    invite.add_argument("--url", metavar="URL",
                        help="the floor board's address as phones reach it, e.g. "
                             "https://192.168.1.20:8090 (default: the running makerwatch up's)")  # fmt: skip
    invite.add_argument("--png", type=Path, metavar="FILE",
                        help="where to write the QR code as a picture (default: in the data folder)")  # fmt: skip
    invite.set_defaults(handler=_invite)
    revoke = commands.add_parser("revoke", help="sign out every phone of a staff member")
    revoke.add_argument("name", help="a staff member's name")
    revoke.set_defaults(handler=_revoke)
    listed = commands.add_parser("list", help="each staff member and the phones signed in")
    listed.set_defaults(handler=_list)
    for parser in (invite, revoke, listed):
        add_config(parser)
        add_data(parser)


def _site(args: argparse.Namespace) -> SiteConfig:
    return load(site_file(args.config, args))


def _member(args: argparse.Namespace) -> str:
    """The staff member args.name names (letter case aside), or one line
    saying which site file has whom (the running up's file may not be the one in mind)."""
    path = site_file(args.config, args)
    config = load(path)
    for member in config.staff:
        if member.name.casefold() == args.name.casefold():
            return member.name
    if not config.staff:
        raise ConfigError(f"{path}: no staff yet: add them under staff: first (docs/operations.md)")
    known = ", ".join(member.name for member in config.staff)
    raise ConfigError(f"{path}: no staff member {args.name!r} (staff: {known})")


def board_url(args: argparse.Namespace, default: str | None = None) -> str:
    """--url, else the running `up`'s board, else `default`, else one line saying what
    to give."""
    if args.url:
        if not re.match(r"https?://[^/\s]+", args.url):
            raise ConfigError(f"--url {args.url!r}: expected http://HOST:PORT or https://HOST:PORT")
        return str(args.url)
    stack = running_stack(args.data)
    if stack is not None:
        return stack.board_url or f"http://{stack.http}"
    if default is not None:
        return default
    raise ConfigError(
        f"no makerwatch up runs with data folder {args.data}: give --url, the floor "
        "board's address as phones reach it (e.g. http://192.168.1.20:8090)"
    )


def invite_new_staff(args: argparse.Namespace, names: list[str]) -> None:
    """`config init`: a sign-in link for each new staff member, as a link and a picture
    (the terminal's QR codes are one `staff invite` away), for the board `makerwatch up
    --lan` will serve on this machine unless --url or a running up says otherwise."""
    from makerwatch.api.invites import INVITE_HOURS, StaffDevices, invite_link

    url = board_url(args, default=f"https://{lan_address()}:{LAN_HTTP.rpartition(':')[2]}")
    devices = StaffDevices(args.data)
    for name in names:
        link = invite_link(url, devices.invite(name, int(time.time() * 1000)))
        png = picture_path(args.data, name)
        save_qr(link, png)
        print(f"sign-in link for {name}'s phone (one phone, within {INVITE_HOURS:.0f} h): "
              f"{link}  (QR code: {png})")  # fmt: skip
    print(f"These open the board at {url}; another address: makerwatch staff invite NAME --url URL")


def picture_path(data: Path, name: str) -> Path:
    slug = re.sub(r"[^\w-]+", "-", name.lower())
    return data / f"invite-{slug}.png"


def _invite(args: argparse.Namespace) -> int:
    from makerwatch.api.invites import INVITE_HOURS, StaffDevices, invite_link

    name = _member(args)
    url = board_url(args)
    code = StaffDevices(args.data).invite(name, int(time.time() * 1000))
    link = invite_link(url, code)
    png = args.png or picture_path(args.data, name)
    print_invite(name, link, png, sys.stdout)
    print(f"It signs in one phone and is void after {INVITE_HOURS:.0f} h; "
          f"`makerwatch staff revoke {name!r}` signs their phones out.")  # fmt: skip
    if re.match(r"https?://(127\.|localhost|\[::1\])", url):
        print("Note: this address works only on this machine; for phones, give --url "
              "with the address they reach (makerwatch up --lan)", file=sys.stderr)  # fmt: skip
    return 0


def print_invite(name: str, link: str, png: Path, out: TextIO) -> None:
    """The link, its QR code in the terminal, and the same as a picture (owner-only:
    whoever holds it can sign in)."""
    print(f"Sign-in link for {name} (open it on their phone, or scan):\n{link}", file=out)
    save_qr(link, png).print_ascii(out=out, invert=True)
    print(f"QR code as a picture: {png}", file=out)


def save_qr(link: str, png: Path) -> Any:
    """The link's QR code, written as a picture readable by its owner only."""
    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(link)
    qr.make(fit=True)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.touch(mode=0o600)
    png.chmod(0o600)
    qr.make_image().save(str(png))
    return qr


def _revoke(args: argparse.Namespace) -> int:
    from makerwatch.api.invites import StaffDevices

    name = _member(args)
    phones = StaffDevices(args.data).revoke(name)
    print(f"{name}: {phones} phone(s) signed out, open invite links void")
    # Revoking reaches the phones only: the person's own token is the site file's.
    print(
        "Their token in the site file still works: remove them under staff: and restart to end it too."
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from makerwatch.api.invites import StaffDevices
    from makerwatch.core.browser import browser_name

    config = _site(args)
    zone = ZoneInfo(config.site.timezone)
    phones, invites = StaffDevices(args.data).listed(int(time.time() * 1000))

    def at(ms: int) -> str:
        return f"{datetime.fromtimestamp(ms / 1000, zone):%Y-%m-%d %H:%M}"

    for member in config.staff:
        print(f"{member.name}: token in the site file")
        for phone in (p for p in phones if p.name == member.name):
            print(f"  phone {phone.device_id}: signed in {at(phone.signed_in_ms)}, "
                  f"until {at(phone.expires_ms)}; {browser_name(phone.agent)}")  # fmt: skip
        for invite in (i for i in invites if i.name == member.name):
            print(f"  invite link not yet used, void at {at(invite.expires_ms)}")
    if not config.staff:
        print("no staff in the site file: nobody can sign in")
    return 0
