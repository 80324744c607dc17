"""A Shelly Gen2+ with both its notifications on sends each change twice: the whole
status on `<prefix>/status/switch:0` (`mqtt.status_ntf`) and the changed fields in
NotifyStatus on `<prefix>/events/rpc` (`mqtt.rpc_ntf`), as Shelly's API documentation
describes them (gen2/ComponentsAndServices/Mqtt, gen2/General/Notifications). Each
measurement is stored once however the two interleave."""

from __future__ import annotations

import itertools
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from makerwatch.core.points import Point
from makerwatch.ingest.decode import Decoder
from makerwatch.sources.board import BoardSource
from makerwatch.sources.router import SiteSources
from tests.sources.plugs import SOURCES, plug_config

CONFIG = plug_config(1883, "http://127.0.0.1:8086")
PREFIX = SOURCES["solder-shelly"]["prefix"]
STATUS, EVENTS = f"{PREFIX}/status/switch:0", f"{PREFIX}/events/rpc"


def whole_status(power_w: float, on: bool, energy_wh: float) -> bytes:
    return json.dumps({
        "id": 0, "source": "button", "output": on, "apower": power_w, "voltage": 229.8,
        "current": round(power_w / 229.8, 3), "aenergy": {"total": energy_wh, "by_minute": [0, 0, 0]},
        "temperature": {"tC": 41.2, "tF": 106.2},
    }).encode()  # fmt: skip


def notify_status(changed: dict[str, object], ts: float) -> bytes:
    body = {"src": PREFIX, "dst": f"{PREFIX}/events", "method": "NotifyStatus",
            "params": {"ts": ts, "switch:0": {"id": 0, **changed}}}  # fmt: skip
    return json.dumps(body).encode()


def of(points: list[Point], measurement: str) -> list[Point]:
    return [
        p for p in points if p.measurement == measurement and p.tags["device"] == "solder-shelly"
    ]


changes = st.lists(
    st.tuples(st.floats(0, 2000, allow_nan=False), st.booleans()), min_size=1, max_size=12
)


@settings(max_examples=100, deadline=None)
@given(changes=changes, notify_first=st.lists(st.booleans(), min_size=12, max_size=12))
def test_a_change_sent_on_both_topics_is_stored_once(
    changes: list[tuple[float, bool]], notify_first: list[bool]
) -> None:
    """Test that, whichever of the pair arrives first, every change after the first
    whole status is one reading (the whole status's) and each relay change one event."""
    site = SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))
    now, stored, relay_events = time.time(), [], []
    energy = 1000.0
    site.decode(STATUS, whole_status(0.0, False, energy))  # the plug connects: its whole status
    for n, (power, on) in enumerate(changes):
        energy += power / 60
        pair = [
            (EVENTS, notify_status({"apower": power, "output": on}, now + n)),
            (STATUS, whole_status(power, on, energy)),
        ]
        for topic, payload in pair if notify_first[n] else reversed(pair):
            points = site.decode(topic, payload).points
            stored += of(points, "telemetry")
            relay_events += of(points, "event")
    assert [p.fields["power_w"] for p in stored] == [power for power, _ in changes]
    assert all(p.fields["energy_wh"] for p in stored), "each from the whole status"
    positions = [
        False,
        *(on for _, on in changes),
    ]  # the plug's relay before each change, then after
    expected = [after for before, after in itertools.pairwise(positions) if after != before]
    assert [p.fields["relay_on"] for p in relay_events] == expected


def test_a_shelly_without_its_whole_status_is_read_from_notify_status() -> None:
    """Test that a plug with `status_ntf` off (Shelly's default) is stored from
    NotifyStatus alone, with the payload's time."""
    site = SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))
    ts = round(time.time(), 1)
    points = site.decode(EVENTS, notify_status({"apower": 12.5, "output": True}, ts)).points
    [reading] = of(points, "telemetry")
    assert (reading.fields["power_w"], reading.time_ms) == (12.5, round(ts * 1000))
    assert [p.fields["relay_on"] for p in of(points, "event")] == [True]
