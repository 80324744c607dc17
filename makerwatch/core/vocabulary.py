"""Words every page and message shares, in the staff's and sponsors' languages: the
glossary (one word for each thing, docs/languages.md), kinds of machine, machine states,
units of time."""

from __future__ import annotations

from makerwatch.core.site_config import Language, MachineKind

__all__ = [
    "DURATION_UNITS",
    "KIND_NAMES",
    "LANGUAGE_NAMES",
    "NUMBER_SEPARATORS",
    "REJECTED_WORDS",
    "SNOOZE_MIN",
    "STATE_NAMES",
    "TERMS",
    "kind_name",
]

SNOOZE_MIN = 60  # how long TERMS["snooze"] ("Snooze 1 h") snoozes, in the chat and on the board

# The glossary: each thing the staff and sponsors read about has one name per language,
# whichever screen shows it (the board, the alerts, the chat, the report, Grafana).
# Each term is written as it stands at the start of a label; inside a sentence a page
# lowers its first letter. {who} is the staff member's name, never declined.
TERMS: dict[str, dict[Language, str]] = {
    "switch_off": {"en": "Switch off", "ru": "Выключить", "kk": "Өшіру"},
    "remote_switch_off": {"en": "Remote switch-off", "ru": "Удалённое отключение", "kk": "Қашықтан өшіру"},
    "alert": {"en": "Alert", "ru": "Оповещение", "kk": "Ескерту"},
    "alerts": {"en": "Alerts", "ru": "Оповещения", "kk": "Ескертулер"},
    "no_alerts": {"en": "No active alerts", "ru": "Активных оповещений нет", "kk": "Белсенді ескерту жоқ"},
    "acknowledge": {"en": "I'm on it", "ru": "Беру на себя", "kk": "Мен айналысамын"},
    "on_it": {"en": "{who} is on it", "ru": "Занимается: {who}", "kk": "{who} айналысып жатыр"},
    # A member at a machine (their short name, from their card), since it was switched on.
    "in_use_by": {"en": "In use by {who} since {at}", "ru": "Пользуется: {who}, с {at}",
                  "kk": "{at} бастап {who} пайдаланып жатыр"},
    "resolved": {"en": "Back to normal", "ru": "Снова в норме", "kk": "Қалпына келді"},
    "snooze": {"en": "Snooze 1 h", "ru": "Отложить на 1 ч", "kk": "1 сағатқа кейінге қалдыру"},
    "identify": {"en": "Blink LED", "ru": "Помигать светодиодом", "kk": "Шамды жыпылықтату"},
    "machine": {"en": "Machine", "ru": "Оборудование", "kk": "Жабдық"},
    "site": {"en": "Site", "ru": "Площадка", "kk": "Алаң"},
    "kind": {"en": "Kind", "ru": "Вид", "kk": "Түрі"},
    "utilisation": {"en": "Utilisation", "ru": "Загрузка", "kk": "Жүктеме"},
    "percentage_points": {"en": "pp", "ru": "п. п.", "kk": "пайыздық тармақ"},
    "power": {"en": "Power", "ru": "Мощность", "kk": "Қуат"},
    "on_since": {"en": "On since", "ru": "Включено с", "kk": "Қосылған уақыты"},
    "maintenance": {"en": "Maintenance", "ru": "Обслуживание", "kk": "Техникалық қызмет көрсету"},
    "maintenance_done": {"en": "Done", "ru": "Выполнено", "kk": "Орындалды"},
}  # fmt: skip

# Words the glossary replaced, never to be shown again: each is a different name for a
# glossary thing, a literal translation, or a word that misleads (docs/languages.md).
REJECTED_WORDS: dict[Language, tuple[str, ...]] = {
    "en": ("Acknowledge with", "Acknowledged."),
    "ru": ("Тревог", "тревог", "Принято", "Подтвердить", "Уже подтверждено", "Взято в работу",
           "станке", "станка", "Час дня", "Мигнуть"),
    "kk": ("Дабыл", "дабыл", "Сөндір", "сөндір", "жұмыссыз", "Жұмыста", "Қабылдадым",
           "Растау", "расталған", "қолға алды", "станоктағы", "станок үшін", "Тексеріп көріңіз", "Кезең ішінде қосылды",
           "дайындады", "айналысуда", "қалыпқа келді"),
}  # fmt: skip

# Thousands and decimal separators: "1,500.5" / "1 500,5" with a no-break space, written
# out here so that a page never depends on a browser's locale data (a TV's may lack kk/ru).
NUMBER_SEPARATORS: dict[Language, tuple[str, str]] = {
    "en": (",", "."),
    "ru": ("\u00a0", ","),
    "kk": ("\u00a0", ","),
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
