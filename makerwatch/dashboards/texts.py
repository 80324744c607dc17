"""What the Grafana dashboards say, in Kazakh, Russian and English: titles, variables,
column names and the words for alert steps (the glossary's words where it has them)."""

from __future__ import annotations

from makerwatch.core.figures import FIGURES
from makerwatch.core.site_config import Language
from makerwatch.core.vocabulary import TERMS

__all__ = ["TEXTS"]

TEXTS: dict[str, dict[Language, str]] = {
    # The figures' names, from the figures table (the sponsor dashboard's stats read them there).
    **{figure.key: figure.names for figure in FIGURES},
    "floor": {"en": "Makerwatch: the floor", "ru": "Makerwatch: оборудование", "kk": "Makerwatch: жабдық"},
    "sponsors": {"en": "Makerwatch: machine use", "ru": "Makerwatch: использование оборудования", "kk": "Makerwatch: жабдықтың пайдаланылуы"},
    "fleet": {"en": "Makerwatch: boards and ingest", "ru": "Makerwatch: платы и приём данных", "kk": "Makerwatch: платалар мен деректер қабылдау"},
    "site": TERMS["site"],
    "kind": TERMS["kind"],
    "device": TERMS["machine"],
    "states": {"en": "State of each machine", "ru": "Состояние оборудования", "kk": "Жабдықтың күйі"},
    "now": {"en": "Each machine now", "ru": "Оборудование сейчас", "kk": "Жабдық қазір"},
    "state": {"en": "State", "ru": "Состояние", "kk": "Күйі"},
    "on_since": {"en": "On since", "ru": "Включено с", "kk": "Қосылған уақыты"},
    "power": {"en": "Power", "ru": "Мощность", "kk": "Қуат"},
    "temperature": {"en": "Temperature", "ru": "Температура", "kk": "Температура"},
    "alerts": TERMS["alerts"],
    "message": {"en": "Message", "ru": "Сообщение", "kk": "Хабар"},
    "status": {"en": "What happened", "ru": "Что произошло", "kk": "Не болды"},
    "acked_by": {"en": "Who is on it", "ru": "Кто занимается", "kk": "Кім айналысып жатыр"},
    "online": {"en": "Boards online", "ru": "Плат на связи", "kk": "Байланыстағы платалар"},
    "connected": {"en": "Connected", "ru": "На связи", "kk": "Байланыста"},
    "rssi_dbm": {"en": "Wi-Fi, dBm", "ru": "Wi-Fi, дБм", "kk": "Wi-Fi, дБм"},
    "fw": {"en": "Firmware", "ru": "Прошивка", "kk": "Микробағдарлама"},
    "seq": {"en": "Last reading no.", "ru": "№ последнего показания", "kk": "Соңғы көрсеткіш №"},
    "yes": {"en": "Yes", "ru": "Да", "kk": "Иә"},
    "no": {"en": "No", "ru": "Нет", "kk": "Жоқ"},
    # An alert's history, one row per step (the alert service's transitions).
    "fired": {"en": "Raised", "ru": "Новое оповещение", "kk": "Жаңа ескерту"},
    "repeated": {"en": "Reminder", "ru": "Напоминание", "kk": "Еске салу"},
    "acknowledged": {"en": "Being handled", "ru": "Занимаются", "kk": "Айналысып жатыр"},
    "resolved": TERMS["resolved"],
    "auto_off_sent": {"en": "Remote switch-off sent", "ru": "Удалённое отключение отправлено", "kk": "Қашықтан өшіру жіберілді"},
    "auto_off_confirmed": {"en": "Remote switch-off done", "ru": "Удалённое отключение выполнено", "kk": "Қашықтан өшіру орындалды"},
    "auto_off_unconfirmed": {"en": "Remote switch-off not confirmed", "ru": "Удалённое отключение не подтверждено", "kk": "Қашықтан өшіру расталмады"},
    "auto_off_cancelled": {"en": "Remote switch-off cancelled", "ru": "Удалённое отключение отменено", "kk": "Қашықтан өшіру тоқтатылды"},
    "health": {"en": "Boards: last status", "ru": "Платы: последнее состояние", "kk": "Платалар: соңғы күйі"},
    "per_day": {"en": "Machine-hours per day", "ru": "Машино-часы по дням", "kk": "Күндер бойынша машина-сағат"},
    "by_kind": {"en": "Machine-hours by kind", "ru": "Машино-часы по видам оборудования", "kk": "Жабдық түрлері бойынша машина-сағат"},
    "by_site": {"en": "Machine-hours by site", "ru": "Машино-часы по площадкам", "kk": "Алаңдар бойынша машина-сағат"},
    "top": {"en": "Machine-hours by machine", "ru": "Машино-часы по оборудованию", "kk": "Жабдық бойынша машина-сағат"},
    "month_before": {"en": "Machine-hours, same days a month earlier", "ru": "Машино-часы за те же дни месяцем ранее", "kk": "Бір ай бұрынғы сол күндердегі машина-сағат"},
    "more": {
        "en": "Utilisation against opening hours and the busiest hours of the week need each site's opening hours and time zone: they are in the monthly report (`makerwatch report`) and on the sponsor page (`/sponsors`).",
        "ru": "Загрузка относительно часов работы и самые загруженные часы недели требуют часов работы и часового пояса каждой площадки: они есть в ежемесячном отчёте (`makerwatch report`) и на странице для спонсоров (`/sponsors`).",
        "kk": "Жұмыс сағаттарына қатысты жүктеме мен аптаның ең қарқынды сағаттары әр алаңның жұмыс уақыты мен уақыт белдеуін қажет етеді: олар айлық есепте (`makerwatch report`) және демеушілер бетінде (`/sponsors`) бар.",
    },
    "data": {"en": "Data", "ru": "Данные", "kk": "Деректер"},
    "real_only": {"en": "Real only", "ru": "Только реальные", "kk": "Тек нақты"},
    "with_simulated": {"en": "With simulated", "ru": "Вместе с симуляцией", "kk": "Симуляциямен бірге"},
    "last_seen": {"en": "Last reading of each board", "ru": "Последнее показание каждой платы", "kk": "Әр платаның соңғы көрсеткіші"},
    "signal": {"en": "Wi-Fi signal", "ru": "Сигнал Wi-Fi", "kk": "Wi-Fi сигналы"},
    "firmware": {"en": "Firmware versions", "ru": "Версии прошивки", "kk": "Микробағдарлама нұсқалары"},
    "stored": {"en": "Readings stored per minute", "ru": "Сохранено показаний в минуту", "kk": "Минутына сақталған көрсеткіштер"},
    "received": {"en": "Messages received per second (Prometheus)", "ru": "Сообщений в секунду (Prometheus)", "kk": "Секундына хабарлар (Prometheus)"},
    "dead_letters": {"en": "Refused messages per second, by reason (Prometheus)", "ru": "Отклонённые сообщения в секунду по причинам (Prometheus)", "kk": "Себебі бойынша секундына қабылданбаған хабарлар (Prometheus)"},
    "spool": {"en": "Spool waiting for InfluxDB (Prometheus)", "ru": "Очередь на диске для InfluxDB (Prometheus)", "kk": "InfluxDB күтіп тұрған дискідегі кезек (Prometheus)"},
    "write_latency": {"en": "InfluxDB write time (Prometheus)", "ru": "Время записи в InfluxDB (Prometheus)", "kk": "InfluxDB-ге жазу уақыты (Prometheus)"},
    "in_the_report": {
        "en": "Utilisation against opening hours and the busiest hours of the week are in the monthly report and on the sponsor page. Days and months here are in the site's time zone, as in the report.",
        "ru": "Загрузка относительно часов работы и самые загруженные часы недели есть в ежемесячном отчёте и на странице для спонсоров. Дни и месяцы здесь указаны по часовому поясу площадки, как в отчёте.",
        "kk": "Жұмыс сағаттарына қатысты жүктеме мен аптаның ең қарқынды сағаттары айлық есепте және демеушілер бетінде бар. Мұндағы күндер мен айлар есептегідей алаңның уақыт белдеуімен көрсетілген.",
    },
}  # fmt: skip
