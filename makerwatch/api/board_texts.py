"""Every string the floor board shows, in English, Russian and Kazakh. The page gets
them as JSON (with the kind and state names and the units of time it shares with the
alerts and reports), so it holds no text of its own."""

from __future__ import annotations

from typing import Any

from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.vocabulary import (
    DURATION_UNITS,
    KIND_NAMES,
    LANGUAGE_NAMES,
    NUMBER_SEPARATORS,
    STATE_NAMES,
    TERMS,
)

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
    "alerts": TERMS["alerts"],
    "no_alerts": {language: text + "." for language, text in TERMS["no_alerts"].items()},
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
    "acknowledge": TERMS["acknowledge"],
    "acknowledged_by": TERMS["on_it"],
    "identify": TERMS["identify"],
    "switch_off": TERMS["switch_off"],
    "confirm_off": {
        "en": "Switch {name} off now?",
        "ru": "Выключить «{name}» сейчас?",
        "kk": "«{name}» қазір өшірілсін бе?",
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
    "invite_refused": {
        "en": "This sign-in link was used already or is no longer valid: ask for a new one.",
        "ru": "Эта ссылка для входа уже использована или больше не действует: попросите новую.",
        "kk": "Бұл кіру сілтемесі қолданылған немесе енді жарамсыз: жаңасын сұраңыз.",
    },
    "done_identify": {
        "en": "The LED of {name} is blinking.",
        "ru": "Светодиод «{name}» мигает.",
        "kk": "«{name}» шамы жыпылықтап тұр.",
    },
    "done_off": {
        "en": "Switch-off sent to {name}.",
        "ru": "Команда выключения отправлена: «{name}».",
        "kk": "Өшіру командасы жіберілді: «{name}».",
    },
    "failed": {"en": "Not done: {reason}", "ru": "Не выполнено: {reason}", "kk": "Орындалмады: {reason}"},
    # Why the server refused (the page picks one by the answer's HTTP status, so a
    # server's English error text never reaches a Russian or Kazakh toast).
    "error_alert_gone": {
        "en": "this alert is no longer active.",
        "ru": "это оповещение уже неактивно.",
        "kk": "бұл ескерту енді белсенді емес.",
    },
    "error_no_machine": {
        "en": "the server does not know this machine.",
        "ru": "сервер не знает этого оборудования.",
        "kk": "сервер бұл жабдықты білмейді.",
    },
    "error_no_relay": {
        "en": "this machine has no relay to switch it off with.",
        "ru": "у этого оборудования нет реле для выключения.",
        "kk": "бұл жабдықта өшіруге арналған реле жоқ.",
    },
    "error_bad_token": {
        "en": "your staff token is not valid: sign in again.",
        "ru": "токен сотрудника недействителен: войдите снова.",
        "kk": "қызметкер токені жарамсыз: қайта кіріңіз.",
    },
    "error_too_many": {
        "en": "too many wrong tokens from this device: try again in {seconds} s.",
        "ru": "слишком много неверных токенов с этого устройства: повторите через {seconds} с.",
        "kk": "бұл құрылғыдан қате токен тым көп енгізілді: {seconds} с кейін қайталаңыз.",
    },
    "error_server": {
        "en": "the server answered with error {status}.",
        "ru": "сервер ответил ошибкой {status}.",
        "kk": "сервер {status} қатесімен жауап берді.",
    },
    "language": {"en": "Language", "ru": "Язык", "kk": "Тіл"},
    "now": {"en": "just now", "ru": "только что", "kk": "жаңа ғана"},
    "show": {"en": "Show", "ru": "Показать", "kk": "Көрсету"},
    "filter_all": {"en": "All", "ru": "Все", "kk": "Барлығы"},
    "filter_on": {"en": "On", "ru": "Включённые", "kk": "Қосулы"},
    "filter_alerts": {"en": "With alerts", "ru": "С оповещениями", "kk": "Ескертуі барлар"},
}  # fmt: skip


def page_texts() -> dict[str, Any]:
    """What the page's script reads: every text, by language."""
    return {
        language: {
            "texts": {key: texts[language] for key, texts in BOARD_TEXTS.items()},
            "states": {state: names[language] for state, names in STATE_NAMES.items()},
            "kinds": {kind.value: names[language] for kind, names in KIND_NAMES.items()},
            "units": DURATION_UNITS[language],
            "separators": NUMBER_SEPARATORS[language],
            "label": LANGUAGE_NAMES[language],
        }
        for language in LANGUAGES
    }
