"""`makerwatch status` names the member at a machine as the board does (when the site shows names)."""

from __future__ import annotations

import pytest

from makerwatch.cli.status import print_machines

NOW_MS = 1_796_543_100_000


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("en", "In use by Aigerim S. since"),
        ("ru", "Пользуется: Aigerim S., с"),
        ("kk", "Aigerim S. пайдаланып жатыр"),
    ],
)
def test_status_names_the_member_at_a_machine(
    capsys: pytest.CaptureFixture[str], language: str, says: str
) -> None:
    """Test that a machine's line says who is at it, in the site's language, and nothing without a name."""
    machine = {"device": "laser-1", "names": {language: "Laser"}, "state": "active", "since_ms": NOW_MS - 60_000,
               "on_since_ms": NOW_MS - 60_000, "in_use_by": "Aigerim S.", "last_seen_ms": NOW_MS, "fw": None}  # fmt: skip
    unnamed = {**machine, "device": "laser-2", "in_use_by": None}
    print_machines(
        {
            "language": language,
            "timezone": "Asia/Almaty",
            "now_ms": NOW_MS,
            "machines": [machine, unnamed],
        }
    )
    lines = capsys.readouterr().out.splitlines()
    assert says in lines[1]
    assert "Aigerim" not in lines[2]


def test_every_state_starts_in_one_column_whatever_the_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Test that a name longer than the usual column pushes every line's state along with it."""
    short = {"device": "solder-2", "names": {"ru": "Паяльная станция 2"}, "state": "off",
             "since_ms": NOW_MS - 60_000, "on_since_ms": None, "in_use_by": None,
             "last_seen_ms": NOW_MS, "fw": None}  # fmt: skip
    long = {**short, "device": "solder-3", "names": {"ru": "Паяльная станция 3 (ремонтный стол)"}}
    print_machines(
        {"language": "ru", "timezone": "Asia/Aqtobe", "now_ms": NOW_MS, "machines": [short, long]}
    )
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len({line.index("Выключено") for line in lines}) == 1, lines


def test_spans_under_a_minute_read_as_on_the_board(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a board heard 12 s ago and a state held 30 s read in seconds, as on the
    board's tiles (not rounded up to "1 мин"), and one heard 2 s ago as just now."""
    machine = {"device": "solder-1", "names": {"ru": "Паяльная станция 1"}, "state": "idle",
               "since_ms": NOW_MS - 30_000, "on_since_ms": None, "in_use_by": None,
               "last_seen_ms": NOW_MS - 12_000, "fw": None}  # fmt: skip
    fresh = {**machine, "device": "solder-2", "last_seen_ms": NOW_MS - 2_000}
    print_machines(
        {
            "language": "ru",
            "timezone": "Asia/Aqtobe",
            "now_ms": NOW_MS,
            "machines": [machine, fresh],
        }
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("уже 30 с  Последний сигнал 12 с назад"), lines[1]
    assert lines[2].endswith("только что"), lines[2]
