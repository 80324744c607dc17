"""`makerwatch report`: the sponsor report for a month, a week or days."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from makerwatch.cli.maintenance import staff_appendix
from makerwatch.cli.options import AddCommand, add_config, add_data, influx_settings, site_file
from makerwatch.core.errors import ConfigError, UnreachableError
from makerwatch.core.site_config import Language, SiteConfig

if TYPE_CHECKING:  # imported when the command runs (a command's start stays quick)
    from makerwatch.core.network import Network
    from makerwatch.core.statistics import Statistics


def add_commands(add: AddCommand) -> None:
    report = add("report", help="the sponsor report for a month, week or days")
    when = report.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", help="a calendar month, e.g. 2026-11")
    when.add_argument("--week", help="an ISO week, e.g. 2026-W47")
    when.add_argument("--days", help="days, both included, e.g. 2026-11-01..2026-11-15")
    add_config(report)
    add_data(report)  # a running makerwatch up there: its InfluxDB and site file
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
    report.add_argument("--send", action="store_true",
                        help="send the month's report to the site file's sponsors, as on the "
                             "first day of each month, instead of writing a file")  # fmt: skip
    report.add_argument("--staff", action="store_true",
                        help="add the appendix for staff (maintenance done in the period; "
                             "never for sponsors): HTML or PDF of one site")  # fmt: skip
    report.add_argument("--include-simulated", action="store_true",
                        help="count data from `makerwatch simulate` too (left out by default)")  # fmt: skip
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tqdm import tqdm

    from makerwatch.core.statistics import period_of, statistics
    from makerwatch.ingest.influx import InfluxClient
    from makerwatch.report import document

    network = _chosen_sites(args)
    period_text = args.month or args.week or args.days
    try:
        period_of(period_text, "UTC")  # refuse a bad period before any query
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.send:
        if args.staff:
            raise ConfigError("--staff is never sent to sponsors: leave out --send")
        return _send(network.sites, period_text, args)
    out_format = args.format or (args.out.suffix.lstrip(".") if args.out else "html")
    if out_format not in document.FORMATS:
        raise ConfigError(f"--format {out_format!r}: one of {', '.join(document.FORMATS)}")
    if args.staff and (out_format not in ("html", "pdf") or len(network.sites) != 1):
        raise ConfigError("--staff adds the staff appendix to one site's HTML or PDF report")
    scope = network.sites[0].site.id if len(network.sites) == 1 else "network"
    out = args.out or Path(f"makerwatch-{scope}-{period_text}.{out_format}")
    influxdb = influx_settings(network.central.influxdb, args.influx, args)

    # A bar once the work takes more than a second: one step per site, then the document.
    with tqdm(total=len(network.sites) + 1, delay=1.0, unit="step", leave=False) as bar:

        async def figures() -> Statistics:
            async with InfluxClient(influxdb) as influx:
                if not await influx.ping():
                    raise UnreachableError(
                        f"cannot reach InfluxDB at {influxdb.url} (give --influx URL, or start "
                        "makerwatch up, or --data for its data folder)"
                    )
                return await statistics(
                    influx.query, network.sites, period_text, int(time.time() * 1000),
                    progress=lambda _site: bar.update(1), simulated=args.include_simulated,
                )  # fmt: skip

        stats = asyncio.run(figures())
        appendix = None
        if args.staff:
            site = network.sites[0]
            appendix = lambda page: staff_appendix(page, site, period_text, args.lang, args)  # noqa: E731
        _write(stats, out_format, out, args.lang, network.name, appendix)
        bar.update(1)
    total = stats.total
    print(f"wrote {out} ({stats.period_label}, {len(stats.sites)} site(s), "
          f"{total.machine_hours:.1f} machine-hours, {total.sessions} session(s))")  # fmt: skip
    return 0


def _chosen_sites(args: argparse.Namespace) -> Network:
    """The site file's sites, or the one --site names; several need --all-sites."""
    from makerwatch.core.network import load_sites

    network = load_sites(site_file(args.config, args))
    if args.site is not None:
        return network.only(args.site)
    if len(network.sites) > 1 and not args.all_sites:
        known = ", ".join(s.site.id for s in network.sites)
        raise ConfigError(
            f"{args.config} lists several sites: give --site ID ({known}) or --all-sites"
        )
    return network


def _write(
    stats: Statistics,
    out_format: str,
    out: Path,
    language: Language,
    network: str | None,
    appendix: Callable[[str], str] | None,
) -> None:
    """The report as asked; a staff appendix (maintenance) after an HTML or PDF one."""
    from makerwatch.report import document

    if out_format == "json":
        out.write_text(document.as_json(stats) + "\n", encoding="utf-8")
    elif out_format == "csv":
        out.write_text(document.as_csv(stats), encoding="utf-8")
    else:
        page = document.html(stats, language, network=network)
        if appendix is not None:
            page = appendix(page)
        if out_format == "pdf":
            document.as_pdf(page, out)
        else:
            out.write_text(page, encoding="utf-8")


def _send(sites: list[SiteConfig], period_text: str, args: argparse.Namespace) -> int:
    """Each site's report to its sponsors, in their languages: a line for each delivery."""
    import asyncio
    import time

    from makerwatch.ingest.influx import InfluxClient
    from makerwatch.report.delivery import send_month

    if args.month is None:
        raise ConfigError("--send sends a month's report: give --month")
    if not any(site.sponsors for site in sites):
        raise ConfigError(f"{args.config} lists no sponsors: add a sponsors section")

    async def send() -> list[str]:
        lines = []
        for site in sites:
            influxdb = influx_settings(site.influxdb, args.influx)
            async with InfluxClient(influxdb) as influx:
                if not await influx.ping():
                    raise UnreachableError(f"cannot reach InfluxDB at {influxdb.url}")
                lines += await send_month(site, influx.query, period_text, int(time.time() * 1000))
        return lines

    lines = asyncio.run(send())
    for line in lines:
        print(line)
    print(f"sent the {period_text} report to {len(lines)} sponsor address(es)")
    return 0
