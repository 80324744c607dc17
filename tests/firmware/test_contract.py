"""The firmware encoder and the server's protocol models cannot drift apart."""

from __future__ import annotations

import json
from typing import Any

import pytest
from annotated_types import Ge, Le

from firmware.core import config as board_settings
from firmware.core import encoder
from firmware.core.agent import Agent
from makerwatch.core import protocol
from makerwatch.core.site_config import MachineKind


def agent() -> Agent:
    settings, errors = board_settings.validate(
        {
            "site": "aktobe",
            "device": "solder-1",
            "telemetry_period_s": 1,
            "min_dwell_s": 0,
            "relay_pin": 26,
            "relay_active_high": True,
        }
    )
    assert errors == []
    return Agent(settings, sensors=["ct", "max31855"])


def published(board: Agent) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []
    board.drain(lambda topic, payload, retain: sent.append((topic, payload)))
    return sent


def validate(topic: str, payload: str) -> Any:
    parts = protocol.parse_topic(topic)
    model: Any = {
        protocol.MessageKind.STATUS: protocol.Status,
        protocol.MessageKind.STATE: protocol.State,
        protocol.MessageKind.EVENT: protocol.Event,
    }.get(parts.kind)
    if parts.kind is protocol.MessageKind.TELEMETRY:
        model = protocol.TelemetryBatch if "readings" in json.loads(payload) else protocol.Telemetry
    return model.model_validate_json(payload)


def test_every_message_the_agent_sends_is_valid() -> None:
    """Test telemetry, batches, state, every event kind and the status messages against the models."""
    board = agent()
    t0 = 1795770000000
    board.sample(0, t0, power_w=0.0, temp_c=24.5)
    board.sample(1000, t0 + 1000, power_w=40.0, temp_c=341.25)  # state change
    board.sample(2000, None, power_w=41.0)  # no clock yet
    board.sensor_failed("temperature", "thermocouple open", t0)
    board.sensor_ok("temperature", t0)
    board.switch_relay(False, "safety_timer", t0)
    board.apply_config(b'{"v":1,"max_on_s":60,"idle_above_w":"x"}', t0)
    board.event("boot", "firmware 0.1.0")
    board.event("button")
    board.event("update", "file 1 checked", t0, reason="file")
    board.event("identify", "blinking 10 s", t0)
    messages = published(board)
    for topic, payload in messages:
        validate(topic, payload)
    kinds = {json.loads(p).get("event") for t, p in messages if t.endswith("/event")}
    assert kinds == {e.value for e in protocol.EventKind}, (
        "every event kind the server knows is sent"
    )
    validate(board.topic("status"), board.birth(-61, 81234, t0))
    validate(*board.will()[:2])


def test_batch_and_extreme_values_are_valid() -> None:
    """Test a full batch and readings at the edges of every field's range."""
    board = agent()
    for i, (name, _, (low, high)) in enumerate(encoder.FIELDS * 2):
        board.readings.append(
            {"epoch_ms": 1795770000000 + i, "seq": i, name: float(low if i % 2 else high)}
        )
    for topic, payload in published(board):
        message = validate(topic, payload)
        assert isinstance(message, protocol.TelemetryBatch)


@pytest.mark.parametrize("field", [name for name, _, _ in encoder.FIELDS])
def test_field_ranges_match_the_server(field: str) -> None:
    """Test that the firmware's limits for each field are the server model's limits."""
    metadata = protocol.Reading.model_fields[field].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    assert encoder.FIELD_RANGES[field] == (low, high)


def test_field_names_match_the_server() -> None:
    """Test that the firmware encodes exactly the server's measurement fields."""
    assert [name for name, _, _ in encoder.FIELDS] == list(protocol.READING_FIELDS)


def test_server_commands_and_config_are_understood_by_the_board() -> None:
    """Test that the server's own command and config messages decode on the board."""
    board = agent()
    relay = protocol.RelayCommand(v=1, on=False, reason="left_on").model_dump_json()
    identify = protocol.IdentifyCommand(v=1, seconds=30).model_dump_json()
    assert board.command("relay", relay.encode()) == ("relay", False, "left_on")
    assert board.command("identify", identify.encode()) == ("identify", 30)
    config = protocol.BoardConfig(
        v=1, telemetry_period_s=5, idle_above_w=3, active_above_w=30, max_on_s=600
    )
    board.apply_config(config.model_dump_json().encode())
    assert [
        board.settings[k]
        for k in ("telemetry_period_s", "idle_above_w", "active_above_w", "max_on_s")
    ] == [5, 3, 30, 600]
    assert set(board_settings.RUNTIME_KEYS) == set(protocol.BoardConfig.model_fields) - {"v"}


def test_machine_kinds_match_the_site_configuration() -> None:
    """Test that the board accepts exactly the machine kinds the site file does."""
    assert set(board_settings.KINDS) == {kind.value for kind in MachineKind}


def test_every_tap_the_board_sends_is_valid_and_keyed_as_the_server_keys() -> None:
    """Test each result and mode, timed and not, against the server's Tap model, and the
    board's card key against the server's (makerwatch/core/cards.py, what `members`
    keys an imported UID with); and the access list the server's AccessList model
    writes is one the board takes, up to the same number of keys."""
    from firmware.core.access import MAX_KEYS, CardAccess, card_key, parse_list
    from makerwatch.core import cards as server_cards

    secret, uid = "s" * 40, bytes.fromhex("04a32b1c5d6e80")
    key = card_key(secret, uid)
    assert key == server_cards.card_key(secret, uid)
    assert protocol.MAX_ACCESS_KEYS == MAX_KEYS
    listed = protocol.AccessList(v=1, mode=protocol.AccessMode.ENFORCE, members=[key],
                                 staff=[], locked_reason=None, updated_ms=1)  # fmt: skip
    assert parse_list(listed.model_dump_json())["mode"] == "enforce"
    cards = CardAccess({"card_secret": secret, "access_mode": "enforce", "session_idle_s": 0})
    cards.members = parse_list(listed.model_dump_json())["members"]
    for enforcing, epoch_ms in ((True, 1795770000123), (True, None), (False, 1795770000456)):
        cards.tap(uid, epoch_ms, enforcing)
        cards.tap(bytes(4), epoch_ms, enforcing)
    sent: list[str] = []
    cards.drain(lambda topic, payload, retain: sent.append(payload), "t")
    taps = [protocol.Tap.model_validate_json(payload) for payload in sent]
    assert [t.result.value for t in taps] == ["allowed", "refused", "ended", "refused",
                                              "allowed", "refused"]  # fmt: skip
    # Not enforcing (no relay), the board records what it did: log.
    assert [t.mode.value for t in taps] == ["enforce"] * 4 + ["log"] * 2
    assert taps[0].ts == 1795770000.123
    assert taps[2].ts is None


def test_taps_a_full_offline_queue_dropped_are_in_the_birth_message() -> None:
    """Test that taps lost to a board's full offline queue are counted, and the birth message
    carrying the count is one the server's Status model takes, count and all."""
    from firmware.core.access import MAX_PENDING_TAPS, CardAccess

    cards = CardAccess({"card_secret": "s" * 40, "access_mode": "log", "session_idle_s": 0})
    for _ in range(MAX_PENDING_TAPS + 3):
        cards.tap(bytes(4), None, False)
    board = agent()
    birth = board.birth(-61, 81234, 1795770000000, taps_dropped=cards.taps.dropped)
    assert validate(board.topic("status"), birth).taps_dropped == 3
    assert "taps_dropped" not in json.loads(board.birth(-61, 81234)), "none without a reader"
