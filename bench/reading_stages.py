"""CPU a reading, stage by stage, inside one process: where ingest's time per reading
goes, without the broker, InfluxDB or the other processes of bench/offered_load.py
sharing the cores (whose runs move by a tenth between runs).

    .venv/bin/python bench/reading_stages.py [--readings 60000] [--boards 1000] [--repeat 5]

The readings are bench/offered_load.py's: telemetry of `--boards` boards in turn, with
the board's time, a sequence number and power. Each stage runs over all of them, the
best of `--repeat` runs is shown (the least disturbed), in µs a reading of this
process's CPU time:

- decode: topic and payload to the point to store (validation included);
- line protocol: the point as InfluxDB's line;
- floor: the floor board's tiles told the points, 50 a call (as they arrive together);
- alerts: the alert service and engine told the points, 50 a call.

Baseline in the same run: `json.loads` of each payload, the least any consumer does
with a reading. The collector is tuned as `makerwatch ingest` tunes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from makerwatch.alerts.service import AlertService
from makerwatch.api.floor import Floor
from makerwatch.app import tune_gc_for_a_long_running_ingest
from makerwatch.core.points import Point
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.decode import Decoder
from makerwatch.ingest.line_protocol import encode_point

PER_CALL = 50  # points told to an observer at once


class _Nowhere:
    """Where the alert service would publish, write and notify: nothing fires here."""

    async def publish(self, *args: object, **kwargs: object) -> None: ...
    async def write(self, *args: object, **kwargs: object) -> None: ...
    async def notify(self, *args: object, **kwargs: object) -> None: ...


def site(boards: int) -> SiteConfig:
    devices = [{"id": f"dev-{i}", "name": f"Device {i}", "kind": "other"} for i in range(boards)]
    return SiteConfig.model_validate({
        "site": {"id": "bench", "name": "Bench"}, "devices": devices,
        "influxdb": {"url": "http://127.0.0.1:8086", "database": "bench"},
    })  # fmt: skip


def readings(count: int, boards: int) -> list[tuple[str, bytes]]:
    start = time.time() - 60
    return [
        (f"makerspace/bench/dev-{i % boards}/telemetry",
         json.dumps({"v": 1, "ts": round(start + i / 6000, 6), "seq": i, "power_w": 5.0 + i % 7}).encode())
        for i in range(count)
    ]  # fmt: skip


def decode_all(config: SiteConfig, messages: list[tuple[str, bytes]]) -> None:
    decoder = Decoder(config)  # fresh: to one that has seen them, they would be redeliveries
    for topic, payload in messages:
        decoder.decode(topic, payload)


def each(work: Callable[[Any], object], items: list[Any]) -> None:
    """`work` on each item, its result let go at once (as ingest lets it go)."""
    for item in items:
        work(item)


def best_us(run: Callable[[], object], count: int, repeat: int) -> float:
    """The least CPU time of `repeat` runs, in µs a reading."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=60_000)
    parser.add_argument("--boards", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config, messages, n = site(args.boards), readings(args.readings, args.boards), args.readings
    decoder = Decoder(config)
    points: list[Point] = [p for topic, payload in messages for p in decoder.decode(topic, payload).points]  # fmt: skip
    floor = Floor(config, list)
    alerts = AlertService(config, _Nowhere(), _Nowhere(), _Nowhere())  # type: ignore[arg-type]
    alerts.engine.ready = True
    calls = [points[i : i + PER_CALL] for i in range(0, n, PER_CALL)]
    tune_gc_for_a_long_running_ingest()  # as `makerwatch ingest` runs

    async def tell_alerts() -> None:
        for call in calls:
            await alerts.observe(call)

    print(f"command: python bench/reading_stages.py --readings {n} --boards {args.boards} --repeat {args.repeat}")  # fmt: skip
    print("| stage | µs a reading |")
    print("| --- | --- |")
    payloads = [payload for _, payload in messages]
    stages: list[tuple[str, Callable[[], object]]] = [
        ("baseline: json.loads", lambda: each(json.loads, payloads)),
        ("decode", lambda: decode_all(config, messages)),
        ("line protocol", lambda: each(encode_point, points)),
        ("floor", lambda: each(lambda call: floor.observe(call, int(time.time() * 1000)), calls)),
        ("alerts", lambda: asyncio.run(tell_alerts())),
    ]
    for name, run in stages:
        print(f"| {name} | {best_us(run, n, args.repeat):.2f} |", flush=True)


if __name__ == "__main__":
    main()
