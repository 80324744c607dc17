"""Every answer the firmware gives a calibration reads in kk, ru and en on the phone page."""

from __future__ import annotations

import re

import pytest

from firmware.core import config as board_settings
from makerwatch.api.calibration_words import calibration_words


def firmware_answer(settings_update: dict[str, object], what: str, reference: float,
                    recent: list[float], temp_c: float | None) -> str:  # fmt: skip
    """The event detail the board's runtime sends for this calibration."""
    settings, errors = board_settings.validate(
        {"site": "aktobe", "device": "solder-1", "kind": "soldering_station", **settings_update}
    )
    assert errors == []
    key, value, note, problem = board_settings.calibration(
        settings, what, reference, recent, temp_c
    )
    return problem if problem is not None else f"{key} {value} ({note})"


CT = {"power_sensor": "ct", "ct_model": "sct013-005"}  # resolves 11 W


@pytest.mark.parametrize(
    ("answer", "ru"),
    [
        (firmware_answer(CT, "power", 60, [57.0, 57.0, 57.0], None), "коэффициент 1,0526: известно 60,0 Вт"),
        (firmware_answer(CT, "power", 60, [0.0, 0.0, 0.0], None), "нагрузка не измерена (0,0 Вт)"),
        (firmware_answer(CT, "power", 60, [25.0, 25.0, 25.0], None), "поправка была бы 2,4"),
        (firmware_answer({"power_sensor": "pzem"}, "power", 60, [57.0] * 3, None), "PZEM сам"),
        (firmware_answer({}, "power", 60, [57.0] * 3, None), "датчик мощности не установлен"),
        (firmware_answer({}, "temperature", 24, [], 22.5), "поправка 1,5 °C: эталон 24,0 °C"),
        (firmware_answer({}, "temperature", 24, [], None), "температура не измерена"),
    ],
)  # fmt: skip
def test_each_firmware_answer_is_said_in_each_language(answer: str, ru: str) -> None:
    """Test that the firmware's own words for each outcome are recognised, said with the
    language's decimal comma, and leave no English word on a kk or ru page."""
    words = calibration_words(answer)
    assert words is not None, answer
    assert ru in words["ru"], words["ru"]
    for language in ("kk", "ru"):
        english = re.findall(r"\b[a-zA-Z]{3,}\b", words[language])
        assert set(english) <= {"PZEM"}, (language, words[language])


def test_an_answer_it_does_not_know_is_left_as_it_came() -> None:
    """Test that an answer of another firmware version is not guessed at."""
    assert calibration_words("ct_calibration 1.1 (newer words)") is None
