"""The decoder: valid messages become exact points; each class of bad input has its reason."""

from __future__ import annotations

import json

import pytest

from makerwatch.core.points import Point
from makerwatch.ingest.decode import Decoded, Decoder, json_too_deep
from makerwatch.ingest.errors import DecodeError
from tests.support import KAZAKH_NAME, make_config

NOW_S = 1_790_000_000.0
CONFIG = make_config(1883, "http://127.0.0.1:8086", max_payload_bytes=2048)
SITE = CONFIG.site.id
TOPIC = f"makerspace/{SITE}/solder-1/telemetry"
TAGS = {"site": SITE, "device": "solder-1", "kind": "soldering_station", "name": KAZAKH_NAME}


def decode(payload: object, topic: str = TOPIC) -> list[Point]:
    """The points of a message no part of which is refused."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    decoded = Decoder(CONFIG, clock=lambda: NOW_S).decode(topic, raw)
    assert decoded.refused == []
    return decoded.points


def reason_of(payload: object, topic: str = TOPIC) -> str:
    with pytest.raises(DecodeError) as caught:
        decode(payload, topic)
    assert caught.value.detail.startswith(topic), "the error names the topic"
    return caught.value.reason


def test_single_reading_becomes_one_point() -> None:
    """Test that a reading becomes a telemetry point with tags, float fields and ms time."""
    [point] = decode({"v": 1, "ts": NOW_S - 1.5, "seq": 3, "power_w": 12, "temp_c": 340.25})
    assert point == Point(
        "telemetry",
        TAGS,
        {"power_w": 12.0, "temp_c": 340.25, "seq": 3},
        round((NOW_S - 1.5) * 1000),
        nanos=3,  # the seq: two readings of one millisecond stay two points
    )
    assert isinstance(point.fields["power_w"], float)


def test_reading_without_ts_is_stamped_and_flagged() -> None:
    """Test that a board without a clock gets the server's time and a flag."""
    [point] = decode({"v": 1, "seq": 1, "power_w": 0.5})
    assert point.time_ms == round(NOW_S * 1000)
    assert point.fields["ts_from_server"] is True


def test_batch_keeps_order_and_original_timestamps() -> None:
    """Test that a batch becomes one point per reading, oldest first, each at its own ts."""
    readings = [{"ts": NOW_S - 60 + i, "seq": 10 + i, "power_w": float(i)} for i in range(3)]
    points = decode({"v": 1, "site": SITE, "device": "solder-1", "readings": readings})
    assert [p.time_ms for p in points] == [round((NOW_S - 60 + i) * 1000) for i in range(3)]
    assert [p.fields["seq"] for p in points] == [10, 11, 12]


def test_status_becomes_device_status_point() -> None:
    """Test that a birth message becomes a device_status point."""
    birth = {"v": 1, "online": True, "fw": "0.1.0", "rssi_dbm": -61, "sensors": ["ct", "max6675"],
             "free_mem_bytes": 81234, "buffer_dropped": 3, "taps_dropped": 2}  # fmt: skip
    [point] = decode(birth, topic=f"makerspace/{SITE}/solder-1/status")
    assert point.measurement == "device_status"
    assert point.fields == {
        "online": True, "fw": "0.1.0", "rssi_dbm": -61, "sensors": "ct,max6675",
        "free_mem_bytes": 81234, "buffer_dropped": 3, "taps_dropped": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"\xff\xfe not text", "not_utf8", id="not-utf8"),
        pytest.param(b"power=12", "not_json", id="not-json"),
        pytest.param(b'{"v":1,"seq":1,"power_w":NaN}', "not_json", id="nan"),
        pytest.param(b'{"v":1,"seq":1,"power_w":Infinity}', "not_json", id="infinity"),
        pytest.param(b'{"v":1,"seq":1,"power_w":1e999}', "schema", id="overflow-to-infinity"),
        pytest.param([1, 2, 3], "not_object", id="array"),
        pytest.param("just a string", "not_object", id="string"),
        pytest.param({"v": 1, "seq": 1, "power_w": "12"}, "schema", id="number-as-string"),
        pytest.param({"v": 1, "seq": 1, "power_w": True}, "schema", id="bool-as-number"),
        pytest.param({"v": 1, "seq": 1.5, "power_w": 1}, "schema", id="float-seq"),
        pytest.param({"v": 1, "power_w": 1}, "schema", id="missing-seq"),
        pytest.param({"seq": 1, "power_w": 1}, "schema", id="missing-version"),
        pytest.param({"v": 2, "seq": 1, "power_w": 1}, "schema", id="unknown-version"),
        pytest.param({"v": 1, "seq": 1}, "schema", id="no-measurement"),
        pytest.param({"v": 1, "seq": 1, "power_w": -5}, "schema", id="negative-power"),
        pytest.param({"v": 1, "seq": 1, "temp_c": 5000}, "schema", id="temperature-out-of-range"),
        pytest.param({"v": 1, "seq": 1, "power_w": 1, "powr_w": 2}, "schema", id="unknown-field"),
        pytest.param({"v": 1, "readings": []}, "schema", id="empty-batch"),
        pytest.param({"v": 1, "readings": [1, 2]}, "schema", id="batch-of-non-readings"),
        pytest.param([[[[[[[[[[1]]]]]]]]]], "too_deep", id="nested-arrays"),
        pytest.param(
            {
                "v": 1,
                "seq": 1,
                "power_w": 1,
                "x": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}},
            },
            "too_deep",
            id="nested-objects",
        ),
        pytest.param(
            {"v": 1, "device": "solder-2", "seq": 1, "power_w": 1},
            "topic_mismatch",
            id="device-disagrees",
        ),
        pytest.param(
            {"v": 1, "site": "almaty", "seq": 1, "power_w": 1},
            "topic_mismatch",
            id="site-disagrees",
        ),
        pytest.param(
            {"v": 1, "ts": NOW_S + 3600, "seq": 1, "power_w": 1}, "ts_in_future", id="ts-in-future"
        ),
        pytest.param(
            {"v": 1, "ts": NOW_S - 90 * 86400, "seq": 1, "power_w": 1},
            "ts_too_old",
            id="ts-too-old",
        ),
        pytest.param(
            {"v": 1, "ts": 946684800, "seq": 1, "power_w": 1}, "schema", id="ts-from-unset-clock"
        ),
        pytest.param(
            {"v": 1, "seq": 1, "power_w": 1, "pad": "x" * 4096}, "too_large", id="oversized"
        ),
    ],
)
def test_bad_payload_has_its_reason(payload: object, reason: str) -> None:
    """Test that each class of bad payload is refused with its own reason."""
    assert reason_of(payload) == reason


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (f"makerspace/{SITE}/ghost/telemetry", "unknown_device"),
        ("makerspace/almaty/solder-1/telemetry", "unknown_site"),
        (f"makerspace/{SITE}/Solder_1/telemetry", "bad_topic"),
        (f"makerspace/{SITE}/solder-1/telemetry/extra", "bad_topic"),
        (f"makerspace/{SITE}/solder-1/weather", "bad_topic"),
    ],
)
def test_bad_topic_has_its_reason(topic: str, reason: str) -> None:
    """Test that unknown sites and devices and malformed topics are refused by name."""
    assert reason_of({"v": 1, "seq": 1, "power_w": 1}, topic) == reason


def test_schema_error_names_the_field_and_value() -> None:
    """Test that a schema error says which field was wrong and what it held."""
    with pytest.raises(DecodeError) as caught:
        decode({"v": 1, "seq": 1, "power_w": "12"})
    assert "power_w" in caught.value.detail
    assert "'12'" in caught.value.detail


def test_state_becomes_a_state_point_with_the_previous_period() -> None:
    """Test that a state message stores the state left and its duration."""
    body = {
        "v": 1,
        "state": "off",
        "ts": NOW_S - 1,
        "seq": 4,
        "previous": "active",
        "previous_duration_s": 3600.5,
    }
    point, *segments = decode(body, topic=f"makerspace/{SITE}/solder-1/state")
    assert point.measurement == "state"
    assert point.fields == {
        "state": "off",
        "seq": 4,
        "previous": "active",
        "previous_duration_s": 3600.5,
        "on_since_ms": 0,  # off: not on since anything (the newest value is the present)
    }
    assert {s.measurement for s in segments} == {"usage"}
    assert sum(float(s.fields["seconds"]) for s in segments) == pytest.approx(3600.5)
    assert {s.tags["state"] for s in segments} == {"active"}
    assert max(s.time_ms for s in segments) < point.time_ms


def test_replayed_retained_state_without_time_is_not_stored_again() -> None:
    """Test that a retained state with no ts, replayed on subscribe, writes nothing (no double count)."""
    decoder = Decoder(CONFIG, clock=lambda: NOW_S)
    body = json.dumps(
        {"v": 1, "state": "idle", "previous": "active", "previous_duration_s": 60}
    ).encode()
    topic = f"makerspace/{SITE}/solder-1/state"
    assert decoder.decode(topic, body, retained=True).points == []
    live = decoder.decode(topic, body, retained=False).points
    assert [p.measurement for p in live] == ["state", "usage"], "stored once, live"


def decoded(payload: object, decoder: Decoder | None = None, topic: str = TOPIC, *,
            retained: bool = False) -> Decoded:  # fmt: skip
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return (decoder or Decoder(CONFIG, clock=lambda: NOW_S)).decode(topic, raw, retained)


def test_a_bad_reading_in_a_batch_is_refused_alone() -> None:
    """Test that each reading of a batch is judged on its own: the valid ones become points,
    each refused one is its own error carrying that reading, not the whole batch."""
    good = [{"ts": NOW_S - 60 + i, "seq": i, "power_w": 10.0} for i in range(5)]
    bad = [{"ts": NOW_S - 30, "seq": 99, "power_w": 20001}, {"seq": 100, "power_w": 1}, "junk"]
    result = decoded({"v": 1, "readings": [*good[:2], bad[0], *good[2:4], bad[1], good[4], bad[2]]})
    assert [p.fields["seq"] for p in result.points] == [0, 1, 2, 3, 4]
    assert [json.loads(e.payload or b"") for e in result.refused] == bad
    assert [e.reason for e in result.refused] == ["schema"] * 3
    assert "readings.2: power_w" in result.refused[0].detail
    assert "readings.5: a buffered reading needs its ts" in result.refused[1].detail


def test_readings_in_one_millisecond_stay_apart_and_a_redelivery_is_one_point() -> None:
    """Test that readings sharing a ts differ by seq, while the same reading twice is the same point."""
    a = decode({"v": 1, "ts": NOW_S, "seq": 1, "power_w": 1})[0]
    b = decode({"v": 1, "ts": NOW_S, "seq": 2, "power_w": 2})[0]
    assert a.time_ns != b.time_ns
    assert decode({"v": 1, "ts": NOW_S, "seq": 1, "power_w": 1})[0].time_ns == a.time_ns


def test_readings_without_ts_get_unique_stamps_and_a_redelivery_its_first() -> None:
    """Test that ts-less readings in one instant get distinct times, a redelivered one (same
    device and seq) the time it got first, and that a new boot starts afresh."""
    decoder = Decoder(CONFIG, clock=lambda: NOW_S)  # a clock that never moves: the worst case
    stamps = [
        decoded({"v": 1, "seq": s, "power_w": 1}, decoder).points[0].time_ns for s in range(300)
    ]
    assert len(set(stamps)) == 300
    again = decoded({"v": 1, "seq": 7, "power_w": 1}, decoder).points[0].time_ns
    assert again == stamps[7]
    decoded({"v": 1, "online": True}, decoder, f"makerspace/{SITE}/solder-1/status")
    assert decoded({"v": 1, "seq": 7, "power_w": 1}, decoder).points[0].time_ns not in stamps


@pytest.mark.parametrize(
    ("kind", "body"),
    [("telemetry", {"v": 1, "seq": 1, "power_w": 1}), ("status", {"v": 1, "online": False}),
     ("event", {"v": 1, "event": "button"}), ("state", {"v": 1, "state": "idle"})],
)  # fmt: skip
def test_retained_message_without_ts_is_not_stored_again(
    kind: str, body: dict[str, object]
) -> None:
    """Test that a retained message with no board time, replayed at every subscribe, writes nothing."""
    topic = f"makerspace/{SITE}/solder-1/{kind}"
    assert decoded(body, topic=topic, retained=True).points == []
    assert len(decoded(body, topic=topic).points) == 1


def test_a_server_clock_behind_the_boards_is_reported_not_acted_on() -> None:
    """Test that with the server clock 10 min behind, boards that agree are stored and the offset
    reported, while one board far ahead of the others is still refused."""
    behind = NOW_S - 600
    decoder = Decoder(CONFIG, clock=lambda: behind)
    devices = ("solder-1", "printer-1")
    stored = []
    for seq in (1, 2):
        for device in devices:
            topic = f"makerspace/{SITE}/{device}/telemetry"
            body = {"v": 1, "ts": NOW_S + seq, "seq": seq, "power_w": 1}
            try:
                stored += decoded(body, decoder, topic).points
            except DecodeError:
                assert (device, seq) == ("solder-1", 1), "only the very first, with no board to ask"
    assert len(stored) == 3
    offset = decoder.board_clock.server_offset_s(behind)
    assert offset is not None
    assert 595 < offset < 605
    with pytest.raises(DecodeError) as caught:
        decoded({"v": 1, "ts": NOW_S + 3600, "seq": 3, "power_w": 1}, decoder)
    assert caught.value.reason == "ts_in_future"


@pytest.mark.parametrize(
    ("payload", "deep"),
    [
        pytest.param(b'{"a":[1]}', False, id="shallow"),
        pytest.param(b'{"a":[[1]]}', True, id="deep"),
        pytest.param(b'{"note":"[[[[{{{{"}', False, id="brackets-in-a-string"),
        pytest.param(b'{"note":"\\"[[[[","x":1}', False, id="escaped-quote-in-a-string"),
        pytest.param(b'{"note":"\\\\","x":[[[1]]]}', True, id="escaped-backslash-ends-a-string"),
        pytest.param(b'{"note":"[[[[', False, id="unterminated-string"),
    ],
)
def test_nesting_is_counted_outside_strings_only(payload: bytes, deep: bool) -> None:
    """Test that brackets inside JSON strings, escaped quotes and backslashes included,
    are text, not nesting, for the depth check that runs before the parser."""
    assert json_too_deep(payload, limit=2) is deep
