"""The report's appendix for staff (`makerwatch report --staff`), never in a sponsor's
copy: the maintenance recorded done in the period (docs/maintenance.md). It is added
after the report's last section; the report itself is unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from makerwatch.core.site_config import Language
from makerwatch.core.vocabulary import TERMS

__all__ = ["STAFF_TEXTS", "MaintenanceDone", "with_staff_appendix"]

STAFF_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "For staff: maintenance", "ru": "Для сотрудников: обслуживание",
              "kk": "Қызметкерлерге: техникалық қызмет көрсету"},
    "note": {"en": "Not for sponsors. The maintenance tasks recorded done in this period.",
             "ru": "Не для спонсоров. Задачи обслуживания, отмеченные выполненными за этот период.",
             "kk": "Демеушілерге арналмаған. Осы кезеңде орындалды деп белгіленген техникалық қызмет көрсету тапсырмалары."},
    "when": {"en": "Done on", "ru": "Когда выполнено", "kk": "Орындалған уақыты"},
    "task": {"en": "Task", "ru": "Задача", "kk": "Тапсырма"},
    "by": {"en": "Done by", "ru": "Кто выполнил", "kk": "Кім орындады"},
    "nothing": {"en": "No maintenance was recorded done in this period.",
                "ru": "За этот период обслуживание не отмечалось.",
                "kk": "Бұл кезеңде техникалық қызмет көрсету белгіленбеді."},
}  # fmt: skip

_templates = Environment(
    loader=PackageLoader("makerwatch.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)


@dataclass(frozen=True)
class MaintenanceDone:
    """One task recorded done: when (ms), the machine's and the task's names in the
    report's language, and who did it."""

    at_ms: int
    machine: str
    task: str
    by: str


def with_staff_appendix(
    page: str, done: list[MaintenanceDone], language: Language, timezone: str
) -> str:
    """The report's HTML with the staff appendix after its last section."""
    zone = ZoneInfo(timezone)
    rows = [
        {"when": f"{datetime.fromtimestamp(d.at_ms / 1000, zone):%Y-%m-%d %H:%M}",
         "machine": d.machine, "task": d.task, "by": d.by}
        for d in done
    ]  # fmt: skip
    texts = {key: text[language] for key, text in STAFF_TEXTS.items()}
    labels = {**texts, "machine": TERMS["machine"][language]}
    section = _templates.get_template("staff_appendix.html.j2").render(
        title=texts["title"], note=texts["note"], nothing=texts["nothing"], labels=labels, rows=rows
    )
    head, body_end, tail = page.rpartition("</body>")
    return f"{head}{section}\n{body_end}{tail}" if body_end else page + section
