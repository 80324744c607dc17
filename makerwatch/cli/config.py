"""`makerwatch check-config` and `makerwatch config example|init`: the site file."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from importlib.resources import files
from pathlib import Path

from makerwatch.cli.options import AddCommand, add_data
from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import LANGUAGES, load_site_config


def add_commands(add: AddCommand) -> None:
    check = add("check-config", help="validate site configuration files")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(handler=_check_config)

    config = add("config", help="site file tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    example = config_commands.add_parser("example", help="print the documented example site file")
    example.set_defaults(handler=_config_example)
    init = config_commands.add_parser("init", help="write a new site file from flags or questions")
    init.add_argument("--out", type=Path, default=Path("config/makerspace.yaml"), metavar="FILE",
                      help="where (default: config/makerspace.yaml, what Compose reads)")  # fmt: skip
    init.add_argument("--site-id", help="the site's id, e.g. aktobe")
    init.add_argument("--name", help="the site's name, e.g. 'Makerspace Aktobe'")
    init.add_argument(
        "--timezone", help="IANA time zone, e.g. Asia/Oral (asked for when not given)"
    )
    init.add_argument("--language", choices=LANGUAGES,
                      help="staff messages and the board's default language (default: ru)")  # fmt: skip
    init.add_argument("--hours", action="append", metavar="'DAYS HH:MM-HH:MM'",
                      help="opening hours, e.g. 'mon-fri 10:00-19:00' (repeatable; default mon-sat 10:00-19:00)")  # fmt: skip
    init.add_argument("--device", action="append", type=_device, metavar="ID:KIND:NAME",
                      help="a machine, e.g. solder-1:soldering_station:'Soldering 1' (repeatable)")  # fmt: skip
    init.add_argument("--staff", action="append", metavar="NAME",
                      help="a staff member to make a token for (repeatable)")  # fmt: skip
    init.add_argument("--url", metavar="URL",
                      help="the floor board's address as staff phones reach it, for their "
                           "sign-in links (default: makerwatch up --lan's on this machine)")  # fmt: skip
    add_data(init)
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(handler=_config_init)


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


def _config_example(args: argparse.Namespace) -> int:
    """The documented example site file, as installed with the package."""
    example = files("makerwatch.core").joinpath("makerspace.example.yaml")
    sys.stdout.write(example.read_text(encoding="utf-8"))
    return 0


def _device(text: str) -> dict[str, str]:
    from makerwatch.ops.site_file import parse_device

    try:
        return parse_device(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _config_init(args: argparse.Namespace) -> int:
    from makerwatch.ops.site_file import (
        DEFAULT_HOURS,
        SiteAnswers,
        ask_missing,
        parse_days_hours,
        site_file_text,
    )

    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out} exists: give --force to replace it")
    answers: dict[str, object] = {
        "site_id": args.site_id,
        "name": args.name,
        "devices": args.device,
        "timezone": args.timezone,
        "language": args.language,
        "staff": args.staff,
    }
    if args.hours:
        hours: dict[str, list[str]] = {}
        for text in args.hours:
            hours.update(parse_days_hours(text))
        answers["hours"] = hours
    required = (("--site-id", "site_id"), ("--name", "name"), ("--device", "devices"))
    if any(not answers.get(key) for _, key in required):
        # Questions for what the flags left out: in a terminal, or answers piped in.
        with contextlib.suppress(EOFError):
            ask_missing(answers, input)
    missing = [flag for flag, key in required if not answers.get(key)]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)} (or run it in a terminal to be asked)")
    text, tokens = site_file_text(SiteAnswers(
        site_id=str(answers["site_id"]), name=str(answers["name"]),
        timezone=str(answers.get("timezone") or "Asia/Aqtobe"), language=str(answers.get("language") or "ru"),
        hours=answers.get("hours") or parse_days_hours(DEFAULT_HOURS),  # type: ignore[arg-type]
        devices=answers["devices"], staff=answers.get("staff") or [],  # type: ignore[arg-type]
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
    if tokens:
        from makerwatch.cli.staff import invite_new_staff

        invite_new_staff(args, list(tokens))
    return 0
