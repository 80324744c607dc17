"""The simulator's plugs speak each firmware's own format: everything they send is read
by the sources' decoders, as the simulated machine drew it."""

from __future__ import annotations

import random

import pytest

from makerwatch.ingest.decode import Decoder
from makerwatch.sim.machine import SimulatedMachine, Visit
from makerwatch.sim.plug import SimulatedPlug
from makerwatch.sim.profiles import PROFILES
from makerwatch.sim.publisher import RecordingPublisher
from makerwatch.sources.board import BoardSource
from makerwatch.sources.router import SiteSources
from tests.sources.plugs import SOURCES, plug_config

CONFIG = plug_config(1883, "http://127.0.0.1:8086")
MINUTE_MS = 60_000


@pytest.mark.parametrize("device_id", list(SOURCES))
def test_a_simulated_plug_is_read_as_its_firmware(device_id: str) -> None:
    """Test that a simulated plug's birth, readings and last will, in its firmware's
    format, decode without a refusal into the machine's power and a growing energy."""
    device = CONFIG.device(device_id)
    assert device is not None
    start_ms = 1_796_000_000_000  # readings stamped as they arrive: any time will do
    profile = PROFILES[device.kind]
    machine = SimulatedMachine(
        profile, [Visit(start_ms + MINUTE_MS, start_ms + 10 * MINUTE_MS)], random.Random(1)
    )
    plug = SimulatedPlug(device, machine, start_ms, CONFIG.site.timezone)
    sent = RecordingPublisher()
    for t_ms in range(start_ms, start_ms + 12 * MINUTE_MS, 1000):
        plug.advance(t_ms)
        plug.deliver(sent, t_ms)
    plug.stop(sent, start_ms + 12 * MINUTE_MS)
    sources = SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))
    points = [
        p for topic, payload, _ in sent.sent for p in sources.decode(topic, payload.encode()).points
    ]
    readings = [p.fields for p in points if p.measurement == "telemetry"]
    statuses = [p.fields["online"] for p in points if p.measurement == "device_status"]
    assert statuses == [True, False]
    powers = [float(r["power_w"]) for r in readings if "power_w" in r]
    assert len(powers) == 12 * 60 // int(device.telemetry_period_s)
    assert max(powers) > CONFIG.devices[0].effective_thresholds.active_above_w, (
        "in use while visited"
    )
    energies = [float(r["energy_wh"]) for r in readings if "energy_wh" in r]
    if energies:
        assert energies == sorted(energies)
        assert energies[-1] > 0
    json_format = SOURCES[device_id]["type"] not in ("shelly_gen1", "esphome")
    assert (
        all(p.tags.get("source") == "sim" for p in points if p.measurement == "telemetry")
        is json_format
    )
