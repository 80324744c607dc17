"""Each family's decoder on its firmware's documented payloads: units, times, relay and
online; what cannot be read is a DecodeError with its reason, never another exception."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makerwatch.core.protocol import DeadLetterReason
from makerwatch.ingest.decode import Decoded, Decoder
from makerwatch.ingest.errors import DecodeError
from makerwatch.sources.board import BoardSource
from makerwatch.sources.router import SiteSources
from makerwatch.sources.table import PLUGS, family_of
from tests.sources.plugs import SOURCES, local_time, online, plug_config, reading, relay_state

CONFIG = plug_config(1883, "http://127.0.0.1:8086")


def sources() -> SiteSources:
    return SiteSources(CONFIG, BoardSource(Decoder(CONFIG)))


def telemetry(decoded_points: list, device: str) -> dict:  # type: ignore[type-arg]
    rows = [
        p for p in decoded_points if p.measurement == "telemetry" and p.tags["device"] == device
    ]
    merged: dict[str, object] = {}
    for point in rows:
        merged.update(point.fields)
    return merged


@pytest.mark.parametrize("device", list(SOURCES))
def test_a_reading_is_stored_in_our_units(device: str) -> None:
    """Test that each firmware's reading becomes power in W, voltage in V, current in A
    and energy in Wh (Tasmota and Zigbee2MQTT kWh, Shelly Gen1 watt-minutes converted)."""
    site = sources()
    points = []
    for topic, payload in reading(device, 45.0, time.time(), energy_wh=1234.5):
        points += site.decode(topic, payload.encode()).points
    fields = telemetry(points, device)
    assert fields["power_w"] == pytest.approx(45.0)
    assert fields["energy_wh"] == pytest.approx(1234.5, abs=0.01)
    if SOURCES[device]["type"] != "shelly_gen1":  # a Plug S measures no voltage
        assert fields["voltage_v"] == pytest.approx(230.1)
        assert fields["current_a"] == pytest.approx(45.0 / 230.1, abs=0.001)
    assert "temp_c" not in fields, "a plug's own temperature is not the machine's"


def test_tasmota_time_is_the_plugs_local_time_in_the_sites_zone() -> None:
    """Test that Tasmota's zone-less `Time` is read in the site's zone."""
    ts = float(int(time.time()) - 60)
    topic, payload = reading("solder-tas", 10.0, ts)[0]
    point = sources().decode(topic, payload.encode()).points[0]
    assert point.time_ms == ts * 1000
    assert not point.server_time
    assert local_time(ts) in payload


def test_a_time_far_from_now_is_a_wrong_clock_and_arrival_is_used() -> None:
    """Test that a Tasmota without NTP (1970) is stored at its arrival, marked so."""
    body = {"Time": "1970-01-01T00:00:42", "ENERGY": {"Power": 3, "Total": 0.5}}
    before = time.time()
    point = sources().decode("tele/tasmota_A1B2C3/SENSOR", json.dumps(body).encode()).points[0]
    assert point.server_time
    assert point.fields["ts_from_server"] is True
    assert point.time_ms >= int(before * 1000)


def test_tasmota_with_several_channels_sums_them_or_takes_its_own() -> None:
    """Test that a two-channel Tasmota's arrays are summed for a device of the whole plug
    (voltage the highest), and a device of one channel takes its own."""
    body = {"Time": local_time(time.time()), "ENERGY": {"Total": [0.5, 1.5], "Power": [10, 30],
            "Voltage": [229, 231], "Current": [0.05, 0.13], "Factor": [1, 1]}}  # fmt: skip
    fields = (
        sources().decode("tele/tasmota_A1B2C3/SENSOR", json.dumps(body).encode()).points[0].fields
    )
    assert (fields["power_w"], fields["voltage_v"], fields["energy_wh"]) == (40.0, 231.0, 2000.0)
    one = plug_config(1883, "http://x:1").model_copy()
    config = one.model_validate({**one.model_dump(), "devices": [
        {"id": "ch2", "name": "ch2", "kind": "other", "source": {"type": "tasmota", "topic": "multi", "channel": 2}}]})  # fmt: skip
    site = SiteSources(config, BoardSource(Decoder(config)))
    fields = site.decode("tele/multi/SENSOR", json.dumps(body).encode()).points[0].fields
    assert (fields["power_w"], fields["voltage_v"], fields["energy_wh"]) == (30.0, 231.0, 1500.0)


@pytest.mark.parametrize("device", list(SOURCES))
def test_online_and_offline_follow_the_last_will(device: str) -> None:
    """Test that each firmware's birth and last will become status points."""
    site = sources()
    for state in (True, False):
        topic, payload = online(device, state)
        points = site.decode(topic, payload.encode()).points
        assert [p.fields["online"] for p in points if p.measurement == "device_status"] == [state]


def test_zigbee2mqtt_availability_may_be_plain_text() -> None:
    """Test that the legacy availability payload (plain `offline`) is read too."""
    points = sources().decode("zigbee2mqtt/bench/solder plug/availability", b"offline").points
    assert points[0].fields == {"online": False}


@pytest.mark.parametrize("device", list(SOURCES))
def test_a_relay_change_is_a_relay_event(device: str) -> None:
    """Test that each plug's report of its relay becomes a relay event once per change (what
    confirms a switch-off), ON/OFF, on/off or true/false alike."""
    site = sources()
    events = []
    for on in (True, True, False):
        topic, payload = relay_state(device, on)
        events += [
            p.fields
            for p in site.decode(topic, payload.encode()).points
            if p.measurement == "event"
        ]
    assert events == [{"event": "relay", "relay_on": True}, {"event": "relay", "relay_on": False}]


@pytest.mark.parametrize(("device", "topic", "payload"), [
    ("solder-tas", "cmnd/tasmota_A1B2C3/POWER", "OFF"),
    ("solder-shelly", "shellyplusplugs-e86beae8b2c4/rpc", None),
    ("solder-gen1", "shellies/shellyplug-s-C6B2F7/relay/0/command", "off"),
    ("solder-z2m", "zigbee2mqtt/bench/solder plug/set", '{"state": "OFF"}'),
    ("solder-esp", "athom-plug-7/switch/relay/command", "OFF"),
])  # fmt: skip
def test_each_plug_is_switched_off_by_its_own_command(
    device: str, topic: str, payload: str | None
) -> None:
    """Test that the off command is each firmware's own; Shelly's is an RPC with a src."""
    plug = CONFIG.device(device)
    assert plug is not None
    assert plug.source is not None
    family = family_of(plug)
    assert family is not None
    sent_topic, sent = family.command(plug.source, False)
    assert sent_topic == topic
    if payload is None:
        request = json.loads(sent)
        assert request["method"] == "Switch.Set"
        assert request["params"] == {"id": 0, "on": False}
        assert request["src"]
        assert isinstance(request["id"], int)
    else:
        assert sent == payload


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("tele/tasmota_A1B2C3/SENSOR", b"{not json", "not_json"),
    ("tele/tasmota_A1B2C3/SENSOR", b'{"Time":"2026-12-07T10:00:00"}', "schema"),
    ("tele/tasmota_A1B2C3/SENSOR", b'{"ENERGY":{"Power":"lots"}}', "schema"),
    ("tele/tasmota_A1B2C3/SENSOR", b'{"ENERGY":{"Power":-5}}', "schema"),
    ("tele/tasmota_A1B2C3/LWT", b"Maybe", "schema"),
    ("stat/tasmota_A1B2C3/POWER", b"TOGGLE", "schema"),
    ("shellyplusplugs-e86beae8b2c4/status/switch:0", b"[1,2]", "not_object"),
    ("shellyplusplugs-e86beae8b2c4/status/switch:0", b'{"apower": NaN}', "not_json"),
    ("shellies/shellyplug-s-C6B2F7/relay/0/power", b"\xff\xfe", "not_utf8"),
    ("shellies/shellyplug-s-C6B2F7/relay/0/energy", b"twelve", "schema"),
    ("zigbee2mqtt/bench/solder plug", b'{"power": true}', "schema"),
    ("zigbee2mqtt/bench/solder plug/availability", b'{"status":"online"}', "schema"),
    ("athom-plug-7/sensor/power/state", b"", "schema"),
    ("tele/tasmota_A1B2C3/SENSOR", b'{"ENERGY":{"Power":1' + b"0" * 400 + b"}}", "schema"),
])  # fmt: skip
def test_what_cannot_be_read_is_refused_with_its_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    """Test that malformed plug payloads raise DecodeError naming the topic and device."""
    with pytest.raises(DecodeError) as refused:
        sources().decode(topic, payload)
    assert refused.value.reason.value == reason
    assert topic in refused.value.detail
    assert "device" in refused.value.detail


def test_a_payload_over_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(DecodeError) as refused:
        sources().decode("tele/tasmota_A1B2C3/SENSOR", b" " * (CONFIG.ingest.max_payload_bytes + 1))
    assert refused.value.reason is DeadLetterReason.TOO_LARGE


def test_real_firmware_extras_are_read_liberally() -> None:
    """Test that ints for floats, extra fields, missing optional ones and events of other
    components are read, not refused."""
    site = sources()
    gen2 = {"src": "x", "method": "NotifyStatus", "params": {"ts": time.time(), "switch:0": {"id": 0, "apower": 12},
            "sys": {"uptime": 5}, "wifi": {"rssi": -60}}}  # fmt: skip
    points = site.decode(
        "shellyplusplugs-e86beae8b2c4/events/rpc", json.dumps(gen2).encode()
    ).points
    assert points[0].fields["power_w"] == 12.0
    event = {"src": "x", "method": "NotifyEvent", "params": {"ts": 1.0, "events": [{"component": "sys", "event": "ota_begin"}]}}  # fmt: skip
    assert (
        site.decode("shellyplusplugs-e86beae8b2c4/events/rpc", json.dumps(event).encode()).points
        == []
    )
    assert site.decode("athom-plug-7/sensor/power/state", b"nan").points == []
    overpower = site.decode("shellies/shellyplug-s-C6B2F7/relay/0", b"overpower").points
    assert overpower[0].fields == {"event": "relay", "relay_on": False}
    state = {"Time": "2026-12-07T10:00:00", "Uptime": "0T01:00:00", "POWER": "ON", "Wifi": {"Signal": -61, "RSSI": 78}}  # fmt: skip
    points = site.decode("tele/tasmota_A1B2C3/STATE", json.dumps(state).encode()).points
    assert {"event": "relay", "relay_on": True} in [p.fields for p in points]


def test_a_board_topic_still_goes_to_our_decoder() -> None:
    """Test that the table's first entry, our board's protocol, reads the board's topics."""
    topic = f"makerspace/{CONFIG.site.id}/solder-1/telemetry"
    points = sources().decode(topic, b'{"v":1,"seq":1,"power_w":42.5}').points
    assert points[0].fields["power_w"] == 42.5


plug_topics = st.sampled_from(sources().subscriptions()[len(BoardSource.subscriptions()) :])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
documented_keys = st.sampled_from(["ENERGY", "Power", "Total", "Voltage", "Current", "Time", "POWER",
    "params", "method", "switch:0", "apower", "aenergy", "total", "output", "state", "power", "energy",
    "voltage", "current", "ts", "temperature", "tC"])  # fmt: skip
firmware_like = st.recursive(
    json_values, lambda inner: st.dictionaries(documented_keys, inner, max_size=5), max_leaves=20
)


@settings(max_examples=400, deadline=None)
@given(
    topic=plug_topics,
    body=firmware_like
    | st.binary(max_size=64)
    | st.sampled_from([b"ON", b"off", b"nan", b"true", b"1e400", b"-0"]),
)
def test_every_decoder_only_ever_refuses_through_the_dead_letter_path(
    topic: str, body: object
) -> None:
    """Test that no payload on any plug's topic raises anything but DecodeError, and that
    what is stored is within the protocol's ranges."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    decoded = _decoded_or_refused(topic, payload)
    if isinstance(decoded, DecodeError):
        assert decoded.reason in DeadLetterReason
        assert topic in decoded.detail
        return
    for point in decoded.points:
        for name, value in point.fields.items():
            if name in ("power_w", "energy_wh", "voltage_v", "current_a"):
                assert isinstance(value, float)
                assert value >= 0


def _decoded_or_refused(topic: str, payload: bytes) -> Decoded | DecodeError:
    try:
        return sources().decode(topic, payload)
    except DecodeError as refused:
        return refused


def test_the_table_has_each_firmware_once() -> None:
    assert list(PLUGS) == ["tasmota", "shelly", "shelly_gen1", "zigbee2mqtt", "esphome"]


def test_a_shelly_may_be_named_by_its_generation() -> None:
    """Test that `type: shelly_gen3` reads the one Gen2+ format."""
    raw = CONFIG.model_dump(mode="json", exclude_none=True)
    raw["devices"] = [{"id": "g3", "name": "g3", "kind": "other",
                       "source": {"type": "shelly_gen3", "prefix": "shellyplugsg3-abc"}}]  # fmt: skip
    config = type(CONFIG).model_validate(raw)
    site = SiteSources(config, BoardSource(Decoder(config)))
    points = site.decode(
        "shellyplugsg3-abc/status/switch:0", b'{"id":0,"apower":7,"output":true}'
    ).points
    assert points[0].fields["power_w"] == 7.0


def test_a_one_relay_tasmota_may_say_power1() -> None:
    """Test that a Tasmota with SetOption26 (POWER1 for its one relay) is read too."""
    site = sources()
    assert "stat/tasmota_A1B2C3/POWER1" in site.subscriptions()
    points = site.decode("stat/tasmota_A1B2C3/POWER1", b"OFF").points
    assert points[0].fields == {"event": "relay", "relay_on": False}


def test_a_meter_a_hair_below_zero_reads_nothing() -> None:
    """Test that -0.3 W (a meter's noise with nothing on) is stored as 0 W, while -5 W is
    refused (above)."""
    body = b'{"id":0,"apower":-0.3,"output":false}'
    points = sources().decode("shellyplusplugs-e86beae8b2c4/status/switch:0", body).points
    assert points[0].fields["power_w"] == 0.0
