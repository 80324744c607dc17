"""One machine's page on a phone (390x844, Debian's Chromium): the firmware's main loop
on the host makes the machine's day (only its pins and sensors are stand-ins) against
the real broker, ingest and InfluxDB; the page shows it in kk, ru and en, and staff
calibrate the board from it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.core.vocabulary import STATE_NAMES
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.api.test_board import AXE, TOKEN, Board, board_config, board_running, tile
from tests.firmware.board import board_settings, running_board
from tests.support import stored, wait_until

pytestmark = pytest.mark.stack

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PICTURES = os.environ.get("MAKERWATCH_DOC_PICTURES")


@pytest.fixture
async def board(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> AsyncIterator[Board]:
    config = board_config(mosquitto, influxdb)  # over_temperature above 450 °C on solder-1
    # The site file says what the board has: a clamp (looped ten times) and a thermocouple.
    sensors = {"power_sensor": "ct", "ct_model": "sct013-005", "ct_turns": 10,
               "temp_sensor": "max6675"}  # fmt: skip
    solder = config.devices[0]
    solder = solder.model_validate({**solder.model_dump(), "board": {**solder.board, **sensors}})
    config = config.model_copy(update={"devices": [solder, *config.devices[1:]]})
    async with board_running(config) as board:
        yield board


async def has(influx: InfluxClient, influxql: str) -> bool:
    return bool(await stored(influx, influxql))


async def axe_serious(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]


async def test_a_machines_page_shows_its_day_and_staff_calibrate_it(
    board: Board, tmp_path: Path
) -> None:
    """Test that a tile's name opens the machine's page, which shows its state, today's
    states, the usage session and the alert it had, in kk, ru and en, without sideways
    scroll or serious accessibility violations; signed in, staff calibrate the board's
    clamp against a known load and see what the board kept."""
    port = board.config.mqtt.port
    with running_board(board_settings(board.config.site.id, port), tmp_path) as run:
        async with InfluxClient(board.config.influxdb) as influx:
            # Nothing plugged in yet: a calibration against "60 W" is refused by the board.
            await wait_until(lambda: has(influx, "SELECT power_w FROM telemetry"), "a reading")
            async with httpx.AsyncClient(base_url=board.url, timeout=40) as http:
                empty = await http.post("/devices/solder-1/calibrate", json={"known_w": 60},
                                        headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            assert empty.status_code == 422, empty.text
            assert empty.json()["detail"].startswith("no load measured"), empty.text
            run.signals.thermocouple_c = 480.0  # too hot
            run.signals.current_a = 0.2  # 44 W: in use
            await wait_until(
                lambda: has(influx, "SELECT * FROM alert WHERE status = 'fired'"), "the alert"
            )
            run.signals.thermocouple_c = 300.0
            run.signals.current_a = 0.0  # off: the session ends
            await wait_until(lambda: has(influx, "SELECT * FROM session"), "the session stored")
            await wait_until(
                lambda: has(influx, "SELECT * FROM alert WHERE status = 'resolved'"), "resolved"
            )
        run.signals.current_a = 0.2  # a 60 W lamp that the clamp reads as 44 W

        page = await (await board.browser.new_context(**PHONE)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(board.url + "/?lang=en")
        await tile(page, "solder-1").locator("h3 a").click()
        await expect(page).to_have_url(re.compile(r"\?machine=solder-1"))
        await expect(page.locator("article.tile")).to_have_count(1)
        for language in ("kk", "ru", "en"):
            await page.select_option("#language", language)
            texts = BOARD_TEXTS
            history = page.locator("#machine-history")
            await expect(history.locator("h2")).to_have_text(
                [texts[key][language] for key in ("today", "sessions_recent", "alerts_recent")]
            )
            steps = history.locator(".states")
            await expect(steps).to_contain_text(STATE_NAMES["active"][language])
            await expect(steps).to_contain_text(STATE_NAMES["off"][language])
            await expect(history.locator("table.sessions tr")).to_have_count(2)  # head + one
            await expect(history.locator(".alert-steps li")).to_have_count(2)
            await expect(history.locator(".alert-steps")).to_contain_text(
                texts["rule_over_temperature"][language] + " · "
            )
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            assert await axe_serious(page) == [], language
        await expect(page.locator("form.calibrate")).to_have_count(0)  # staff only

        await page.locator("#staff-button").click()
        await page.locator("#token").fill(TOKEN)
        await page.locator("#sign-in").click()
        await page.locator("#calibrate-power").fill("60")
        await page.locator(".calibrate-power button").click()
        answer = page.locator("article.tile .answer")
        await expect(answer).to_contain_text("the board keeps the new correction (factor 1.")
        await expect(answer).to_have_class(re.compile(r"\bconfirmed\b"))
        # The board's English answer is said in the page's language.
        await page.select_option("#language", "ru")
        await expect(answer).to_contain_text("плата сохранила новую поправку (коэффициент 1,")
        await expect(answer).not_to_contain_text("known")
        await page.select_option("#language", "en")
        kept = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
        assert kept["ct_calibration"] == pytest.approx(60 / 44, rel=0.05)
        async with httpx.AsyncClient(base_url=board.url, timeout=40) as http:
            hotter = await http.post(  # the thermocouple reads 300 °C; a reference says 310
                "/devices/solder-1/calibrate",
                json={"reference_c": 310},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert hotter.status_code == 200, hotter.text
        assert hotter.json()["detail"].startswith("temp_offset_c 10"), hotter.text
        if PICTURES:
            await expect(page.locator("#toast")).not_to_have_class(re.compile(r"\bshown\b"))
            await page.screenshot(path=str(Path(PICTURES) / "board-machine.png"), full_page=True)
        assert errors == []

    async with httpx.AsyncClient(base_url=board.url, timeout=40) as http:
        staff = {"Authorization": f"Bearer {TOKEN}"}
        printer = await http.post(
            "/devices/printer-1/calibrate", json={"known_w": 60}, headers=staff
        )
        assert printer.status_code == 409
        assert printer.json() == {"error": "printer-1 has no sensor whose power is calibrated"}
        bad = await http.post("/devices/solder-1/calibrate", json={"known_w": 0}, headers=staff)
        assert bad.status_code == 400
        assert bad.json() == {"error": "known_w: Input should be greater than or equal to 1"}
        assert (await http.get("/machines/nowhere")).status_code == 404
