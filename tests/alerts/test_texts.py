"""Every message in every language, for machine names of every grammatical gender."""

from __future__ import annotations

import re

import pytest

from makerwatch.alerts.texts import OPERATIONS_TEXTS, TEMPLATES, duration, local_time, message
from makerwatch.core.site_config import Language

LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")
# Masculine, feminine and neuter in Russian, and names that are none of them.
NAMES = ("Лазерный станок", "Паяльная станция 1", "Оборудование для шитья", "Prusa MK4 #1",
         "Дәнекерлеу станциясы")  # fmt: skip
# A Russian past-tense verb or short participle agrees with its subject's gender: after a
# machine's name it would be wrong for some names ("CNC фрезер ... пропала").
GENDERED = re.compile(r"\b\w+(?:ла|ло|ли|лся|лась|лось|лись|на|ен|ан|ена|ана)\b")


@pytest.mark.parametrize("key", sorted(TEMPLATES))
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_every_message_renders_with_the_name_and_nothing_left_unfilled(
    key: str, language: Language, name: str
) -> None:
    """Test that each message names the machine and site, fills every field, and says when,
    with no API path a person cannot click."""
    text = message(key, language, name=name, site="Makerspace Aktobe", since="19:15",
                   seconds=2 * 3600 + 15 * 60, temp_c=470, who="Айгерім")  # fmt: skip
    assert name in text
    assert "Makerspace Aktobe" in text
    assert "{" not in text
    assert "}" not in text
    lines = text.split("\n")
    assert lines[1].count("19:15") == 1
    assert duration(2 * 3600 + 15 * 60, language) in lines[1]
    assert "/ack" not in text, "no API path: the chat has buttons, the board a page"


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_russian_agrees_with_no_machine_name(key: str) -> None:
    """Test that no Russian template puts a gendered verb or participle where it would agree
    with the machine's name: the name stands in quotes and the rest agrees with other words."""
    text = TEMPLATES[key]["ru"]
    assert "«{name}»" in text
    after_name = text.split("«{name}»", 1)[1]
    # These agree with words of their own ("связь потеряна", "отключение отменено").
    allowed = {"отменено", "подтверждено", "потеряна", "включено", "включённом"}
    gendered = [m.group(0) for m in GENDERED.finditer(after_name) if m.group(0) not in allowed]
    assert gendered == []


@pytest.mark.parametrize(
    ("seconds", "language", "written"),
    [(45 * 60, "ru", "45 мин"), (26 * 3600, "ru", "1 сут. 2 ч"), (26 * 3600, "kk", "1 тәулік 2 сағ"),
     (3 * 86400, "kk", "3 тәулік"), (90 * 60, "en", "1 h 30 min"), (20, "en", "1 min")],
)  # fmt: skip
def test_durations_are_written_as_people_write_them(
    seconds: float, language: Language, written: str
) -> None:
    """Test days, hours and minutes in each language ("сут.", "тәулік", never "1 д")."""
    assert duration(seconds, language) == written


def test_local_time_shows_the_date_only_when_not_today() -> None:
    """Test that the event's time is the site's local time, dated when it was another day."""
    evening = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC = 16:06:40 in Aqtobe (UTC+5)
    assert local_time(evening, "Asia/Aqtobe", evening + 3600_000) == "16:06"
    assert local_time(evening, "Asia/Aqtobe", evening + 86_400_000) == "18.11 16:06"


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_operations_messages_exist_in_every_language(language: str) -> None:
    """Test that each message about the system itself renders with its site and count."""
    for key, texts in OPERATIONS_TEXTS.items():
        text = texts[language].format(site="Makerspace Oral", count=1234)  # type: ignore[index]
        assert "Makerspace Oral" in text, key
        assert "1234" in text, key
        assert "{" not in text, key
