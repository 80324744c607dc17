"""The members store as ingest and the command line use it: training by kind or device
with an expiry, staff cards, enrolments, a card that is someone else's, and forgetting."""

from __future__ import annotations

from pathlib import Path

import pytest

from makerwatch.members.store import MembersError, MembersStore

A, B, C = "a" * 32, "b" * 32, "c" * 32


def test_allowed_lists_follow_training_by_kind_or_device_and_expiry(tmp_path: Path) -> None:
    """Test that a device's list holds members trained on its kind or on it, until expiry, and staff apart."""
    store = MembersStore(tmp_path / "members.sqlite")
    aigerim = store.add("Aigerim Serikova", 0, keys=(A,))
    dmitry = store.add("Dmitry Ivanov", 0, keys=(B,))
    store.add("Dana Staff", 0, staff=True, keys=(C,))
    store.train(aigerim, "laser_cutter", 5_000)
    store.train(dmitry, "laser-1", None)
    assert store.allowed("laser-1", "laser_cutter", 1_000) == ([A, B], [C])
    assert store.allowed("laser-2", "laser_cutter", 1_000) == ([A], [C])
    assert store.next_expiry_ms(1_000) == 5_000
    assert store.allowed("laser-1", "laser_cutter", 5_000) == ([B], [C])  # expired at 5 s
    assert store.next_expiry_ms(5_000) is None
    other = MembersStore(tmp_path / "members.sqlite")  # another connection, as the CLI's
    seen = store.changes()
    other.untrain(dmitry, "laser-1")
    assert store.changes() != seen
    assert store.allowed("laser-1", "laser_cutter", 1_000) == ([A], [C])


def test_an_enrolment_takes_the_next_unknown_card_at_its_device(tmp_path: Path) -> None:
    """Test that only an unknown card at the enrolment's device, before it lapses, is attached."""
    store = MembersStore(tmp_path / "members.sqlite")
    aigerim = store.add("Aigerim Serikova", 0, keys=(A,))
    asel = store.add("Asel Nurlanovna", 0)
    store.enrol_next("laser-1", asel, until_ms=10_000)
    assert store.tapped("laser-1", A, 1_000) is None  # a known card
    assert store.tapped("cnc-1", B, 1_000) is None  # another device
    assert store.tapped("laser-1", B, 1_000) == asel
    assert store.tapped("laser-1", C, 2_000) is None  # used up
    store.enrol_next("laser-1", aigerim, until_ms=3_000)
    assert store.tapped("laser-1", C, 3_000) is None  # lapsed
    with pytest.raises(MembersError, match=f"already member {asel}'s"):
        store.attach(aigerim, B)


def test_forgetting_leaves_no_name_or_key_in_the_file(tmp_path: Path) -> None:
    """Test that a forgotten member's name, e-mail and card key are gone from the SQLite file itself."""
    path = tmp_path / "members.sqlite"
    store = MembersStore(path)
    member = store.add("Aigerim Serikova", 0, email="aigerim@example.kz", keys=(A,))
    store.add("Dmitry Ivanov", 0, keys=(B,))
    store.train(member, "laser_cutter", None)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["members.sqlite", "members.sqlite-shm", "members.sqlite-wal"]
    for file in tmp_path.iterdir():  # the database, its write-ahead log and index
        assert oct(file.stat().st_mode & 0o777) == "0o600", file.name
    assert store.forget(member) == "Aigerim Serikova"
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for gone in (b"Aigerim", b"aigerim@example.kz", A.encode()):
        assert gone not in raw
    assert B.encode() in raw  # the others stay
    with pytest.raises(MembersError, match=f"no member {member}"):
        store.forget(member)
    for file in tmp_path.iterdir():  # the database, its write-ahead log and index
        assert oct(file.stat().st_mode & 0o777) == "0o600", file.name
