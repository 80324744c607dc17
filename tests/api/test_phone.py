"""The floor board on a staff member's phone (390x844) in Debian's Chromium against the
real broker, ingest and InfluxDB: the filter (all / on / with alerts)."""

from __future__ import annotations

import json
import re
import time

from playwright.async_api import expect

from tests.api.test_board import AXE, Board, board, reading, tile  # noqa: F401
from tests.support import publish

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


async def test_the_filter_shows_all_machines_those_on_or_those_with_alerts(
    board: Board,  # noqa: F811
) -> None:
    """Test that on a phone "On" leaves the machines switched on, "With alerts" those
    with an active alert, "All" every one, following live changes, with the pressed
    choice announced, no sideways scroll, and no serious accessibility violation."""
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), json.dumps({"v": 1, "ts": time.time() - 60, "state": "active"})),
        (board.topic("solder-1", "telemetry"), reading(1, 48.0, 480.0)),
        (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time() - 600, "state": "off"})),
    ])  # fmt: skip
    page = await board.page("/?lang=en", **PHONE)
    solder, printer = tile(page, "solder-1"), tile(page, "printer-1")
    await expect(page.locator("#alert-list li[data-alert]")).to_have_count(1)
    await page.get_by_role("button", name="On", exact=True).click()
    await expect(page.get_by_role("button", name="On", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(solder).to_be_visible()
    await expect(printer).to_be_hidden()
    await publish(board.config.mqtt.port, [
        (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time(), "state": "idle", "previous": "off"})),
    ])  # fmt: skip
    await expect(printer).to_have_class(re.compile(r"\bidle\b"))
    await expect(printer).to_be_visible()
    await page.get_by_role("button", name="With alerts").click()
    await expect(solder).to_be_visible()
    await expect(printer).to_be_hidden()
    await page.get_by_role("button", name="All").click()
    await expect(printer).to_be_visible()
    await page.select_option("#language", "kk")
    await expect(page.locator('#filter button[data-filter="alerts"]')).to_have_text(
        "Ескертуі барлар"
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    assert page.errors == []  # type: ignore[attr-defined]
