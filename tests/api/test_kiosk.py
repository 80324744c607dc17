"""The floor board on a wall screen (?kiosk=1) in Debian's Chromium against the real
broker, ingest and InfluxDB: every machine of a 12- and a 40-machine site on one
1920x1080 and one 1366x768 screen, in each language, type sized for the wall, names
whole, alerts in one line; more machines turn pages; the site file's `board:` order,
hidden machines and group names."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import make_config, publish, start_ingest

pytestmark = pytest.mark.stack

CHROMIUM = "/usr/bin/chromium"
PICTURES = os.environ.get("MAKERWATCH_DOC_PICTURES")
DOC_PICTURES = {"board-kiosk-12-1920.png", "board-kiosk-40-1366.png"}  # docs/board.md's
SCREENS = [(1920, 1080), (1366, 768)]
# About 40 px for the state word on a 1080p screen, readable from 5 m on a 55" TV; the
# same share of the height on a smaller screen.
WALL_STATE_PX_AT_1080 = 36
# Forty machines share the same screen: smaller, still read across a room.
CROWDED_STATE_PX_AT_1080 = 21

# Names as a site gives them, long words included: none may be cut or broken.
NAMES = {
    "soldering_station": {"en": "Soldering station {i}", "ru": "Паяльная станция {i}", "kk": "Дәнекерлеу станциясы {i}"},
    "printer_3d": {"en": "Prusa MK4 {i}", "ru": "Prusa MK4 {i}", "kk": "Prusa MK4 {i}"},
    "laser_cutter": {"en": "Laser cutter {i}", "ru": "Лазерный станок {i}", "kk": "Лазерлік станок {i}"},
    "cnc_router": {"en": "CNC router {i}", "ru": "Фрезер с ЧПУ {i}", "kk": "CNC фрезер {i}"},
    "sewing_machine": {"en": "Sewing machine {i}", "ru": "Швейная машина {i}", "kk": "Тігін машинасы {i}"},
}  # fmt: skip
KINDS = list(NAMES)


def site(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, count: int, **extra: Any
) -> SiteConfig:
    base = make_config(mosquitto.port, influxdb.url, http_port=free_port())
    devices = [
        {
            "id": f"m-{i:02d}",
            "kind": KINDS[i % len(KINDS)],
            "name": {lang: t.format(i=i + 1) for lang, t in NAMES[KINDS[i % len(KINDS)]].items()},
        }
        for i in range(count)
    ]
    alerts = {
        "rules": [{"rule": "over_temperature", "kinds": ["soldering_station"], "above_c": 450}]
    }
    return SiteConfig.model_validate({
        **base.model_dump(mode="json", exclude_none=True),
        "devices": devices, "alerts": alerts, **extra,
    })  # fmt: skip


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def feed(config: SiteConfig, alerting: int) -> None:
    """Every machine in a state, on since an hour ago; `alerting` soldering stations too hot."""
    messages = []
    hot = 0
    for i, device in enumerate(config.devices):
        topic = f"makerspace/{config.site.id}/{device.id}"
        state = ["active", "idle", "off"][i % 3]
        body: dict[str, Any] = {"v": 1, "ts": time.time() - 300, "state": state, "previous": "off"}
        if state != "off":
            body["on_since"] = time.time() - 3600
        messages.append((f"{topic}/state", json.dumps(body)))
        temp = 25.0
        if device.kind.value == "soldering_station" and hot < alerting:
            temp, hot = 480.0, hot + 1
        reading = {"v": 1, "ts": time.time(), "seq": 1, "power_w": 40.0, "temp_c": temp}
        messages.append((f"{topic}/telemetry", json.dumps(reading)))
    await publish(config.mqtt.port, messages)


async def check_wall(page: Page, shown: int) -> dict[str, float]:
    """The page's tiles all inside the viewport, nothing scrolls, names whole; returns the
    state word's smallest size and the viewport."""
    await expect(page.locator("article.tile")).to_have_count(shown)
    return await page.evaluate(
        """() => {
        const w = window.innerWidth, h = window.innerHeight, out = [];
        for (const tile of document.querySelectorAll('article.tile')) {
          const r = tile.getBoundingClientRect();
          if (r.left < 0 || r.top < 0 || r.right > w + 0.5 || r.bottom > h + 0.5) out.push(tile.dataset.device);
          const name = tile.querySelector('h3');
          if (name.scrollWidth > name.clientWidth + 1 || tile.scrollHeight > tile.clientHeight + 1)
            out.push('cut: ' + tile.dataset.device);
        }
        const sizes = [...document.querySelectorAll('article.tile .word')]
          .map(e => parseFloat(getComputedStyle(e).fontSize));
        return {outside: out.length, first: out[0] || '', min_px: Math.min(...sizes),
                scroll_h: document.documentElement.scrollHeight, scroll_w: document.documentElement.scrollWidth,
                w: w, h: h};
        }"""
    )


async def wall_pages(
    browser: Browser, url: str, config: SiteConfig, shown: int, name: str, alerts: int
) -> dict[tuple[int, str], float]:
    """Open the kiosk at each screen size and language and check it; the state word's size."""
    sizes = {}
    for width, height in SCREENS:
        page = await browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda error, seen=errors: seen.append(str(error)))
        for language in ("kk", "ru", "en"):
            await page.goto(f"{url}/?kiosk=1&lang={language}")
            await expect(page.locator("article.tile.active")).not_to_have_count(0)
            await expect(page.locator("#alert-list li[data-alert]")).to_have_count(alerts)
            fit = await check_wall(page, shown)
            where = f"{config.site.id} {width}x{height} {language}"
            assert fit["outside"] == 0, f"{where}: {fit['first']} outside or cut"
            assert fit["scroll_h"] <= height, (where, fit)
            assert fit["scroll_w"] <= width, (where, fit)
            sizes[(height, language)] = fit["min_px"]
            picture = f"{name}-{width}.png"
            if PICTURES and language == "ru" and picture in DOC_PICTURES:
                await page.screenshot(path=str(Path(PICTURES) / picture))
        assert errors == []
        await page.close()
    return sizes


async def test_a_dozen_machines_fill_the_wall_in_large_type(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, browser: Browser
) -> None:
    """Test that 12 machines with four alerts fit a 1920x1080 and a 1366x768 screen in
    kk, ru and en, the state word about 40 px at 1080p (in proportion below), no name
    cut, and the alerts in one line that leaves the machines their room."""
    config = site(mosquitto, influxdb, 12)
    running = await start_ingest(config)
    try:
        await feed(config, alerting=3)
        url = f"http://127.0.0.1:{config.ingest.http_port}"
        sizes = await wall_pages(browser, url, config, 12, "board-kiosk-12", alerts=3)
        for (height, language), px in sizes.items():
            target = WALL_STATE_PX_AT_1080 * height / 1080
            assert px >= target, f"{height}p {language}: the state word is {px} px"
    finally:
        await running.shutdown()


async def test_forty_machines_fit_one_screen_and_more_turn_pages(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, browser: Browser
) -> None:
    """Test that 40 machines fit a 1920x1080 and a 1366x768 screen in each language,
    names whole, and that 45 machines show as two pages which turn by themselves."""
    config = site(mosquitto, influxdb, 40)
    running = await start_ingest(config)
    try:
        await feed(config, alerting=2)
        url = f"http://127.0.0.1:{config.ingest.http_port}"
        sizes = await wall_pages(browser, url, config, 40, "board-kiosk-40", alerts=2)
        for (height, language), px in sizes.items():
            target = CROWDED_STATE_PX_AT_1080 * height / 1080
            assert px >= target, f"{height}p {language}: the state word is {px} px"
    finally:
        await running.shutdown()

    config = site(mosquitto, influxdb, 45)
    running = await start_ingest(config)
    try:
        await feed(config, alerting=0)
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.clock.install()
        await page.goto(f"http://127.0.0.1:{config.ingest.http_port}/?kiosk=1&lang=en")
        await expect(page.locator("#pager")).to_have_text("1 / 2")
        first = await check_wall(page, 40)
        assert first["outside"] == 0, first
        await page.clock.run_for(16_000)
        await expect(page.locator("#pager")).to_have_text("2 / 2")
        second = await check_wall(page, 5)
        assert second["outside"] == 0, second
        await expect(page.locator('[data-device="m-44"]')).to_have_count(1)
        await page.clock.run_for(16_000)
        await expect(page.locator("#pager")).to_have_text("1 / 2")
    finally:
        await running.shutdown()


async def test_the_site_file_orders_hides_and_names_the_groups(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, browser: Browser
) -> None:
    """Test that the site file's `board:` section puts its groups first, in its order and
    under its names (in the page's language), leaves hidden machines out, and shows the
    rest grouped by kind."""
    board = {
        "groups": [{"name": {"en": "Front room", "ru": "Первый зал", "kk": "Бірінші зал"},
                    "devices": ["m-03", "m-00"]}],
        "hidden": ["m-01"],
    }  # fmt: skip
    config = site(mosquitto, influxdb, 6, board=board)
    running = await start_ingest(config)
    try:
        await feed(config, alerting=0)
        for path in ("/?lang=ru", "/?kiosk=1&lang=ru"):
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            await page.goto(f"http://127.0.0.1:{config.ingest.http_port}{path}")
            await expect(page.locator("article.tile")).to_have_count(5)
            order = await page.locator("article.tile").evaluate_all(
                "tiles => tiles.map(t => t.dataset.device)"
            )
            assert order[:2] == ["m-03", "m-00"], (path, order)
            assert "m-01" not in order, (path, order)
            headings = await page.locator("#floor h2").all_inner_texts()
            assert headings[0] == "Первый зал", (path, headings)
            await page.close()
    finally:
        await running.shutdown()
