"""A step of the server's wall clock (date -s, a clock set by hand) changes nothing the
alert service does: no timer falls due early or late, nothing is told twice."""

from __future__ import annotations

import asyncio
import logging

import pytest

from makerwatch.alerts.service import AlertService
from makerwatch.core.points import Point
from tests.alerts.test_engine import MIN, OPENS
from tests.alerts.test_own_timeline import HOUR, STEP, Told, site
from tests.alerts.test_service import Memory

DAY = 24 * HOUR
TAGS = {"site": "aktobe", "device": "solder-1"}


async def afternoon(
    step_ms: int, *, boards_follow: bool = False, trusted_wall: bool = False
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    """The alert history and what staff are told of a station left idle for three hours,
    a reading every STEP with its board's time, the service's clock ticking each minute;
    the server's wall clock steps by `step_ms` an hour in (and the boards' with it, if
    `boards_follow`: their NTP server is this one). `trusted_wall`: the service is given
    the wall clock as its monotonic clock too, as if it trusted the wall clock."""
    true_ms = OPENS + HOUR  # the real time, which the boards' NTP keeps
    wall, mono = [true_ms], [10_000]
    memory, told = Memory(), Told()
    connected = asyncio.Event()
    connected.set()
    service = AlertService(
        site(), memory, memory, told, connected,  # type: ignore[arg-type]
        wall=lambda: wall[0], monotonic=(lambda: wall[0]) if trusted_wall else (lambda: mono[0]),
    )  # fmt: skip
    await service.handle(service.ready_topic, b"1", retained=False)
    await service.observe([Point("state", TAGS, {"state": "idle"}, true_ms)])
    for minute in range(1, 3 * 60):
        true_ms += MIN
        wall[0] += MIN + (step_ms if minute == 60 else 0)
        mono[0] += MIN
        if minute % (STEP // MIN) == 0:
            board_ms = true_ms + (step_ms if boards_follow and minute >= 60 else 0)
            await service.observe([Point("telemetry", TAGS, {"power_w": 6.0}, board_ms)])
        await service.tick()
    history = [
        (p.tags["status"], str(p.fields["alert_id"]), p.time_ms)
        for p in memory.points
        if p.measurement == "alert"
    ]
    return history, told.sent


@pytest.mark.parametrize(
    "boards_follow", [False, True], ids=["boards keep time", "boards step too"]
)
@pytest.mark.parametrize("step_ms", [DAY, -HOUR], ids=["a day forward", "an hour back"])
def test_a_step_of_the_servers_clock_changes_no_alert(
    step_ms: int, boards_follow: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that with the wall clock stepped a day forward or an hour back mid-afternoon,
    the left-on alert fires and repeats every 30 min exactly as without the step (no day
    of repeats at once, none held back), and staff are told the same; the step is one
    log line."""
    steady_history, steady_told = asyncio.run(afternoon(0))
    fired_at = OPENS + HOUR + 45 * MIN  # idle longer than 45 min
    repeats = [fired_at + n * 30 * MIN for n in (1, 2, 3, 4)]
    assert [(s, t) for s, _, t in steady_history] == [("fired", fired_at)] + [
        ("repeated", t) for t in repeats
    ]
    assert [news for _, news in steady_told] == [
        "fired",
        "repeated",
        "repeated",
        "repeated",
        "repeated",
    ]
    with caplog.at_level(logging.WARNING, logger="makerwatch.alerts.service"):
        history, told = asyncio.run(afternoon(step_ms, boards_follow=boards_follow))
    assert history == steady_history
    assert told == steady_told
    assert [r.getMessage() for r in caplog.records] == [
        f"the server clock stepped by {step_ms / 1000:+.0f} s; alert timers keep the time "
        "before the step until ingest restarts"
    ]


def test_the_step_test_fails_for_a_service_that_trusts_its_wall_clock() -> None:
    """Test that the scenario above does tell a service trusting the stepped wall clock
    apart: it is told differently (the test can fail)."""
    steady = asyncio.run(afternoon(0))
    history, told = asyncio.run(afternoon(DAY, boards_follow=True, trusted_wall=True))
    assert history != steady[0]
    assert told != steady[1]
