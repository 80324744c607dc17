"""Every string the floor board shows, in English, Russian and Kazakh. The page gets
them as JSON (with the kind and state names and the units of time it shares with the
alerts and reports), so it holds no text of its own."""

from __future__ import annotations

from typing import Any

from makerwatch.core.figures import by_key
from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.time_words import FOR_WORDS, ON_SINCE_WORDS
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
    # "on since 06:26 · for 4 min": the words `status` and the chat's /status print.
    "for": FOR_WORDS,
    "on_since": ON_SINCE_WORDS,
    "in_use_by": TERMS["in_use_by"],
    # Enrolling a member's card (static/enrol.js).
    "enrol": {"en": "Enrol a card", "ru": "Привязать карту", "kk": "Картаны тіркеу"},
    "enrol_machine": TERMS["machine"],
    "enrol_member": {"en": "Member", "ru": "Участник", "kk": "Қатысушы"},
    "enrol_go": {"en": "The next new card is theirs", "ru": "Следующая новая карта — этого участника",
                 "kk": "Келесі жаңа карта осы қатысушыныкі"},
    # ru: a quoted machine name stays in the nominative, so no preposition may govern it.
    "enrol_waiting": {"en": "Tap the card at {machine} before {at}", "ru": "«{machine}»: приложите карту до {at}",
                      "kk": "Картаны {at} дейін «{machine}» жанына тигізіңіз"},
    "enrol_gone": {"en": "that machine or member is no longer on the list: reload the page",
                   "ru": "этого оборудования или участника больше нет в списке: обновите страницу",
                   "kk": "бұл жабдық не қатысушы тізімде енді жоқ: бетті жаңартыңыз"},
    "enrol_failed": {"en": "Not enrolled: {reason}", "ru": "Карта не привязана: {reason}",
                     "kk": "Карта тіркелмеді: {reason}"},
    "enrol_done": {"en": "The card is attached to {member}", "ru": "Карта привязана: {member}",
                   "kk": "Карта тіркелді: {member}"},
    "enrol_expired": {"en": "No new card was tapped at {machine} before {at}: try again",
                      "ru": "«{machine}»: новую карту не приложили до {at}, попробуйте ещё раз",
                      "kk": "«{machine}»: {at} дейін жаңа карта тигізілмеді, қайталап көріңіз"},
    "no_signal_since": {"en": "since {at}", "ru": "с {at}", "kk": "{at} бастап"},
    "was": {"en": "was {state}", "ru": "было: {state}", "kk": "соңғы күйі: {state}"},
    "seen": {"en": "Last heard {duration} ago", "ru": "Последний сигнал {duration} назад", "kk": "Соңғы сигнал {duration} бұрын"},
    # No-break spaces: a narrow tile wraps the line before "Wi-Fi", never inside the figure.
    "signal": {"en": "Wi-Fi\u00a0{rssi}\u00a0dBm", "ru": "Wi-Fi\u00a0{rssi}\u00a0дБм", "kk": "Wi-Fi\u00a0{rssi}\u00a0дБм"},
    "firmware": {"en": "Firmware {fw}", "ru": "Прошивка {fw}", "kk": "Микробағдарлама {fw}"},
    "watts": {"en": "{value} W", "ru": "{value} Вт", "kk": "{value} Вт"},
    "celsius": {"en": "{value} °C", "ru": "{value} °C", "kk": "{value} °C"},
    "power_hour": {"en": "Power, last hour", "ru": "Мощность за последний час", "kk": "Соңғы сағаттағы қуат"},
    "acknowledge": TERMS["acknowledge"],
    "acknowledged_by": TERMS["on_it"],
    "snoozed_until": {"en": "no reminders until {at}", "ru": "без напоминаний до {at}", "kk": "{at} дейін еске салынбайды"},
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
    "sign_in_hint": {
        "en": "On a phone, open the sign-in link or scan the QR code the site's administrator gives you: no token to type.",
        "ru": "На телефоне откройте ссылку для входа или отсканируйте QR-код от администратора площадки: токен вводить не нужно.",
        "kk": "Телефонда алаң әкімшісі берген кіру сілтемесін ашыңыз немесе QR-кодты сканерлеңіз: токен енгізудің қажеті жоқ.",
    },
    "signed_in": {"en": "Signed in: {who}", "ru": "Вы вошли: {who}", "kk": "Кірген қызметкер: {who}"},
    "bad_token": {"en": "This token is not valid.", "ru": "Этот токен недействителен.", "kk": "Бұл токен жарамсыз."},
    "too_many_tries": {
        "en": "Too many wrong tokens from this device. Try again in {seconds} s.",
        "ru": "Слишком много неверных токенов с этого устройства. Повторите через {seconds} с.",
        "kk": "Бұл құрылғыдан қате токен тым көп енгізілді. {seconds} с кейін қайталаңыз.",
    },
    "invite_later": {
        "en": "The server could not sign this phone in just now. Open the same link again in a minute.",
        "ru": "Сервер не смог выполнить вход с этого телефона. Откройте ту же ссылку ещё раз через минуту.",
        "kk": "Сервер бұл телефонды қазір кіргізе алмады. Сол сілтемені бір минуттан кейін қайта ашыңыз.",
    },
    "invite_refused": {
        "en": "This sign-in link was used already or is no longer valid: ask for a new one.",
        "ru": "Эта ссылка для входа уже использована или больше не действует: попросите новую.",
        "kk": "Бұл кіру сілтемесі қолданылған немесе енді жарамсыз: жаңасын сұраңыз.",
    },
    # A staff action on a machine: sent, then what its board answered (or that it did not).
    "sent_identify": {
        "en": "{name}: sent, waiting for the board's answer…",
        "ru": "«{name}»: команда отправлена, ждём ответа платы…",
        "kk": "«{name}»: команда жіберілді, құрылғының жауабы күтілуде…",
    },
    "sent_off": {
        "en": "{name}: switch-off sent, waiting for the board's answer…",
        "ru": "«{name}»: команда выключения отправлена, ждём ответа платы…",
        "kk": "«{name}»: өшіру командасы жіберілді, құрылғының жауабы күтілуде…",
    },
    "done_identify": {
        "en": "{name}: the board answered, its LED is blinking.",
        "ru": "«{name}»: плата ответила, светодиод мигает.",
        "kk": "«{name}»: құрылғы жауап берді, шамы жыпылықтап тұр.",
    },
    "done_identify_no_led": {
        "en": "{name}: the board answered, but it has no LED.",
        "ru": "«{name}»: плата ответила, но светодиода у неё нет.",
        "kk": "«{name}»: құрылғы жауап берді, бірақ онда шам жоқ.",
    },
    "done_off": {
        "en": "{name}: the board switched the relay off.",
        "ru": "«{name}»: плата выключила реле.",
        "kk": "«{name}»: құрылғы релені өшірді.",
    },
    "no_answer": {
        "en": "{name}: no answer from the board. Go and check the machine.",
        "ru": "«{name}»: плата не ответила. Подойдите и проверьте.",
        "kk": "«{name}»: құрылғы жауап бермеді. Барып тексеріңіз.",
    },
    # An alert's remote switch-off (rules' auto_off_after_min), as the alert engine holds it.
    "snooze": TERMS["snooze"],
    "cancel_off": {
        "en": "Keep it on (cancel the switch-off)",
        "ru": "Не выключать (отменить отключение)",
        "kk": "Өшірмеу (өшіруден бас тарту)",
    },
    "off_pending": {
        "en": "Remote switch-off at {at}",
        "ru": "Удалённое отключение в {at}",
        "kk": "Қашықтан өшіру уақыты: {at}",
    },
    "off_sent": {
        "en": "Remote switch-off sent: waiting for the board",
        "ru": "Удалённое отключение отправлено: ждём ответа платы",
        "kk": "Қашықтан өшіру жіберілді: құрылғының жауабы күтілуде",
    },
    "off_confirmed": {"en": "Switched off remotely", "ru": "Отключено удалённо", "kk": "Қашықтан өшірілді"},
    "off_unconfirmed": {
        "en": "The board did not answer the switch-off: go and check",
        "ru": "Плата не ответила на отключение: проверьте на месте",
        "kk": "Құрылғы өшіру командасына жауап бермеді: барып тексеріңіз",
    },
    "off_cancelled": {
        "en": "Remote switch-off cancelled",
        "ru": "Удалённое отключение отменено",
        "kk": "Қашықтан өшіру тоқтатылды",
    },
    "failed": {"en": "Not done: {reason}", "ru": "Не выполнено: {reason}", "kk": "Орындалмады: {reason}"},
    # Why the server refused (the page picks one by the answer's HTTP status, so a
    # server's English error text never reaches a Russian or Kazakh toast).
    "error_alert_gone": {
        "en": "this alert is no longer active.",
        "ru": "это оповещение уже неактивно.",
        "kk": "бұл ескерту енді белсенді емес.",
    },
    "error_taken": {
        "en": "someone is on this alert already.",
        "ru": "этим оповещением уже занимаются.",
        "kk": "бұл ескертумен біреу айналысып жатыр.",
    },
    "error_no_machine": {
        "en": "the server does not know this machine.",
        "ru": "сервер не знает этого оборудования.",
        "kk": "сервер бұл жабдықты білмейді.",
    },
    "error_no_relay": {
        "en": "this machine is not switched off from here (no relay, or a 3D printer).",
        "ru": "это оборудование отсюда не выключается (нет реле или это 3D-принтер).",
        "kk": "бұл жабдық осы жерден өшірілмейді (релесі жоқ немесе 3D-принтер).",
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
    # One machine's page.
    "all_machines": {"en": "← All machines", "ru": "← Всё оборудование", "kk": "← Барлық жабдық"},
    "today": {"en": "Today", "ru": "Сегодня", "kk": "Бүгін"},
    "power_today": {
        "en": "Power today, up to {peak} W",
        "ru": "Мощность за сегодня, до {peak} Вт",
        "kk": "Бүгінгі қуат, {peak} Вт дейін",
    },
    "sessions_recent": {
        "en": "Recent sessions",
        "ru": "Последние сеансы работы",
        "kk": "Соңғы жұмыс сеанстары",
    },
    "alerts_recent": {"en": "Recent alerts", "ru": "Последние оповещения", "kk": "Соңғы ескертулер"},
    "nothing_yet": {"en": "None yet.", "ru": "Пока нет.", "kk": "Әзірге жоқ."},
    "history_unreadable": {
        "en": "The history cannot be read now (the database does not answer).",
        "ru": "История сейчас недоступна (база данных не отвечает).",
        "kk": "Тарихты қазір оқу мүмкін емес (дерекқор жауап бермей тұр).",
    },
    "session_start": {"en": "Began", "ru": "Начало", "kk": "Басталуы"},
    "session_length": {"en": "Length", "ru": "Длительность", "kk": "Ұзақтығы"},
    "session_energy": by_key("energy_kwh").names,
    "kwh": {"en": "{value} kWh", "ru": "{value} кВт·ч", "kk": "{value} кВт·сағ"},
    "rule_left_on": {"en": "Left on", "ru": "Оставлено включённым", "kk": "Қосулы қалды"},
    "rule_offline_while_on": {
        "en": "No signal while on",
        "ru": "Нет сигнала во время работы",
        "kk": "Қосулы кезде сигнал жоқ",
    },
    "rule_over_temperature": {"en": "Too hot", "ru": "Перегрев", "kk": "Қызып кетті"},
    "rule_no_data": {"en": "No data", "ru": "Нет данных", "kk": "Дерек жоқ"},
    "step_fired": {"en": "Began", "ru": "Началось", "kk": "Басталды"},
    "step_repeated": {"en": "Reminded", "ru": "Напоминание", "kk": "Еске салынды"},
    "step_resolved": TERMS["resolved"],
    # The machine page's section and its button: a heading names the thing, a button the act.
    "calibrate": {"en": "Calibration", "ru": "Калибровка", "kk": "Калибрлеу"},
    "known_load": {
        "en": "Known load switched on now, W",
        "ru": "Известная нагрузка, включённая сейчас, Вт",
        "kk": "Қазір қосулы белгілі жүктеме, Вт",
    },
    "reference_temp": {
        "en": "Reference thermometer at the sensor, °C",
        "ru": "Эталонный термометр у датчика, °C",
        "kk": "Датчик жанындағы эталон термометр, °C",
    },
    "calibrate_button": {"en": "Calibrate", "ru": "Откалибровать", "kk": "Калибрлеуді бастау"},
    "sent_calibrate": {
        "en": "{name}: calibration sent, the board is measuring…",
        "ru": "«{name}»: калибровка отправлена, плата измеряет…",
        "kk": "«{name}»: калибрлеу жіберілді, құрылғы өлшеп жатыр…",
    },
    "done_calibrate": {
        "en": "{name}: the board keeps the new correction ({reason}).",
        "ru": "«{name}»: плата сохранила новую поправку ({reason}).",
        "kk": "«{name}»: құрылғы жаңа түзетуді сақтады ({reason}).",
    },
    "calibrate_refused": {
        "en": "{name}: the board did not calibrate: {reason}",
        "ru": "«{name}»: плата не откалибровалась: {reason}",
        "kk": "«{name}»: құрылғы калибрленбеді: {reason}",
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
