"""The small "Done" control (GET /maintenance.js) in Debian's Chromium against the real
broker, ingest and InfluxDB: a task due after a backfill, shown in Russian with its use,
recorded done by the staff member whose token the board keeps."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.async_api import async_playwright, expect

from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.alerts.bot_api import BotApi
from tests.alerts.conftest import Receiver
from tests.maintenance.test_maintenance_due import (
    HOUR_S,
    STAFF_TOKEN,
    backfill,
    counted,
    site,
    tasks,
)
from tests.support import start_ingest, wait_until

CHROMIUM = "/usr/bin/chromium"


async def test_the_control_shows_the_use_and_records_a_task_done(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi,
    receiver: Receiver, tmp_path: Path,
) -> None:  # fmt: skip
    """Test the tip due (2.25 of 2 machine-hours) shown with its Russian words and a
    "Выполнено" button; pressed, the record names Aigerim and the count starts again.
    Without a staff token, no button."""
    config = site(mosquitto, influxdb, bot_api, receiver, tmp_path)
    ingest = await start_ingest(config)
    try:
        await wait_until(lambda: counted(ingest), "the first count")
        await backfill(config, time.time() - 7 * 24 * HOUR_S, 3)
        await wait_until(lambda: _due(config), "the tip due")
        base = f"http://127.0.0.1:{config.ingest.http_port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page()
            await page.goto(f"{base}/healthz")  # the API's origin, for its storage and fetches
            show = ('<div id="m"></div><script src="/maintenance.js"></script>'
                    '<script>MakerwatchMaintenance.show(document.getElementById("m"), "solder-1", "ru")</script>')  # fmt: skip
            await page.set_content(show)
            tip = page.locator('li[data-task="tip"]')
            await expect(tip).to_contain_text(
                "Проверить жало Машино-часы: 2.25 / 2 · пора выполнить"
            )
            await expect(tip).to_contain_text("ещё не выполнялось")
            await expect(tip.locator("button")).to_have_count(0)

            await page.evaluate(f'window.localStorage.setItem("makerwatch.token", "{STAFF_TOKEN}")')
            await page.set_content(show)
            await tip.get_by_role("button", name="Выполнено").click()
            await expect(page.get_by_role("status")).to_have_text("Записано.")
            await expect(tip).to_contain_text("Машино-часы: 0 / 2 последний раз:")
            await expect(tip).to_contain_text("(Aigerim)")
            await browser.close()
        [task] = await tasks(config)
        assert (task["due"], task["last_done_by"]) == (False, "Aigerim")
    finally:
        await ingest.shutdown()


async def _due(config: SiteConfig) -> bool:
    [task] = await tasks(config)
    return bool(task["due"])
