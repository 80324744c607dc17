"""What sponsors read, in English, Russian and Kazakh, and numbers and dates as each
language writes them (Babel's CLDR data: 1,234.5 / 1 234,5; «ноябрь 2026»), with
Kazakh dates in the order Kazakh writes them («2026 жылғы қараша», which CLDR lacks)."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from makerwatch.core.figures import FIGURES
from makerwatch.core.site_config import Language, MachineKind
from makerwatch.core.vocabulary import TERMS

__all__ = ["KIND_SINGULAR", "TEXTS", "Words"]

# One machine's kind, on its own row (the plural KIND_NAMES head groups of machines).
KIND_SINGULAR: dict[MachineKind, dict[Language, str]] = {
    MachineKind.SOLDERING_STATION: {
        "en": "Soldering station",
        "ru": "Паяльная станция",
        "kk": "Дәнекерлеу станциясы",
    },
    MachineKind.PRINTER_3D: {"en": "3D printer", "ru": "3D-принтер", "kk": "3D-принтер"},
    MachineKind.LASER_CUTTER: {
        "en": "Laser cutter",
        "ru": "Лазерный станок",
        "kk": "Лазерлік кескіш станок",
    },
    MachineKind.CNC_ROUTER: {
        "en": "CNC router",
        "ru": "Фрезерный станок с ЧПУ",
        "kk": "CNC фрезерлік станок",
    },
    MachineKind.VINYL_CUTTER: {
        "en": "Vinyl cutter",
        "ru": "Режущий плоттер",
        "kk": "Винил кескіш плоттер",
    },
    MachineKind.SEWING_MACHINE: {
        "en": "Sewing machine",
        "ru": "Швейная машина",
        "kk": "Тігін машинасы",
    },
    MachineKind.OTHER: {"en": "Other", "ru": "Другое", "kk": "Басқа"},
}

# key -> language -> text. Fields in braces are filled in by Words.text. A Russian
# sentence ending on a {date} has no full stop of its own: the date ends with «г.».
TEXTS: dict[str, dict[Language, str]] = {
    # The figures' names, from the figures table (a document reads them there too).
    **{figure.key: figure.names for figure in FIGURES},
    "title": {
        "en": "Machine use at {name}",
        "ru": "Использование оборудования: {name}",
        "kk": "{name}: жабдықтың пайдаланылуы",
    },
    "network_name": {
        "en": "the makerspace network",
        "ru": "сеть мейкерспейсов",
        "kk": "мейкерспейстер желісі",
    },
    "partial": {
        "en": "The period is not over yet: figures up to {date}.",
        "ru": "Период ещё не закончился: данные по {date}",
        "kk": "Кезең әлі аяқталған жоқ: деректер {date} бойынша.",
    },
    "points": {"en": "{value} pp", "ru": "{value} п. п.", "kk": "{value} пайыздық тармақ"},
    "days_used": {
        "en": "Days with use",
        "ru": "Дни с работой оборудования",
        "kk": "Жабдық қолданылған күндер",
    },
    "change": {
        "en": "{change} on {previous}",
        "ru": "{change} к периоду «{previous}»",
        "kk": "«{previous}» кезеңіне қарағанда {change}",
    },
    "no_base": {
        "en": "No change is shown: there is no full {previous} to compare with.",
        "ru": "Изменения не показаны: нет полных данных за «{previous}» для сравнения.",
        "kk": "Өзгеріс көрсетілмейді: салыстыру үшін «{previous}» бойынша толық дерек жоқ.",
    },
    "part_week": {
        "en": "Part of a week: only the days shown",
        "ru": "Неполная неделя: только указанные дни",
        "kk": "Толық емес апта: тек көрсетілген күндер",
    },
    "weekly": {
        "en": "Machine-hours per week",
        "ru": "Машино-часы по неделям",
        "kk": "Апталар бойынша машина-сағат",
    },
    "week_of": {"en": "week of {date}", "ru": "неделя с {date}", "kk": "{date} басталған апта"},
    "by_kind": {
        "en": "By kind of machine",
        "ru": "По видам оборудования",
        "kk": "Жабдық түрлері бойынша",
    },
    "busiest": {
        "en": "Busiest hours (machine-hours, local time)",
        "ru": "Самые загруженные часы (машино-часы, местное время)",
        "kk": "Ең қарқынды сағаттар (машина-сағат, жергілікті уақыт)",
    },
    "hour": {"en": "Time of day, h", "ru": "Время суток, ч", "kk": "Тәулік уақыты, сағ"},
    "by_site": {"en": "Sites compared", "ru": "Сравнение площадок", "kk": "Алаңдарды салыстыру"},
    "top": {
        "en": "Most used machines",
        "ru": "Самое востребованное оборудование",
        "kk": "Ең көп қолданылған жабдық",
    },
    "machine": TERMS["machine"],
    "kind": TERMS["kind"],
    "site": TERMS["site"],
    "added": {
        "en": "Added during the period, counted from their first reading: {names}.",
        "ru": "Добавлено за период, учтено с первого показания: {names}.",
        "kk": "Кезең ішінде орнатылған, алғашқы көрсеткіштен бастап есептелді: {names}.",
    },
    "simulated": {
        "en": "Includes simulated data: not for sponsors.",
        "ru": "Включает данные симуляции: не для спонсоров.",
        "kk": "Симуляция деректері қосылған: демеушілерге арналмаған.",
    },
    "nothing": {
        "en": "No machine use was recorded in this period.",
        "ru": "За этот период работа оборудования не зафиксирована.",
        "kk": "Бұл кезеңде жабдықтың жұмысы тіркелмеді.",
    },
    "methods_title": {
        "en": "How these figures are measured",
        "ru": "Как получены эти показатели",
        "kk": "Бұл көрсеткіштер қалай алынды",
    },
    "methods": {
        "en": (
            "A sensor board on each machine measures its power draw every few seconds. "
            "A machine-hour is an hour in which a machine did work; hours it stood switched "
            "on but idle are counted apart. A session runs from switching on to switching "
            "off. Utilisation is machine-hours as a share of the opening hours, counted for "
            "each machine from its first reading. Days and hours are in each site's local "
            "time; a session running past midnight is split between the days."
        ),
        "ru": (
            "На каждой единице оборудования датчик каждые несколько секунд измеряет потребляемую мощность. "
            "Машино-час — час, в течение которого оборудование выполняло работу; время, когда "
            "оно было включено, но простаивало, считается отдельно. Сеанс длится от включения "
            "до выключения. Загрузка — доля машино-часов от часов работы площадки, для каждого "
            "единицы оборудования с её первого показания. Дни и часы указаны по местному времени площадки; "
            "сеанс, переходящий через полночь, делится между днями."
        ),
        "kk": (
            "Әр жабдықтағы датчик бірнеше секунд сайын тұтынылатын қуатты өлшейді. "
            "Машина-сағат — жабдық жұмыс істеген сағат; ол қосулы, бірақ бос тұрған уақыт "
            "бөлек есептеледі. Сеанс қосылғаннан бастап өшірілгенге дейін созылады. "
            "Жүктеме — машина-сағаттың алаңның жұмыс сағаттарындағы үлесі, әр жабдық үшін "
            "оның алғашқы көрсеткішінен бастап есептеледі. Күндер мен сағаттар әр алаңның "
            "жергілікті уақытымен көрсетілген; түн ортасынан асқан сеанс күндерге бөлінеді."
        ),
    },
    "generated": {
        "en": "Made by Makerwatch on {date}.",
        "ru": "Подготовлено Makerwatch {date}",
        "kk": "Дайындаған: Makerwatch, {date}.",
    },
    "this_site": {"en": "This site", "ru": "Эта площадка", "kk": "Осы алаң"},
    "network": {"en": "The network", "ru": "Вся сеть", "kk": "Бүкіл желі"},
    "earlier": {"en": "Earlier", "ru": "Раньше", "kk": "Бұрынғы"},
    "later": {"en": "Later", "ru": "Позже", "kk": "Кейінгі"},
    "download": {
        "en": "Download this period:",
        "ru": "Скачать за этот период:",
        "kk": "Осы кезеңді жүктеп алу:",
    },
    "bad_period": {
        "en": "“{period}” is not a period the report can show: give a month such as {example}.",
        "ru": "«{period}» — не период, за который можно показать отчёт: укажите месяц, например {example}.",
        "kk": "«{period}» — есеп көрсетілетін кезең емес: айды көрсетіңіз, мысалы {example}.",
    },
    "bad_request": {
        "en": "This address asks for something the page does not have.",
        "ru": "По этой ссылке запрошено то, чего на странице нет.",
        "kk": "Бұл сілтеме бетте жоқ нәрсені сұрайды.",
    },
    "unreachable": {
        "en": "The figures cannot be read just now. Please try again in a few minutes.",
        "ru": "Сейчас данные недоступны. Попробуйте ещё раз через несколько минут.",
        "kk": "Қазір деректер қолжетімсіз. Бірнеше минуттан кейін қайталап көріңіз.",
    },
    "mail_subject": {
        "en": "{name}: machine use in {period}",
        "ru": "{name}: использование оборудования, {period}",
        "kk": "{name}: жабдықтың пайдаланылуы, {period}",
    },
    "mail_body": {
        "en": "Hello,\n\nthe report on machine use at {name} for {period} is attached (PDF).\n\n{name}",
        "ru": "Здравствуйте!\n\nВо вложении отчёт об использовании оборудования ({name}) за период «{period}» (PDF).\n\n{name}",
        "kk": "Сәлеметсіз бе!\n\n{name}: «{period}» кезеңіндегі жабдықтың пайдаланылуы туралы есеп тіркелген (PDF).\n\n{name}",
    },
    "this_month": {
        "en": "Show this month",
        "ru": "Показать текущий месяц",
        "kk": "Ағымдағы айды көрсету",
    },
}


class Words:
    """Texts, numbers and dates in one language."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def text(self, key: str, **fields: object) -> str:
        return TEXTS[key][self.language].format(**fields)

    def number(self, value: float, decimals: int = 1) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, pattern, locale=self.language)

    def percent(self, share: float | None) -> str:
        return "–" if share is None else format_percent(share, locale=self.language)

    def change(self, share: float | None, previous_label: str) -> str:
        """'+12% on October 2026', or nothing without a base (one note says so)."""
        if share is None:
            return ""
        signed = ("+" if share >= 0 else "−") + format_percent(abs(share), locale=self.language)
        return self.text("change", change=signed, previous=previous_label)

    def points_change(self, now: float | None, before: float | None, previous_label: str) -> str:
        """A share's change as the difference in percentage points ('+20 pp on October
        2026' from 10 % to 30 %): a relative change of a percentage reads as this anyway."""
        if now is None or before is None:
            return ""  # without a base: one note under the figures says so
        points = round((now - before) * 100)
        signed = ("+" if points >= 0 else "−") + self.number(abs(points), 0)
        value = self.text("points", value=signed)
        return self.text("change", change=value, previous=previous_label)

    def month(self, day: date) -> str:
        """«ноябрь 2026», «November 2026», «2026 жылғы қараша»."""
        if self.language == "kk":
            return f"{day.year} жылғы {format_date(day, 'LLLL', locale='kk').lower()}"
        return format_date(day, "LLLL y", locale=self.language)

    def day(self, day: date) -> str:
        """«7 декабря 2026 г.», «7 December 2026», «2026 жылғы 7 желтоқсан»."""
        if self.language == "kk":
            return f"{day.year} жылғы {format_date(day, 'd MMMM', locale='kk')}"
        if self.language == "ru":
            return format_date(day, "d MMMM y", locale="ru") + " г."
        return format_date(day, "d MMMM y", locale=self.language)

    def short_day(self, day: date) -> str:
        return format_date(day, "d MMM", locale=self.language)

    def days(self, first: date, last: date) -> str:
        """'7–8 Nov', '26 Oct – 1 Nov', or one day."""
        if first == last:
            return self.short_day(first)
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{self.short_day(last)}"
        return f"{self.short_day(first)} – {self.short_day(last)}"

    def kind(self, kind: str) -> str:
        """One machine's kind."""
        try:
            return KIND_SINGULAR[MachineKind(kind)][self.language]
        except ValueError:
            return KIND_SINGULAR[MachineKind.OTHER][self.language]

    def weekdays(self) -> list[str]:
        return [
            format_date(date(2024, 1, 1 + i), "EEE", locale=self.language) for i in range(7)
        ]  # 1 Jan 2024: a Monday
