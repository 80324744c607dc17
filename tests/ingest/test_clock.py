"""The server's clock: a step of the wall clock moves no stamp unless the boards agree."""

from __future__ import annotations

import asyncio
import json
import time

from makerwatch.app import IngestService
from makerwatch.ingest.clock import BoardClock, SteadyClock
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.support import RunningIngest, make_config, publish, stored, wait_until

HOUR_S = 3600.0


class Clocks:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_790_000_000.0, 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_step_of_the_wall_clock_is_not_followed_without_the_boards() -> None:
    """Test that +1 h and -1 h steps leave the stamps on the monotonic clock's course, and
    that small differences (NTP's slewing) are followed."""
    clocks = Clocks()
    steady = SteadyClock(
        BoardClock(30.0, lambda: clocks.mono), lambda: clocks.wall, lambda: clocks.mono
    )
    assert steady() == clocks.wall
    clocks.advance(10)
    clocks.wall += 0.5  # slewed
    assert steady() == clocks.wall
    expected = clocks.wall + 5
    clocks.advance(5)
    clocks.wall += HOUR_S
    assert steady() == expected
    clocks.advance(5)
    assert steady() == expected + 5
    clocks.wall -= 2 * HOUR_S  # now an hour behind
    clocks.advance(5)
    assert steady() == expected + 10
    clocks.wall += HOUR_S  # back where it should be: followed again
    assert steady() == clocks.wall


def test_a_step_the_boards_agree_with_is_followed() -> None:
    """Test that a wall clock stepped to where the boards' NTP time says it is (a server
    that started with a wrong clock) is followed."""
    clocks = Clocks()
    boards = BoardClock(30.0, lambda: clocks.mono)
    steady = SteadyClock(boards, lambda: clocks.wall, lambda: clocks.mono)
    assert steady() == clocks.wall
    true_time = clocks.wall + HOUR_S  # the server started an hour behind
    boards.observe("solder-1", true_time, true_time)
    boards.observe("printer-1", true_time, true_time)
    clocks.advance(1)
    clocks.wall = true_time + 1  # NTP steps it right
    assert steady() == true_time + 1
    clocks.advance(1)
    assert steady() == true_time + 2


async def test_a_reading_without_ts_after_a_clock_step_is_stored_at_the_real_time(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that ingest (real Mosquitto, real InfluxDB) whose wall clock is stepped +1 h,
    then -1 h from where it was, stores readings without ts at the time they arrived."""
    config = make_config(mosquitto.port, own_influxdb.url)
    step = {"s": 0.0}
    service = IngestService(config, clock=lambda: time.time() + step["s"])
    stop = asyncio.Event()
    running = RunningIngest(service, stop, asyncio.create_task(service.run(stop)))
    await wait_until(service.subscribed.is_set, "ingest to subscribe")
    topic = f"makerspace/{config.site.id}/solder-1/telemetry"
    try:
        async with InfluxClient(config.influxdb) as influx:
            for seq, stepped_s in enumerate((0.0, HOUR_S, -HOUR_S), start=1):
                step["s"] = stepped_s
                before_ms = time.time() * 1000
                await publish(
                    mosquitto.port, [(topic, json.dumps({"v": 1, "seq": seq, "power_w": 40.0}))]
                )
                query = f"SELECT power_w FROM telemetry WHERE seq = {seq}"

                async def arrived(q: str = query) -> bool:
                    return len(await stored(influx, q)) == 1

                await wait_until(arrived, f"reading {seq} stored")
                after_ms = time.time() * 1000
                [row] = await stored(influx, query)
                assert before_ms - 1 <= row["time"] <= after_ms + 1, (seq, stepped_s)
    finally:
        await running.shutdown()
