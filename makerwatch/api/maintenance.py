"""A machine's maintenance over HTTP, for the machine page and the staff phone page:

GET  /machines/{device}/maintenance              its tasks: use since each was last
                                                 done, whether due, by whom and when
POST /machines/{device}/maintenance/{task}/done  record it done (a staff token: the
                                                 person it names is who did it)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from typing import Any, Protocol

from aiohttp import web

from makerwatch.core.figures import by_key
from makerwatch.core.site_config import LANGUAGES, Language
from makerwatch.core.vocabulary import TERMS

__all__ = ["MAINTENANCE_WORDS", "MaintenanceService", "routes"]

STATIC = files("makerwatch.api") / "static"

# Use since it was done of the task's interval; the glossary's words where it has them.
MAINTENANCE_WORDS: dict[str, dict[Language, str]] = {
    "every_active_h": {lang: f"{name}: {{used}} / {{every}}" for lang, name in by_key("machine_hours").names.items()},
    "every_on_h": {lang: f"{name}: {{used}} / {{every}}" for lang, name in by_key("on_hours").names.items()},
    "every_days": {"en": "Days: {used} / {every}", "ru": "Дни: {used} / {every}", "kk": "Күндер: {used} / {every}"},
    "due": {"en": "due", "ru": "пора выполнить", "kk": "орындау уақыты келді"},
    "never_done": {"en": "never done", "ru": "ещё не выполнялось", "kk": "әлі орындалмаған"},
    "last_done": {"en": "last done {when} ({who})", "ru": "последний раз: {when} ({who})",
                  "kk": "соңғы рет: {when} ({who})"},
    "done": TERMS["maintenance_done"],
    "recorded": {"en": "Recorded.", "ru": "Записано.", "kk": "Жазылды."},
    "not_recorded": {"en": "Not recorded: sign in as staff again.",
                     "ru": "Не записано: войдите как сотрудник ещё раз.",
                     "kk": "Жазылмады: қызметкер ретінде қайта кіріңіз."},
}  # fmt: skip
_WORDS = {
    language: {key: words[language] for key, words in MAINTENANCE_WORDS.items()}
    for language in LANGUAGES
}


class MaintenanceService(Protocol):
    def maintenance(self, device_id: str) -> list[dict[str, Any]]:
        """The device's tasks; KeyError for a device not in the site file."""
        ...

    async def maintenance_done(self, device_id: str, task: str, by: str) -> list[dict[str, Any]]:
        """Record the task done; its tasks after. KeyError (saying what) for no such task."""
        ...


def routes(
    service: MaintenanceService,
    staff: Callable[[web.Request], str | web.Response],
    error: Callable[..., web.Response],
) -> list[web.RouteDef]:
    def answer(device: str, tasks: list[dict[str, Any]]) -> web.Response:
        body = {"device": device, "tasks": tasks, "words": _WORDS}
        return web.json_response(body, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def tasks(request: web.Request) -> web.Response:
        device = request.match_info["device"]
        try:
            return answer(device, service.maintenance(device))
        except KeyError:
            return error(404, f"no device {device!r}")

    async def done(request: web.Request) -> web.Response:
        by = staff(request)
        if isinstance(by, web.Response):
            return by
        device, task = request.match_info["device"], request.match_info["task"]
        try:
            return answer(device, await service.maintenance_done(device, task, by))
        except KeyError as exc:
            return error(404, str(exc.args[0]) if exc.args else f"no task {task!r}")

    async def script(request: web.Request) -> web.Response:
        return web.Response(
            text=(STATIC / "maintenance.js").read_text(encoding="utf-8"),
            content_type="application/javascript", charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )  # fmt: skip

    return [
        web.get("/maintenance.js", script),
        web.get("/machines/{device}/maintenance", tasks),
        web.post("/machines/{device}/maintenance/{task}/done", done),
    ]
