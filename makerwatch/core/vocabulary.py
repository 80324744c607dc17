"""Words every page and message shares, in the staff's and sponsors' languages: kinds of
machine, machine states, units of time."""

from __future__ import annotations

from makerwatch.core.site_config import Language, MachineKind

__all__ = [
    "DURATION_UNITS",
    "FIGURE_NAMES",
    "KIND_NAMES",
    "LANGUAGE_NAMES",
    "STATE_NAMES",
    "kind_name",
]

# The sponsor figures' names, as the report, the sponsor page and Grafana label them.
FIGURE_NAMES: dict[str, dict[Language, str]] = {
    "machine_hours": {"en": "Machine-hours", "ru": "Машино-часы", "kk": "Машина-сағат"},
    "on_hours": {
        "en": "Hours switched on",
        "ru": "Часы во включённом состоянии",
        "kk": "Қосулы тұрған сағаттар",
    },
    "sessions": {"en": "Sessions", "ru": "Сеансы работы", "kk": "Жұмыс сеанстары"},
    "energy_kwh": {"en": "Energy, kWh", "ru": "Энергия, кВт·ч", "kk": "Энергия, кВт·сағ"},
}

# Each language in its own words, for a language switch.
LANGUAGE_NAMES: dict[Language, str] = {"en": "English", "ru": "Русский", "kk": "Қазақша"}

# day, hour, minute, second: as people write them ('2 h 15 min', '2 ч 15 мин').
DURATION_UNITS: dict[Language, tuple[str, str, str, str]] = {
    "en": ("d", "h", "min", "s"),
    "ru": ("сут.", "ч", "мин", "с"),
    "kk": ("тәулік", "сағ", "мин", "с"),
}

# A machine's state as a label on its own (the floor board's tiles).
STATE_NAMES: dict[str, dict[Language, str]] = {
    "off": {"en": "Off", "ru": "Выключено", "kk": "Өшірулі"},
    "idle": {"en": "Idle", "ru": "Простаивает", "kk": "Бос тұр"},
    "active": {"en": "In use", "ru": "В работе", "kk": "Жұмыс істеп тұр"},
    "no_signal": {"en": "No signal", "ru": "Нет связи", "kk": "Байланыс жоқ"},
    "never_heard": {"en": "No data yet", "ru": "Данных пока нет", "kk": "Әзірге дерек жоқ"},
}

# Plural: they head groups of machines (a report's table, the floor board's rows).
KIND_NAMES: dict[MachineKind, dict[Language, str]] = {
    MachineKind.SOLDERING_STATION: {
        "en": "Soldering stations",
        "ru": "Паяльные станции",
        "kk": "Дәнекерлеу станциялары",
    },
    MachineKind.PRINTER_3D: {"en": "3D printers", "ru": "3D-принтеры", "kk": "3D-принтерлер"},
    MachineKind.LASER_CUTTER: {
        "en": "Laser cutters",
        "ru": "Лазерные станки",
        "kk": "Лазерлік кескіш станоктар",
    },
    MachineKind.CNC_ROUTER: {
        "en": "CNC routers",
        "ru": "Фрезерные станки с ЧПУ",
        "kk": "CNC фрезерлік станоктар",
    },
    MachineKind.VINYL_CUTTER: {
        "en": "Vinyl cutters",
        "ru": "Режущие плоттеры",
        "kk": "Винил кескіш плоттерлер",
    },
    MachineKind.SEWING_MACHINE: {
        "en": "Sewing machines",
        "ru": "Швейные машины",
        "kk": "Тігін машиналары",
    },
    MachineKind.OTHER: {"en": "Other machines", "ru": "Другое оборудование", "kk": "Басқа жабдық"},
}


def kind_name(kind: str, language: Language) -> str:
    try:
        return KIND_NAMES[MachineKind(kind)][language]
    except ValueError:
        return KIND_NAMES[MachineKind.OTHER][language]
