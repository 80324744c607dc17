"""The members' page in Debian's Chromium on a phone, against the real broker, ingest
and InfluxDB: free, in use since when, or no news, in kk, ru and en; read-only, with
no person's name; accessible; no horizontal scroll."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from makerwatch.api.members import MEMBER_TEXTS
from tests.api.test_board import AXE, STAFF, TOKEN, Board, board, reading, tile  # noqa: F401
from tests.support import publish, wait_until

PICTURES = os.environ.get("MAKERWATCH_DOC_PICTURES")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


async def test_members_see_what_is_free_and_nothing_else(board: Board) -> None:  # noqa: F811
    """Test that a member's phone shows each machine free, in use since its switch-on
    (site time) or without news, in each language; that the page offers nothing to do
    (no button, field or script; its only links change the language), names no person
    even when staff acknowledged an alert, does not scroll sideways, and has no serious
    accessibility violation."""
    zone = ZoneInfo(board.config.site.timezone)
    switched_on = time.time() - 3600
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), json.dumps(
            {"v": 1, "ts": time.time() - 60, "state": "active", "previous": "idle", "on_since": switched_on})),
        (board.topic("solder-1", "telemetry"), reading(1, 48.0, 480.0)),
        (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time() - 600, "state": "off"})),
    ])  # fmt: skip
    async with httpx.AsyncClient(base_url=board.url) as http:

        async def alert_fired() -> bool:
            return bool((await http.get("/alerts")).json()["alerts"])

        await wait_until(alert_fired, "the over-temperature alert")
        ack = await http.post("/alerts/over_temperature-solder-1/ack",
                              headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert ack.status_code == 200
    at = datetime.fromtimestamp(switched_on, zone).strftime("%H:%M")
    page = await board.page("/members?lang=en", **PHONE)
    for language in ("kk", "ru", "en"):
        await page.goto(f"{board.url}/members?lang={language}")
        solder = page.locator("li", has_text=board.config.devices[0].name_in(language))
        await expect(solder).to_contain_text(MEMBER_TEXTS["in_use"][language].format(at=at))
        printer = page.locator("li", has_text=board.config.devices[1].name_in(language))
        await expect(printer).to_contain_text(MEMBER_TEXTS["free"][language])
        assert await page.evaluate("document.documentElement.lang") == language
        body = await page.locator("body").inner_text()
        assert STAFF not in body
        assert STAFF.split()[0] not in await page.content()
        for control in ("button", "input", "select", "textarea", "form", "script"):
            assert await page.locator(control).count() == 0, control
        links = await page.locator("a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert all(href.startswith("?lang=") for href in links), links
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{language}: {width} px wide"
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (language, serious)
        if PICTURES and language == "kk":
            await page.screenshot(path=str(Path(PICTURES) / "board-members.png"))
    assert page.errors == []  # type: ignore[attr-defined]
