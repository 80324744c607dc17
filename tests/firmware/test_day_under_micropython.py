"""A day of the board's core under real MicroPython 1.27, measured against an ESP32's heap.

tests/firmware/micropython_day.mjs drives the firmware's own Agent a minute at a time
(one sample a second, a reading every 10 s) through a day with the broker away, and
measures the live heap after each minute's collection.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import ROOT

# The GC heap MicroPython has on an ESP32 without PSRAM (micropython/micropython#7043:
# "GC: total: 111168"). What the board keeps live must leave most of it for the runtime,
# the MQTT client's buffers and the garbage between collections.
ESP32_HEAP_BYTES = 111_168
RUNNER = ROOT / "tests" / "firmware" / "micropython_day.mjs"


def day(outage_s: tuple[int, int]) -> dict[str, object]:
    result = subprocess.run(
        ["node", str(RUNNER), json.dumps(list(outage_s))],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    outcome: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT:"))
    assert str(outcome["implementation"]).startswith("micropython")
    return outcome


@pytest.mark.parametrize(
    ("outage_s", "dropped"),
    [((12 * 3600, 13 * 3600), False), ((12 * 3600, 14 * 3600), True)],
    ids=["one-hour-outage", "outage-past-the-buffer"],
)
def test_a_day_with_the_broker_away_fits_an_esp32_heap(
    outage_s: tuple[int, int], dropped: bool
) -> None:
    """Test that an hour offline is buffered and delivered in full, that a longer outage fills
    the 500-reading buffer and counts what it drops, that the readings acknowledged just before
    the broker went away are sent again, and that what the board holds live stays under half an
    ESP32's heap either way."""
    outcome = day(outage_s)
    assert outcome["readings"] == 8641  # a reading every 10 s for a day, and the last one
    assert outcome["waiting"] == 0, "the backlog flushed once the broker was back"
    assert int(outcome["resent"]) > 0, "the last acknowledged readings sent again"  # type: ignore[call-overload]
    assert outcome["delivered"] == int(outcome["readings"]) - int(outcome["dropped"])  # type: ignore[call-overload]
    assert (int(outcome["dropped"]) > 0) is dropped  # type: ignore[call-overload]
    assert int(outcome["peak_live_bytes"]) < ESP32_HEAP_BYTES // 2, outcome  # type: ignore[call-overload]
