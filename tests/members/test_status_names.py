"""`makerwatch status` names the member at a machine as the board does (when the site shows
names), and speaks the site's language."""

from __future__ import annotations

import re

import pytest

from makerwatch.cli.status import print_health, print_machines
from makerwatch.cli.status_texts import HEALTH_CHECKS, STATUS_TEXTS
from makerwatch.core.site_config import Language
from makerwatch.core.time_words import on_since_line

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


@pytest.mark.parametrize(
    ("language", "heading", "on_since"),
    [
        ("kk", "Жабдық:", "10:00 бастап қосулы · 1 сағ бойы"),
        ("ru", "Оборудование:", "включено с 10:00 · уже 1 ч"),
        ("en", "Machines:", "on since 10:00 · for 1 h"),
    ],
)
def test_status_speaks_the_sites_language_and_says_on_since_as_the_chat_does(
    capsys: pytest.CaptureFixture[str], language: Language, heading: str, on_since: str
) -> None:
    """Test that the health, alerts and machines headings are in the site's language, and
    that a machine's "on since · for" words are the chat's /status words (one formatter)."""
    at_ten = 1_796_533_200_000  # 2026-12-06 10:00 in Asia/Almaty (UTC+5)
    now = at_ten + 3_600_000
    print_health("http://127.0.0.1:8080", {"healthy": False, "mqtt_connected": True}, language)
    machine = {"device": "solder-1", "names": {}, "state": "idle", "since_ms": at_ten,
               "on_since_ms": at_ten, "in_use_by": None, "last_seen_ms": now, "fw": None}  # fmt: skip
    print_machines({"language": "en", "timezone": "Asia/Almaty", "now_ms": now,
                    "machines": [machine]}, language)  # fmt: skip
    out = capsys.readouterr().out
    assert STATUS_TEXTS["not_healthy"][language] in out.splitlines()[0]
    assert HEALTH_CHECKS["mqtt_connected"][language] in out
    assert heading in out.splitlines()
    assert on_since in out
    assert on_since == on_since_line(
        language, "Asia/Almaty", now, on_since_ms=at_ten, since_ms=at_ten
    )
    if language != "en":
        assert not re.search(r"\b(healthy|NOT|broker|spool|messages|Machines)\b", out), out
