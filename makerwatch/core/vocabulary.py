"""Words for things every page names: kinds of machine, in the staff's and sponsors' languages."""

from __future__ import annotations

from makerwatch.core.site_config import Language, MachineKind

__all__ = ["KIND_NAMES", "kind_name"]

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
