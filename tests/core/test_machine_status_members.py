"""Who is at a machine, as core/machine_status.py answers every screen: the member whose
card opened it, while it is on, resolved at display time."""

from __future__ import annotations

from makerwatch.core.machine_status import TAP_BEFORE_ON_MS, MachineStatus
from makerwatch.core.points import Point

TAGS = {"site": "s", "device": "laser-1", "kind": "laser_cutter", "name": "Laser"}
KEY, OTHER = "a" * 32, "b" * 32
NAMES = {KEY: "Aigerim S.", OTHER: "Dmitry I."}.get


def tap(at_ms: int, key: str = KEY, result: str = "allowed") -> Point:
    return Point("tap", TAGS, {"seq": 1, "key": key, "result": result, "mode": "enforce"}, at_ms)


def state(at_ms: int, new: str) -> Point:
    return Point("state", TAGS, {"state": new}, at_ms)


def test_the_card_that_opened_the_machine_names_it_while_on() -> None:
    """Test that an allowed tap before switching on names the machine until it goes off."""
    status = MachineStatus()
    status.observe(state(0, "off"))
    status.observe(tap(10_000))
    assert status.in_use_by(NAMES) is None  # not on yet
    status.observe(state(15_000, "active"))
    assert status.in_use_by(NAMES) == "Aigerim S."
    assert status.in_use_by(None) is None  # the site shows no names
    status.observe(state(60_000, "off"))
    status.observe(state(70_000, "active"))  # switched on again without a tap
    assert status.in_use_by(NAMES) is None


def test_an_old_tap_an_ended_tap_and_a_forgotten_member_name_no_one() -> None:
    """Test that a tap long before the switch-on, a second tap ending it, or a forgotten key name no one."""
    status = MachineStatus()
    status.observe(tap(0))
    status.observe(state(TAP_BEFORE_ON_MS + 1, "idle"))
    assert status.in_use_by(NAMES) is None
    status.observe(tap(TAP_BEFORE_ON_MS + 2, OTHER, "staff"))
    assert status.in_use_by(NAMES) == "Dmitry I."
    status.observe(tap(TAP_BEFORE_ON_MS + 3, KEY, "ended"))  # someone else's card: no change
    assert status.in_use_by(NAMES) == "Dmitry I."
    status.observe(tap(TAP_BEFORE_ON_MS + 4, OTHER, "ended"))
    assert status.in_use_by(NAMES) is None
    status.observe(tap(TAP_BEFORE_ON_MS + 5, KEY))
    assert status.in_use_by(lambda key: None) is None  # forgotten: no name to show
