"""Alert messages in the staff's languages: English, Russian and Kazakh.

Each message names the machine by its display name, says how long and where.
"""

from __future__ import annotations

from makerwatch.core.site_config import Language

__all__ = ["duration", "message"]


_UNITS: dict[Language, tuple[str, str, str]] = {
    "en": ("d", "h", "min"),
    "ru": ("д", "ч", "мин"),
    "kk": ("тәу", "сағ", "мин"),
}

# (rule and reason, transition) -> template per language. Fields: name, site, duration.
_TEMPLATES: dict[str, dict[Language, str]] = {
    "left_on/after_closing": {
        "en": "{name} at {site} is still on, {duration} after closing.",
        "ru": "{name} ({site}) всё ещё включена, {duration} после закрытия.",
        "kk": "{name} ({site}) жабылғаннан кейін {duration} өтсе де әлі қосулы.",
    },
    "left_on/idle": {
        "en": "{name} at {site} has been on and idle for {duration}.",
        "ru": "{name} ({site}) включена и простаивает уже {duration}.",
        "kk": "{name} ({site}) қосулы, бірақ {duration} бойы пайдаланылмай тұр.",
    },
    "left_on/on_too_long": {
        "en": "{name} at {site} has been on for {duration}.",
        "ru": "{name} ({site}) включена уже {duration}.",
        "kk": "{name} ({site}) {duration} бойы қосулы тұр.",
    },
    "offline_while_on/offline": {
        "en": "{name} at {site} went offline while it was on.",
        "ru": "{name} ({site}) пропала из сети, когда была включена.",
        "kk": "{name} ({site}) қосулы тұрғанда желіден шығып кетті.",
    },
    "over_temperature/hot": {
        "en": "{name} at {site} is too hot: {temp_c:.0f} °C.",
        "ru": "{name} ({site}) перегрелась: {temp_c:.0f} °C.",
        "kk": "{name} ({site}) қатты қызып кетті: {temp_c:.0f} °C.",
    },
    "no_data/silent": {
        "en": "{name} at {site} has sent nothing for {duration}.",
        "ru": "{name} ({site}) не присылает данных уже {duration}.",
        "kk": "{name} ({site}) {duration} бойы дерек жібермей тұр.",
    },
    "resolved": {
        "en": "Resolved: {name} at {site} is back to normal.",
        "ru": "Решено: {name} ({site}) снова в норме.",
        "kk": "Шешілді: {name} ({site}) қалыпына келді.",
    },
    "auto_off_sent": {
        "en": "{name} at {site} is being switched off remotely.",
        "ru": "{name} ({site}) выключается удалённо.",
        "kk": "{name} ({site}) қашықтан өшірілуде.",
    },
    "auto_off_unconfirmed": {
        "en": "{name} at {site} did not confirm the remote switch-off. Please check it.",
        "ru": "{name} ({site}) не подтвердила удалённое выключение. Проверьте, пожалуйста.",
        "kk": "{name} ({site}) қашықтан өшіруді растамады. Тексеріп көріңіз.",
    },
}


def duration(seconds: float, language: Language) -> str:
    """'2 h 15 min', '2 ч 15 мин', '2 сағ 15 мин'; days for long spans."""
    days_unit, hours_unit, minutes_unit = _UNITS[language]
    minutes = max(1, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {days_unit}")
    if hours:
        parts.append(f"{hours} {hours_unit}")
    if minutes and not days:
        parts.append(f"{minutes} {minutes_unit}")
    return " ".join(parts)


def message(
    key: str, language: Language, *, name: str, site: str, seconds: float = 0, temp_c: float = 0
) -> str:
    template = _TEMPLATES[key][language]
    return template.format(
        name=name, site=site, duration=duration(seconds, language), temp_c=temp_c
    )
