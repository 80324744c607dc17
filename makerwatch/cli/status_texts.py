"""`makerwatch status`'s own words, in the site's language (or --lang), with the
glossary's terms: the health of the server, its alerts, its machines."""

from __future__ import annotations

from makerwatch.core.site_config import Language
from makerwatch.core.vocabulary import TERMS

__all__ = ["HEALTH_CHECKS", "HEALTH_ERRORS", "STATUS_TEXTS"]

STATUS_TEXTS: dict[str, dict[Language, str]] = {
    "site": {"en": "Makerwatch at {base}: {state}", "ru": "Makerwatch ({base}): {state}",
             "kk": "Makerwatch ({base}): {state}"},
    "healthy": {"en": "healthy", "ru": "всё работает", "kk": "бәрі жұмыс істеп тұр"},
    "not_healthy": {"en": "NOT HEALTHY", "ru": "ЕСТЬ НЕПОЛАДКИ", "kk": "АҚАУ БАР"},
    "ok": {"en": "ok", "ru": "да", "kk": "иә"},
    "no": {"en": "NO", "ru": "НЕТ", "kk": "ЖОҚ"},
    "waiting": {
        "en": "{messages} messages waiting, {bytes} bytes in the spool",
        "ru": "Сообщений в очереди: {messages}; в буфере на диске: {bytes} байт",
        "kk": "Кезектегі хабарлар: {messages}; дискідегі буферде: {bytes} байт",
    },
    "alerts": {"en": "Active alerts: {count}", "ru": "Активные оповещения: {count}",
               "kk": "Белсенді ескертулер: {count}"},
    "no_alerts": TERMS["no_alerts"],
    "machines": {"en": "Machines", "ru": TERMS["machine"]["ru"], "kk": TERMS["machine"]["kk"]},
}  # fmt: skip

# /healthz's checks, each as a line of the list ("ok  broker connected").
HEALTH_CHECKS: dict[str, dict[Language, str]] = {
    "mqtt_connected": {"en": "broker connected", "ru": "брокер сообщений подключён",
                       "kk": "хабар брокері қосылған"},
    "influxdb_reachable": {"en": "InfluxDB reachable", "ru": "InfluxDB доступна",
                           "kk": "InfluxDB қолжетімді"},
    "influxdb_writable": {"en": "InfluxDB writable", "ru": "запись в InfluxDB работает",
                          "kk": "InfluxDB-ге жазу жұмыс істейді"},
    "spool_writable": {"en": "spool writable", "ru": "запись в буфер на диске работает",
                       "kk": "дискідегі буферге жазу жұмыс істейді"},
}  # fmt: skip

# /healthz's reasons, each named before the server's own words.
HEALTH_ERRORS: dict[str, dict[Language, str]] = {
    "influxdb_ping_error": {"en": "InfluxDB ping error", "ru": "InfluxDB не отвечает",
                            "kk": "InfluxDB жауап бермейді"},
    "influxdb_error": {"en": "InfluxDB error", "ru": "ошибка InfluxDB", "kk": "InfluxDB қатесі"},
    "spool_error": {"en": "spool error", "ru": "ошибка буфера на диске",
                    "kk": "дискідегі буфер қатесі"},
}  # fmt: skip
