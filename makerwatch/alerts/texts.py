"""Alert messages in the staff's languages: Kazakh, Russian and English.

Every message names the machine (in the reader's language when the site file gives
one), the site, the local time the condition began and how long it has held, and
says how to acknowledge an active alert. Russian phrasing is correct for any
machine name: the name stands in quotes and nothing agrees with its gender
(«Prusa MK4 #1»: включено ...), as docs/alerts.md's style list asks.
"""

from __future__ import annotations

from makerwatch.core.site_config import Language
from makerwatch.core.time_words import duration, local_time
from makerwatch.core.vocabulary import STATE_NAMES

__all__ = [
    "OPERATIONS_TEXTS", "STATE_WORDS", "TEMPLATES", "WAS_WORDS", "duration",
    "local_time", "message",
]  # fmt: skip

# (rule/reason, or transition) -> language -> the headline. Fields: name, site, temp_c, who.
TEMPLATES: dict[str, dict[Language, str]] = {
    # On before closing and still on: {on_at} the switch-on, {closed_at} the closing,
    # {late} how long after closing (site time).
    "left_on/after_closing": {
        "en": "{name} at {site} has been on since {on_at} and is still on {late} after closing at {closed_at}.",
        "ru": "«{name}» ({site}): включено с {on_at} и не выключено через {late} после закрытия в {closed_at}.",
        "kk": "«{name}» ({site}): {on_at} бастап қосулы, {closed_at} жабылғаннан кейін {late} өтсе де өшірілмеді.",
    },
    # Switched on while the site was closed: before that day's opening, or otherwise.
    "left_on/before_opening": {
        "en": "{name} at {site} was switched on at {on_at}, before opening.",
        "ru": "«{name}» ({site}): включено в {on_at}, до открытия.",
        "kk": "«{name}» ({site}): ашылуға дейін қосылды, уақыты: {on_at}.",
    },
    "left_on/while_closed": {
        "en": "{name} at {site} was switched on at {on_at}, while the space is closed.",
        "ru": "«{name}» ({site}): включено в {on_at}, когда площадка закрыта.",
        "kk": "«{name}» ({site}): алаң жабық кезде қосылды, уақыты: {on_at}.",
    },
    "left_on/idle": {
        "en": "{name} at {site} is on and idle.",
        "ru": "«{name}» ({site}): включено и простаивает.",
        "kk": "«{name}» ({site}): қосулы, бос тұр.",
    },
    "left_on/on_too_long": {
        "en": "{name} at {site} has been on for too long.",
        "ru": "«{name}» ({site}): включено слишком долго.",
        "kk": "«{name}» ({site}): тым ұзақ қосулы тұр.",
    },
    "offline_while_on/offline": {
        "en": "{name} at {site} went offline while it was on.",
        "ru": "«{name}» ({site}): связь потеряна при включённом оборудовании.",
        "kk": "«{name}» ({site}): қосулы тұрғанда байланыс үзілді.",
    },
    "over_temperature/hot": {
        "en": "{name} at {site} is too hot: {temp_c:.0f} °C.",
        "ru": "«{name}» ({site}): перегрев, {temp_c:.0f} °C.",
        "kk": "«{name}» ({site}): қатты қызып кетті, {temp_c:.0f} °C.",
    },
    "no_data/silent": {
        "en": "{name} at {site} is sending no data.",
        "ru": "«{name}» ({site}): нет данных.",
        "kk": "«{name}» ({site}): деректер келмей тұр.",
    },
    # {task}: the maintenance task's name, in the reader's language.
    "maintenance_due/due": {
        "en": "Maintenance due on {name} at {site}: {task}.",
        "ru": "«{name}» ({site}): пора провести обслуживание: {task}.",
        "kk": "«{name}» ({site}): техникалық қызмет көрсету уақыты келді: {task}.",
    },
    "resolved/maintenance_due": {
        "en": "Maintenance done on {name} at {site}: {task}.",
        "ru": "«{name}» ({site}): обслуживание выполнено: {task}.",
        "kk": "«{name}» ({site}): техникалық қызмет көрсету орындалды: {task}.",
    },
    "resolved": {
        "en": "Resolved: {name} at {site} is back to normal.",
        "ru": "Решено: «{name}» ({site}) снова в норме.",
        "kk": "Шешілді: «{name}» ({site}) қалпына келді.",
    },
    "acknowledged": {
        "en": "{who} is on it: {name} at {site}.",
        "ru": "«{name}» ({site}): занимается {who}.",
        "kk": "«{name}» ({site}): {who} айналысып жатыр.",
    },
    "auto_off_sent": {
        "en": "{name} at {site} is being switched off remotely.",
        "ru": "«{name}» ({site}): отключается удалённо.",
        "kk": "«{name}» ({site}): қашықтан өшірілуде.",
    },
    "auto_off_unconfirmed": {
        "en": "{name} at {site} did not confirm the remote switch-off. Go and check it.",
        "ru": "«{name}» ({site}): удалённое отключение не подтверждено. Подойдите и проверьте.",
        "kk": "«{name}» ({site}): қашықтан өшіру расталмады. Барып тексеріңіз.",
    },
    "auto_off_cancelled": {
        "en": "{who} cancelled the remote switch-off of {name} at {site}.",
        "ru": "Удалённое отключение отменено ({who}): «{name}» ({site}).",
        "kk": "Қашықтан өшіруді {who} тоқтатты: «{name}» ({site}).",
    },
}

# A machine's state inside a sentence (lower case): the same words as STATE_NAMES.
STATE_WORDS: dict[str, dict[Language, str]] = {
    state: {language: word[:1].lower() + word[1:] for language, word in names.items()}
    for state, names in STATE_NAMES.items()
}

# A machine whose signal is gone: the state it was last known in.
WAS_WORDS: dict[Language, str] = {
    "en": "{state} (was {was})",
    "ru": "{state} (было: {was})",
    "kk": "{state} (соңғы күйі: {was})",
}

# About the system itself, not a machine. Fields: site, count.
OPERATIONS_TEXTS: dict[str, dict[Language, str]] = {
    "broker_dropped": {
        "en": "The message broker at {site} dropped {count} messages: readings may be lost. Check that ingest is running and keeping up.",
        "ru": "Брокер сообщений ({site}) отбросил сообщений: {count}. Показания могли потеряться: проверьте, что приём данных (ingest) работает и успевает.",
        "kk": "{site} хабар брокері {count} хабарды тастап жіберді: көрсеткіштер жоғалуы мүмкін. Деректерді қабылдау (ingest) жұмыс істеп, үлгеріп тұрғанын тексеріңіз.",
    },
}

# The second line: when it began (site time) and for how long.
_SINCE: dict[Language, str] = {
    "en": "Since {since}, {duration}.",
    "ru": "С {since}, {duration}.",
    "kk": "Басталуы: {since}, ұзақтығы: {duration}.",
}
# The same for a machine left on: counted from when it was switched on.
_ON_SINCE: dict[Language, str] = {
    "en": "On since {since}, {duration}.",
    "ru": "Включено с {since}, {duration}.",
    "kk": "{since} бастап қосулы, {duration}.",
}
# A pending remote switch-off that an acknowledgement leaves in place.
_AUTO_OFF_STANDS: dict[Language, str] = {
    "en": "The remote switch-off at {at} still stands.",
    "ru": "Удалённое отключение в {at} остаётся в силе.",
    "kk": "Қашықтан өшіру уақыты өзгерген жоқ: {at}.",
}


def message(
    key: str,
    language: Language,
    *,
    name: str,
    site: str,
    since: str | None = None,
    seconds: float = 0,
    temp_c: float = 0,
    who: str = "",
    auto_off_at: str | None = None,
    on_at: str = "",
    closed_at: str = "",
    late_s: float = 0,
    task: str = "",
) -> str:
    """The message for `key`: its headline, then when and how long, then what to do."""
    headline = TEMPLATES[key][language].format(
        name=name, site=site, temp_c=temp_c, who=who, on_at=on_at, closed_at=closed_at,
        late=duration(late_s, language), task=task,
    )  # fmt: skip
    lines = [headline]
    if since is not None:
        second = _ON_SINCE if key.startswith("left_on/") else _SINCE
        lines.append(second[language].format(since=since, duration=duration(seconds, language)))
    if auto_off_at is not None:
        lines.append(_AUTO_OFF_STANDS[language].format(at=auto_off_at))
    return "\n".join(lines)
