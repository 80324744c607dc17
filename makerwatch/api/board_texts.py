"""Every string the floor board shows, in English, Russian and Kazakh. The page gets
them as JSON (with the kind and state names and the units of time it shares with the
alerts and reports), so it holds no text of its own."""

from __future__ import annotations

from typing import Any

from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.vocabulary import DURATION_UNITS, KIND_NAMES, LANGUAGE_NAMES, STATE_NAMES

__all__ = ["BOARD_TEXTS", "page_texts"]

# key -> language -> text; {fields} are filled in by the page.
BOARD_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "{site}: the floor now", "ru": "{site}: оборудование сейчас", "kk": "{site}: жабдық қазір"},
    "connecting": {"en": "Connecting…", "ru": "Подключение…", "kk": "Қосылуда…"},
    "reconnecting": {
        "en": "Connection to the server lost. Reconnecting…",
        "ru": "Связь с сервером потеряна. Переподключаемся…",
        "kk": "Сервермен байланыс үзілді. Қайта қосылуда…",
    },
    "broker_down": {
        "en": "Live data interrupted: the server cannot reach the boards' message broker. Reconnecting…",
        "ru": "Поток данных прерван: сервер не может связаться с брокером сообщений. Переподключаемся…",
        "kk": "Деректер ағыны үзілді: сервер хабар брокерімен байланыса алмай тұр. Қайта қосылуда…",
    },
    "alerts": {"en": "Alerts", "ru": "Тревоги", "kk": "Дабылдар"},
    "no_alerts": {"en": "No active alerts.", "ru": "Активных тревог нет.", "kk": "Белсенді дабыл жоқ."},
    "for": {"en": "for {duration}", "ru": "уже {duration}", "kk": "{duration} бойы"},
    "on_since": {"en": "on since {at}", "ru": "включено с {at}", "kk": "{at} бастап қосулы"},
    "no_signal_since": {"en": "since {at}", "ru": "с {at}", "kk": "{at} бастап"},
    "was": {"en": "was {state}", "ru": "было: {state}", "kk": "соңғы күйі: {state}"},
    "seen": {"en": "Last heard {duration} ago", "ru": "Последний сигнал {duration} назад", "kk": "Соңғы сигнал {duration} бұрын"},
    "signal": {"en": "Wi-Fi {rssi} dBm", "ru": "Wi-Fi {rssi} дБм", "kk": "Wi-Fi {rssi} дБм"},
    "firmware": {"en": "Firmware {fw}", "ru": "Прошивка {fw}", "kk": "Микробағдарлама {fw}"},
    "watts": {"en": "{value} W", "ru": "{value} Вт", "kk": "{value} Вт"},
    "celsius": {"en": "{value} °C", "ru": "{value} °C", "kk": "{value} °C"},
    "power_hour": {"en": "Power, last hour", "ru": "Мощность за последний час", "kk": "Соңғы сағаттағы қуат"},
    "acknowledge": {"en": "I'm on it", "ru": "Беру на себя", "kk": "Мен айналысамын"},
    "acknowledged_by": {"en": "{who} is on it", "ru": "Занимается: {who}", "kk": "{who} айналысуда"},
    "identify": {"en": "Blink LED", "ru": "Мигнуть светодиодом", "kk": "Шамды жыпылықтату"},
    "switch_off": {"en": "Switch off", "ru": "Выключить", "kk": "Сөндіру"},
    "confirm_off": {
        "en": "Switch {name} off now?",
        "ru": "Выключить «{name}» сейчас?",
        "kk": "«{name}» қазір сөндірілсін бе?",
    },
    "staff": {"en": "Staff", "ru": "Сотрудникам", "kk": "Қызметкерлерге"},
    "token": {"en": "Staff token", "ru": "Токен сотрудника", "kk": "Қызметкер токені"},
    "sign_in": {"en": "Sign in", "ru": "Войти", "kk": "Кіру"},
    "sign_out": {"en": "Sign out", "ru": "Выйти", "kk": "Шығу"},
    "signed_in": {"en": "Signed in: {who}", "ru": "Вы вошли: {who}", "kk": "Кірген қызметкер: {who}"},
    "bad_token": {"en": "This token is not valid.", "ru": "Этот токен недействителен.", "kk": "Бұл токен жарамсыз."},
    "too_many_tries": {
        "en": "Too many wrong tokens from this device. Try again in {seconds} s.",
        "ru": "Слишком много неверных токенов с этого устройства. Повторите через {seconds} с.",
        "kk": "Бұл құрылғыдан қате токен тым көп енгізілді. {seconds} с кейін қайталаңыз.",
    },
    "done_identify": {
        "en": "The LED of {name} is blinking.",
        "ru": "Светодиод «{name}» мигает.",
        "kk": "«{name}» шамы жыпылықтап тұр.",
    },
    "done_off": {
        "en": "Switch-off sent to {name}.",
        "ru": "Команда выключения отправлена: «{name}».",
        "kk": "Сөндіру командасы жіберілді: «{name}».",
    },
    "failed": {"en": "Not done: {reason}", "ru": "Не выполнено: {reason}", "kk": "Орындалмады: {reason}"},
    "language": {"en": "Language", "ru": "Язык", "kk": "Тіл"},
    "now": {"en": "just now", "ru": "только что", "kk": "жаңа ғана"},
    "show": {"en": "Show", "ru": "Показать", "kk": "Көрсету"},
    "filter_all": {"en": "All", "ru": "Все", "kk": "Барлығы"},
    "filter_on": {"en": "On", "ru": "Включённые", "kk": "Қосулы"},
    "filter_alerts": {"en": "With alerts", "ru": "С тревогой", "kk": "Дабылы барлар"},
}  # fmt: skip


def page_texts() -> dict[str, Any]:
    """What the page's script reads: every text, by language."""
    return {
        language: {
            "texts": {key: texts[language] for key, texts in BOARD_TEXTS.items()},
            "states": {state: names[language] for state, names in STATE_NAMES.items()},
            "kinds": {kind.value: names[language] for kind, names in KIND_NAMES.items()},
            "units": DURATION_UNITS[language],
            "label": LANGUAGE_NAMES[language],
        }
        for language in LANGUAGES
    }
