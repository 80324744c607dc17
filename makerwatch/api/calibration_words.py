"""A board's answer to a calibration in the staff's languages.

The firmware answers in English (its event `detail`, as `makerwatch board calibrate`
prints it); the phone page shows it inside a kk, ru or en sentence, so each of the
firmware's answers (firmware/core/config.py `calibration`) is read back into its
parts here and said in each language. An answer not recognised is shown as it came.
"""

from __future__ import annotations

import re

from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.vocabulary import NUMBER_SEPARATORS

__all__ = ["calibration_words"]

# The firmware's answers, each with its words per language; fields are numbers.
_ANSWERS: tuple[tuple[str, dict[Language, str]], ...] = (
    (r"ct_calibration (?P<value>[\d.]+) \((?P<known>[\d.]+) W known, (?P<measured>[\d.]+) W measured\)",
     {"en": "factor {value}: {known} W known, {measured} W measured",
      "ru": "коэффициент {value}: известно {known} Вт, измерено {measured} Вт",
      "kk": "коэффициент {value}: белгілі қуат {known} Вт, өлшенгені {measured} Вт"}),
    (r"temp_offset_c (?P<value>-?[\d.]+) \((?P<known>-?[\d.]+) C reference, (?P<measured>-?[\d.]+) C measured\)",
     {"en": "offset {value} °C: {known} °C reference, {measured} °C measured",
      "ru": "поправка {value} °C: эталон {known} °C, измерено {measured} °C",
      "kk": "түзету {value} °C: эталон {known} °C, өлшенгені {measured} °C"}),
    (r"no load measured \((?P<measured>-?[\d.]+) W\): is the known load switched on\?",
     {"en": "no load measured ({measured} W): is the known load switched on?",
      "ru": "нагрузка не измерена ({measured} Вт): включена ли известная нагрузка?",
      "kk": "жүктеме өлшенбеді ({measured} Вт): белгілі жүктеме қосулы ма?"}),
    (r"only a CT clamp is calibrated \(a PZEM measures real power\)",
     {"en": "only a CT clamp is calibrated (a PZEM measures real power)",
      "ru": "калибруются только токовые клещи (PZEM сам измеряет активную мощность)",
      "kk": "тек ток қысқышы калибрленеді (PZEM нақты қуатты өзі өлшейді)"}),
    (r"no power sensor fitted: only a CT clamp is calibrated",
     {"en": "no power sensor fitted: only a CT clamp is calibrated",
      "ru": "датчик мощности не установлен: калибруются только токовые клещи",
      "kk": "қуат датчигі орнатылмаған: тек ток қысқышы калибрленеді"}),
    (r"no temperature measured",
     {"en": "no temperature measured", "ru": "температура не измерена",
      "kk": "температура өлшенбеді"}),
    (r"(?P<key>\w+) would be (?P<value>-?[\d.]+), outside a number from (?P<low>-?[\d.]+) to (?P<high>-?[\d.]+): check the sensor and wiring",
     {"en": "the correction would be {value}, outside {low} to {high}: check the sensor and wiring",
      "ru": "поправка была бы {value}, вне пределов от {low} до {high}: проверьте датчик и подключение",
      "kk": "түзету {value} болар еді, {low}–{high} шегінен тыс: датчик пен қосылымды тексеріңіз"}),
)  # fmt: skip


def calibration_words(detail: str) -> dict[Language, str] | None:
    """The board's answer in each language, or None when it is not one of the firmware's."""
    for pattern, words in _ANSWERS:
        match = re.fullmatch(pattern, detail.strip())
        if match is not None:
            fields = match.groupdict()
            return {
                language: words[language].format(
                    **{k: _number(v, language) for k, v in fields.items() if k != "key"}
                )
                for language in LANGUAGES
            }
    return None


def _number(text: str, language: Language) -> str:
    """'1.0526' as the language writes it ('1,0526'); the firmware never sends thousands."""
    return text.replace(".", NUMBER_SEPARATORS[language][1])
