"""The members' page (`/members`): which machines are free, in use (since when) or
without news, for a member deciding whether to come in. Public and read-only: no
actions, no script, no person's name (who acknowledged an alert, who is on staff),
only each machine's name and state; one small HTML page, fast on a cheap phone and
safe to link from a QR sticker on the door. It does not reload itself (a timed
refresh moves the page under a reader, WCAG 2.2.1): it says what time it shows."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.site_config import LANGUAGES, Language

__all__ = ["MEMBER_TEXTS", "members_page"]

MEMBER_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "{site}: machines now", "ru": "{site}: оборудование сейчас", "kk": "{site}: жабдық қазір"},
    "free": {"en": "Free", "ru": "Свободно", "kk": "Бос"},
    "in_use": {"en": "In use since {at}", "ru": "Занято с {at}", "kk": "{at} бастап бос емес"},
    "unknown": {"en": "No news: ask the staff", "ru": "Нет данных: спросите у сотрудников",
                "kk": "Дерек жоқ: қызметкерлерден сұраңыз"},
    "updated": {"en": "As of {at}. Reload the page to see the latest.",
                "ru": "Данные на {at}. Обновите страницу, чтобы увидеть последние.",
                "kk": "{at} жағдайы бойынша. Соңғысын көру үшін бетті жаңартыңыз."},
}  # fmt: skip
# The member's question is "can I use it?": a machine switched on is taken, whether
# it draws power now (in use) or waits (idle); no signal is no news, not a guess.
ANSWERS = {"off": "free", "idle": "in_use", "active": "in_use"}

STYLE = """body{margin:0;font-family:"DejaVu Sans","Noto Sans",Arial,sans-serif;background:#f4f5f7;color:#1f2933}
header{background:#1f2933;color:#fff;padding:.6rem 1rem}h1{font-size:1.2rem;margin:0}
nav{margin-top:.3rem}nav a{color:#fff;margin-right:1rem}main{padding:.5rem 1rem}
h2{font-size:1rem;margin:.8rem 0 .3rem}ul{list-style:none;margin:0;padding:0}
li{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.2rem 1rem;background:#fff;
border-left:6px solid #9aa5b1;margin:.3rem 0;padding:.5rem .7rem;overflow-wrap:anywhere}
li.free{border-left-color:#1c7c3c}li.free b{color:#14632f}li.in_use{border-left-color:#b7791f}
li.in_use b{color:#7a4d0b}li.unknown{border-left-style:dashed}p{color:#3e4c59;font-size:.9rem}"""


def members_page(
    tiles: list[dict[str, Any]],
    layout: list[dict[str, Any]],
    site: str,
    timezone: str,
    language: Language,
    now_ms: int,
) -> str:
    """The page in `language`: the layout's groups, each machine's name and answer."""
    texts = {key: value[language] for key, value in MEMBER_TEXTS.items()}
    zone = ZoneInfo(timezone)

    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")

    by_id = {tile["device"]: tile for tile in tiles}
    sections = []
    for group in layout:
        items = []
        for device in group["devices"]:
            tile = by_id.get(device)
            if tile is None:
                continue
            answer = ANSWERS.get(tile["state"], "unknown")
            since = tile["on_since_ms"] or tile["since_ms"] or now_ms
            word = texts[answer].format(at=at(since))
            name = escape(tile["names"][language])
            items.append(f'<li class="{answer}"><span>{name}</span><b>{escape(word)}</b></li>')
        if items:
            sections.append(f"<h2>{escape(group['names'][language])}</h2><ul>{''.join(items)}</ul>")
    title = escape(texts["title"].format(site=site))
    languages = "".join(
        f'<a href="?lang={code}" lang="{code}">{code.upper()}</a>' for code in LANGUAGES
    )
    return (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="icon" href="/board/favicon.svg" type="image/svg+xml">'
        f"<style>{STYLE}</style></head><body><header><h1>{title}</h1>"
        f"<nav>{languages}</nav></header><main>{''.join(sections)}"
        f"<p>{escape(texts['updated'].format(at=at(now_ms)))}</p></main></body></html>"
    )
