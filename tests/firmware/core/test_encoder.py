"""Protocol v1 encoder: exact JSON text, timestamps from integer milliseconds."""

import json

from firmware.core import encoder


def test_telemetry_is_exact():
    """Test one reading's exact text: ts from ms, fixed decimals, absent fields left out."""
    reading = {
        "epoch_ms": 1795770000123,
        "seq": 7,
        "power_w": 12.0,
        "temp_c": 341.26,
        "current_a": None,
    }
    assert (
        encoder.telemetry(reading)
        == '{"v":1,"ts":1795770000.123,"seq":7,"power_w":12.0,"temp_c":341.3}'
    )


def test_reading_without_clock_has_no_ts():
    """Test that a board without NTP time leaves ts out."""
    assert (
        encoder.telemetry({"epoch_ms": None, "seq": 0, "power_w": 0.0})
        == '{"v":1,"seq":0,"power_w":0.0}'
    )


def test_batch_keeps_order():
    """Test that a batch lists readings oldest first, each with its own ts."""
    readings = [{"epoch_ms": 1795770000000 + 1000 * i, "seq": i, "power_w": 1.5} for i in range(3)]
    body = json.loads(encoder.batch(readings))
    assert [r["seq"] for r in body["readings"]] == [0, 1, 2]
    assert [r["ts"] for r in body["readings"]] == [1795770000.0, 1795770001.0, 1795770002.0]


def test_unset_clock_is_not_a_time():
    """Test that a time before 2020 (an unset RTC) is treated as no time."""
    assert encoder.valid_epoch_ms(946684800000) is None
    assert encoder.valid_epoch_ms(1795770000000) == 1795770000000


def test_ranges_reject_nan_and_out_of_range():
    """Test the field limits the server enforces, including NaN."""
    assert encoder.in_range("power_w", 0.0)
    assert not encoder.in_range("power_w", -0.1)
    assert not encoder.in_range("temp_c", float("nan"))
    assert not encoder.in_range("temp_c", 1500.0)


def test_status_event_and_state_are_valid_json():
    """Test the other messages' text."""
    birth = json.loads(
        encoder.status(
            True, fw="0.1.0", rssi_dbm=-130, sensors=["ct"], buffer_dropped=2, taps_dropped=4
        )
    )
    assert birth == {
        "v": 1,
        "online": True,
        "fw": "0.1.0",
        "rssi_dbm": -120,
        "sensors": ["ct"],
        "buffer_dropped": 2,
        "taps_dropped": 4,
    }
    assert encoder.status(False) == '{"v":1,"online":false}'
    event = json.loads(encoder.event("relay", relay_on=False, reason="safety_timer"))
    assert event == {"v": 1, "event": "relay", "relay_on": False, "reason": "safety_timer"}
    assert json.loads(encoder.state("idle", 1795770000500, 3)) == {
        "v": 1,
        "state": "idle",
        "ts": 1795770000.5,
        "seq": 3,
    }


def test_state_carries_the_previous_state_and_its_duration():
    """Test the previous state's duration, formatted exactly from integer ms."""
    text = encoder.state("idle", 1795770000000, 9, "active", 3723456)
    assert (
        text
        == '{"v":1,"state":"idle","ts":1795770000.000,"seq":9,"previous":"active","previous_duration_s":3723.456}'
    )
