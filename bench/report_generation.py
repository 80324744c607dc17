"""Report generation for a network: six sites, 40 machines each, a month of history.

    .venv/bin/python bench/report_generation.py [--sites 6] [--machines 40] [--days 31]

The history comes from the simulator (the firmware's own core on every board, each
site with its own opening hours and schedule) and goes through ingest's own decoder
and line protocol into a real InfluxDB, written directly in large batches instead of
through MQTT, so loading a month does not take an hour; what is stored is what
ingest would store. Then, for last month: each figure's InfluxQL timed alone, the
statistics for the whole network, and `makerwatch report --all-sites` as a process in
each format, with its wall time and peak memory (ru_maxrss of the child).
Peer in the same run: the HTML report of a single site.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import temporary_stack

from makerwatch.core.figures import FIGURES
from makerwatch.core.site_config import MachineKind, SiteConfig
from makerwatch.core.statistics import (
    energy_rollup_query,
    figure_query,
    period_of,
    statistics,
    time_condition,
)
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.sim.runner import Simulation
from makerwatch.sim.scenarios import SCENARIOS, build_boards

SITES = [  # (id, name, time zone, opening hours)
    ("aktobe", "Makerspace Aktobe", "Asia/Aqtobe", ("mon", "tue", "wed", "thu", "fri", "sat"), "10:00-19:00"),
    ("almaty", "Makerspace Almaty", "Asia/Almaty", ("tue", "wed", "thu", "fri", "sat", "sun"), "11:00-21:00"),
    ("astana", "Makerspace Astana", "Asia/Almaty", ("mon", "tue", "wed", "thu", "fri"), "09:00-18:00"),
    ("oskemen", "Makerspace Oskemen", "Asia/Almaty", ("mon", "wed", "fri", "sat"), "12:00-20:00"),
    ("pavlodar", "Makerspace Pavlodar", "Asia/Almaty", ("tue", "thu", "sat", "sun"), "10:00-18:00"),
    ("oral", "Makerspace Oral", "Asia/Oral", ("mon", "tue", "wed", "thu", "fri", "sat"), "10:00-19:00"),
]  # fmt: skip
KINDS = [kind.value for kind in MachineKind if kind is not MachineKind.OTHER]
WRITE_BATCH = 20_000

# The figures with a query of their own.
QUERIED = [f.key for f in FIGURES if f.query is not None]


def site_config(index: int, machines: int, influx_url: str) -> SiteConfig:
    site_id, name, zone, days, hours = SITES[index % len(SITES)]
    return SiteConfig.model_validate({
        "site": {"id": site_id, "name": name, "timezone": zone, "opening_hours": {d: [hours] for d in days}},
        "devices": [{"id": f"{site_id}-{i:02d}", "name": f"{KINDS[i % len(KINDS)]} {i}", "kind": KINDS[i % len(KINDS)]}
                    for i in range(machines)],
        "influxdb": {"url": influx_url, "database": "network"},
        "ingest": {"max_reading_age_s": 400 * 86400.0},
    })  # fmt: skip


class DirectWriter:
    """A simulation's publisher that decodes like ingest and writes line protocol in batches."""

    def __init__(self, config: SiteConfig) -> None:
        self.decoder = Decoder(config)
        self.http = httpx.Client(base_url=config.influxdb.url, timeout=120)
        self.lines: list[str] = []
        self.points = 0
        self.tally = None

    def __call__(self, topic: str, payload: str, retain: bool) -> None:
        decoded = self.decoder.decode(topic, payload.encode(), retain)
        self.lines += [encode_point(p) for p in decoded.points]
        if len(self.lines) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            response = self.http.post("/write", params={"db": "network", "precision": "ns"},
                                      content="\n".join(self.lines).encode())  # fmt: skip
            response.raise_for_status()
            self.points += len(self.lines)
            self.lines = []

    def close(self) -> None:
        self.http.close()


def load_site(args: tuple[int, int, str, int, int]) -> tuple[str, int]:
    index, machines, influx_url, start_ms, end_ms = args
    config = site_config(index, machines, influx_url)
    boards = build_boards(SCENARIOS["normal-week"], config, start_ms, index + 1, end_ms=end_ms,
                          sample_period_s=10.0, telemetry_period_s=60)  # fmt: skip
    writer = DirectWriter(config)
    Simulation(boards, writer, start_ms, end_ms, speed=None, step_ms=600_000).run()  # type: ignore[arg-type]
    writer.close()
    return config.site.id, writer.points


def child_run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (its own rusage, from wait4)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed: {child.stderr.read().decode() if child.stderr else ''}"
        )
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=6)
    parser.add_argument("--machines", type=int, default=40)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    month = f"{month_start:%Y-%m}"
    start_ms = int(
        datetime.combine(month_start - timedelta(days=2), datetime.min.time(), UTC).timestamp()
        * 1000
    )
    end_ms = int(
        datetime.combine(
            today.replace(day=1) + timedelta(days=1), datetime.min.time(), UTC
        ).timestamp()
        * 1000
    )
    with temporary_stack() as (_, influxdb), tempfile.TemporaryDirectory() as tmp:
        httpx.post(
            f"{influxdb.url}/query", data={"q": "CREATE DATABASE network"}
        ).raise_for_status()
        started = time.perf_counter()
        jobs = [(i, args.machines, influxdb.url, start_ms, end_ms) for i in range(args.sites)]
        with multiprocessing.Pool(2) as pool:
            loaded = pool.map(load_site, jobs)
        points = sum(n for _, n in loaded)
        print(f"loaded {points:,} points for {args.sites} sites x {args.machines} machines "
              f"({month} and two days either side) in {time.perf_counter() - started:.0f} s")  # fmt: skip

        configs = [site_config(i, args.machines, influxdb.url) for i in range(args.sites)]
        # What ingest does after writing: each site's local days rolled up into energy_daily.
        started = time.perf_counter()
        for config in configs:
            zone = ZoneInfo(config.site.timezone)
            day = datetime.fromtimestamp(start_ms / 1000, zone).date()
            while (
                midnight := int(datetime.combine(day, datetime.min.time(), zone).timestamp() * 1000)
            ) < end_ms:
                following = int(
                    datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).timestamp()
                    * 1000
                )
                query = energy_rollup_query(
                    config.site.id, config.site.timezone, midnight, following
                )
                httpx.post(
                    f"{influxdb.url}/query", data={"db": "network", "q": query}, timeout=600
                ).raise_for_status()
                day += timedelta(days=1)
        print(
            f"energy rolled up per machine and day, as ingest does, in {time.perf_counter() - started:.1f} s"
        )
        files = []
        for config in configs:
            path = Path(tmp) / f"{config.site.id}.yaml"
            path.write_text(
                yaml.safe_dump(
                    config.model_dump(mode="json", exclude_none=True), allow_unicode=True
                )
            )
            files.append(path.name)
        network = Path(tmp) / "network.yaml"
        network.write_text(yaml.safe_dump({"network": "Makerspaces of Kazakhstan", "sites": files}))

        async def timings() -> None:
            async with InfluxClient(configs[0].influxdb) as influx:
                period = period_of(month, configs[0].site.timezone)
                where = f"site =~ /.*/ AND {time_condition(period.start_ms, period.end_ms)}"
                print("\nInfluxQL per figure, whole network, grouped by device:")
                for figure in QUERIED:
                    t = time.perf_counter()
                    await influx.query(figure_query(figure, where, ["device"]))
                    print(f"  {figure:<14} {1000 * (time.perf_counter() - t):8.0f} ms")
                t = time.perf_counter()
                stats = await statistics(
                    influx.query, configs, month, int(time.time() * 1000), simulated=True
                )
                print(f"  statistics()   {1000 * (time.perf_counter() - t):8.0f} ms in all "
                      f"({stats.total.machine_hours:,.0f} machine-hours, {stats.total.sessions:,} sessions)")  # fmt: skip

        asyncio.run(timings())
        cli = [
            sys.executable,
            "-m",
            "makerwatch.cli",
            "report",
            "--month",
            month,
            "--config",
            str(network),
            "--include-simulated",  # the history is the simulator's
        ]
        print(f"\nmakerwatch report --month {month} (as a process; wall time, peak RSS):")
        runs = [("one site, html", ["--site", "aktobe", "--format", "html"])] + [
            (f"all sites, {fmt}", ["--all-sites", "--format", fmt]) for fmt in ("json", "csv", "html", "pdf")
        ]  # fmt: skip
        for label, extra in runs:
            seconds, peak_mb = child_run(
                [*cli, *extra, "--out", str(Path(tmp) / f"out.{extra[-1]}")]
            )
            print(f"  {label:<18} {seconds:6.1f} s  {peak_mb:6.0f} MB")
        print("\ncommand: .venv/bin/python bench/report_generation.py "
              f"--sites {args.sites} --machines {args.machines}")  # fmt: skip


if __name__ == "__main__":
    main()
