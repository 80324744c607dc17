"""The relay at rest leaves the machine off, whatever the module's polarity, and a board told
no polarity never drives it."""

from __future__ import annotations

import importlib

import pytest

from firmware.core import config
from tests.firmware import hardware


@pytest.mark.parametrize("active_high", [True, False], ids=["high-trigger", "low-trigger"])
def test_every_polarity_boots_with_the_relay_released(active_high: bool) -> None:
    """Test that at boot the relay's input is at the level that releases it (machine off)."""
    signals = hardware.install()
    runtime = importlib.reload(importlib.import_module("firmware.runtime"))
    settings, errors = config.validate({"relay_pin": 26, "relay_active_high": active_high})
    assert errors == []
    board = runtime.Board(settings)
    assert board.relay is not None
    assert board.relay.is_on is False
    assert signals.pins[26] == (0 if active_high else 1), "the level that releases the relay"


def test_a_board_without_the_polarity_never_drives_its_relay() -> None:
    """Test that a relay with no polarity given is left undriven (its pin never written)."""
    signals = hardware.install()
    runtime = importlib.reload(importlib.import_module("firmware.runtime"))
    settings, errors = config.validate({"relay_pin": 26})
    assert "relay_active_high" in errors[0]
    board = runtime.Board(settings, errors)
    assert board.relay is None
    assert 26 not in signals.pins
