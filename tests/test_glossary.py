"""One word for each thing: every surface that speaks to staff and sponsors (the floor
board, the alert messages, the staff chat, the Grafana dashboards, the report's texts)
rendered in Kazakh, Russian and English, each glossary term found there in its one
form, and the words the glossary replaced found nowhere."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path

import pytest

from makerwatch.alerts.telegram import BUTTONS, REPLIES
from makerwatch.alerts.texts import STATE_WORDS, TEMPLATES, WAS_WORDS, message
from makerwatch.api.board_texts import page_texts
from makerwatch.core.figures import by_key
from makerwatch.core.site_config import Language, load_site_config
from makerwatch.core.statistics import (
    Figures,
    MachineFigures,
    SiteStatistics,
    Statistics,
    period_of,
)
from makerwatch.core.time_words import FOR_WORDS, ON_SINCE_WORDS
from makerwatch.core.vocabulary import (
    DURATION_UNITS,
    NUMBER_SEPARATORS,
    REJECTED_WORDS,
    STATE_NAMES,
    TERMS,
)
from makerwatch.dashboards.build import every_dashboard
from makerwatch.report import document
from makerwatch.report.texts import TEXTS as REPORT_TEXTS
from makerwatch.report.texts import Words

LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")
WHO = "Айгерім"
SITE = "Makerspace Aktobe"


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def board(language: Language) -> dict[str, object]:
    texts: dict[str, object] = page_texts()[language]
    return texts


def alerts(language: Language) -> dict[str, str]:
    """Every alert message, rendered as the alert service renders it (without the
    acknowledge-with-a-token footer, which is on its way out of the messages)."""
    return {
        key: message(key, language, name="Паяльная станция 1", site=SITE, since="19:15",
                     seconds=8100, temp_c=470, who=WHO, on_at="18:00", closed_at="21:00",
                     late_s=1800, auto_off_at="22:00")
        for key in TEMPLATES
    }  # fmt: skip


def chat(language: Language) -> list[str]:
    return [
        *(b[language] for b in BUTTONS.values()),
        *(r[language].format(who=WHO) for r in REPLIES.values()),
        *(w[language] for w in STATE_WORDS.values()),
        ON_SINCE_WORDS[language],
        FOR_WORDS[language],
        WAS_WORDS[language],
    ]


def dashboards(language: Language) -> dict[str, dict[str, object]]:
    return {
        name.removesuffix(f"-{language}.json"): model
        for name, model in every_dashboard(
            [load_site_config(Path("makerwatch/core/makerspace.example.yaml"))]
        ).items()
        if name.endswith(f"-{language}.json")
    }


def report(language: Language) -> list[str]:
    """The report's words and the dates and changes its pages print."""
    words = Words(language)
    return [
        *(texts[language] for texts in REPORT_TEXTS.values()),
        words.day(date(2026, 12, 7)),
        words.month(date(2026, 11, 1)),
        words.text("generated", date=words.day(date(2026, 12, 7))),
        words.points_change(0.3, 0.1, words.month(date(2026, 10, 1))),
    ]


def report_page(language: Language) -> str:
    """The report's page as a sponsor reads it (also /sponsors), for the example site's
    first machine in November 2026: utilisation up from 10 % to 30 %."""
    config = load_site_config(Path("makerwatch/core/makerspace.example.yaml"))
    period = period_of("2026-11", config.site.timezone)
    device = config.devices[0]
    now = Figures(machine_hours=1975.2, on_hours=2400.5, sessions=1500, energy_kwh=1234.5,
                  open_hours=6584.0, machines=1)  # fmt: skip
    before = Figures(machine_hours=658.4, on_hours=900.0, sessions=700, energy_kwh=600.0,
                     open_hours=6584.0, machines=1)  # fmt: skip
    machine = MachineFigures(
        config.site.id, device.id, device.kind, device.default_name, now, 20, 0
    )
    site = SiteStatistics(config=config, period=period, now_ms=1_800_000_000_000,
                          machines=[machine], busiest_hours=[[1.5] * 24 for _ in range(7)],
                          daily_hours={period.first: 1975.2}, previous=before)  # fmt: skip
    page = document.html(Statistics([site], "2026-11", 1_796_000_000_000), language)
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|svg).*?</\1>", " ", page, flags=re.S))
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(text))  # no-break spaces kept


def everything(language: Language) -> str:
    return "\n".join([
        report_page(language),
        json.dumps(board(language), ensure_ascii=False),
        *alerts(language).values(),
        *chat(language),
        json.dumps(dashboards(language), ensure_ascii=False),
        *report(language),
    ])  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_surface_says_a_word_the_glossary_replaced(language: Language) -> None:
    """Test that no rendered text in a language holds a word the glossary rejected there
    (another name for a glossary thing, a literal translation, a misleading word)."""
    text = everything(language)
    found = [word for word in REJECTED_WORDS[language] if word in text]
    assert found == [], f"{language}: {found}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_board_names_each_thing_with_the_glossary_word(language: Language) -> None:
    """Test that the board's alerts heading, buttons and acknowledgement are the glossary's."""
    texts = board(language)["texts"]
    assert isinstance(texts, dict)
    assert texts["alerts"] == TERMS["alerts"][language]
    assert texts["no_alerts"] == TERMS["no_alerts"][language] + "."
    assert texts["acknowledge"] == TERMS["acknowledge"][language]
    assert texts["acknowledged_by"] == TERMS["on_it"][language]
    assert texts["switch_off"] == TERMS["switch_off"][language]
    assert texts["identify"] == TERMS["identify"][language]
    assert board(language)["states"] == {s: names[language] for s, names in STATE_NAMES.items()}
    assert board(language)["separators"] == NUMBER_SEPARATORS[language]
    errors = [key for key in texts if key.startswith("error_")]
    assert len(errors) >= 5, "each refusal the page explains has its own text"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_chat_buttons_are_the_boards_words(language: Language) -> None:
    """Test that the chat's buttons are the board's (one name for acknowledging, one for
    switching off) and that a second press names who is on it as the board does."""
    assert BUTTONS["ack"][language] == TERMS["acknowledge"][language]
    assert BUTTONS["off"][language] == TERMS["switch_off"][language]
    assert BUTTONS["snooze"][language] == TERMS["snooze"][language]
    on_it = TERMS["on_it"][language].format(who=WHO)
    assert REPLIES["already"][language].format(who=WHO) == on_it + "."


def test_the_alert_messages_use_the_glossary_words() -> None:
    """Test the acknowledgement, the idle machine, the remote switch-off and the safety
    call in each language, and that the Russian acknowledgement is gender-free with one
    parenthesis (the site's) after the name, not two side by side."""
    ru, kk, en = alerts("ru"), alerts("kk"), alerts("en")
    assert ru["acknowledged"].startswith(f"«Паяльная станция 1» ({SITE}): занимается {WHO}.")
    assert ru["acknowledged"].split("\n")[0].count("(") == 1
    assert kk["acknowledged"].startswith(f"«Паяльная станция 1» ({SITE}): {WHO} айналысып жатыр.")
    assert en["acknowledged"].startswith(f"{WHO} is on it")
    for language, texts in (("ru", ru), ("kk", kk), ("en", en)):
        assert STATE_WORDS["idle"][language] in texts["left_on/idle"], language  # type: ignore[index]
        remote = lower_first(TERMS["remote_switch_off"][language])  # type: ignore[index]
        assert remote in texts["auto_off_unconfirmed"].lower(), language
    assert "бос тұр" in kk["left_on/idle"]
    assert "Барып тексеріңіз" in kk["auto_off_unconfirmed"]
    assert "снова в норме" in ru["resolved"]
    assert "қалпына келді" in kk["resolved"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_grafana_speaks_the_dashboards_language(language: Language) -> None:
    """Test that machine-hours are hours in the language's own unit (never Grafana's `h`,
    which rescales to weeks), that tables name their columns and the alert steps in the
    language, and that alerts, sites, kinds and machines carry the glossary's words."""
    models = dashboards(language)
    hour = DURATION_UNITS[language][1]
    sponsors = json.dumps(models["sponsors"], ensure_ascii=False)
    assert '"unit": "h"' not in sponsors
    hours = (by_key("machine_hours").names[language], by_key("on_hours").names[language])
    hour_units = [
        p["fieldConfig"]["defaults"].get("unit")
        for p in models["sponsors"]["panels"]  # type: ignore[attr-defined]
        if p["title"] in hours or p["type"] in ("timeseries", "bargauge")
    ]
    assert len(hour_units) == 5, "two headline figures, per day, by kind, by site"
    assert set(hour_units) == {f"suffix:{hour}"}
    floor = json.dumps(models["floor"], ensure_ascii=False)
    for term in ("alerts", "site", "kind", "machine"):
        assert f'"{TERMS[term][language]}"' in floor, term
    for state in ("off", "idle", "active"):
        assert f'"text": "{STATE_NAMES[state][language]}"' in floor
    assert f'"text": "{TERMS["resolved"][language]}"' in floor
    displayed = set(re.findall(r'"id": "displayName", "value": "([^"]+)"', floor + sponsors))
    assert displayed, "tables name their columns"
    if language != "en":
        english = {"Message", "Firmware", "Machine", "Site", "Connected", "Machine-hours"}
        assert not displayed & english


@pytest.mark.parametrize(
    ("language", "day", "month", "generated", "change"),
    [
        ("kk", "2026 жылғы 7 желтоқсан", "2026 жылғы қараша",
         "Дайындаған: Makerwatch, 2026 жылғы 7 желтоқсан.",
         "«2026 жылғы қазан» кезеңіне қарағанда +20 пайыздық тармақ"),
        ("ru", "7 декабря 2026 г.", "ноябрь 2026", "Подготовлено Makerwatch 7 декабря 2026 г.",
         "+20 п. п. к периоду «октябрь 2026»"),
        ("en", "7 December 2026", "November 2026", "Made by Makerwatch on 7 December 2026.",
         "+20 pp on October 2026"),
    ],
)  # fmt: skip
def test_the_report_writes_dates_and_utilisation_changes_as_each_language_does(
    language: Language, day: str, month: str, generated: str, change: str
) -> None:
    """Test Kazakh dates in Kazakh order, and utilisation from 10 % to 30 % as +20 points
    (not a relative +200 %)."""
    words = Words(language)
    assert words.day(date(2026, 12, 7)) == day
    assert words.month(date(2026, 11, 1)) == month
    assert words.text("generated", date=words.day(date(2026, 12, 7))) == generated
    assert words.points_change(0.3, 0.1, words.month(date(2026, 10, 1))) == change
    assert words.text("utilisation") == TERMS["utilisation"][language]
    assert (
        words.number(1975.2)
        == {"kk": "1\u00a0975,2", "ru": "1\u00a0975,2", "en": "1,975.2"}[language]
    )


@pytest.mark.parametrize(
    ("language", "utilisation", "month"),
    [("kk", "Жүктеме «2026 жылғы қазан» кезеңіне қарағанда +20 пайыздық тармақ", "2026 жылғы қараша"),
     ("ru", "Загрузка +20 п. п. к периоду «октябрь 2026»", "ноябрь 2026"),
     ("en", "Utilisation +20 pp on October 2026", "November 2026")],
)  # fmt: skip
def test_the_report_page_shows_utilisation_in_points_and_the_languages_dates(
    language: Language, utilisation: str, month: str
) -> None:
    """Test the rendered report: the change in utilisation in points beside its label,
    the period in the language's date order, and numbers with its separators."""
    page = report_page(language)
    assert utilisation in page
    assert month in page
    assert {"kk": "1\u00a0975,2", "ru": "1\u00a0975,2", "en": "1,975.2"}[language] in page


def test_the_heatmap_axis_and_added_machines_read_as_meant() -> None:
    """Test the Russian heat map's axis (time of day, not "1 p.m.") and the Kazakh
    "installed during the period" (not "switched on")."""
    assert REPORT_TEXTS["hour"]["ru"] == "Время суток, ч"
    assert REPORT_TEXTS["added"]["kk"].startswith("Кезең ішінде орнатылған")
    assert "оборудован" in REPORT_TEXTS["methods"]["ru"]


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_a_sections_heading_and_its_button_say_different_words(language: Language) -> None:
    """Test that a section's heading (the thing: "Calibration") and its button (the act:
    "Calibrate") never read the same, as the machine page's calibration once did in Kazakh."""
    texts: dict[str, str] = board(language)["texts"]  # type: ignore[assignment]
    pairs = [(key.removesuffix("_button"), key) for key in texts if key.endswith("_button")]
    assert ("calibrate", "calibrate_button") in pairs
    for heading, button in pairs:
        if heading in texts:
            assert texts[heading] != texts[button], (heading, texts[heading])
