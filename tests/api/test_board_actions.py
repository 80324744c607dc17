"""Staff actions on the floor board as the board answers them: the firmware's main loop
on the host (only its pins are stand-ins) against the real broker, ingest and InfluxDB,
the phone being Debian's Chromium."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.api.test_board import STAFF, TOKEN, Board, board_config, board_running, state, tile
from tests.api.test_machine_page import axe_serious
from tests.firmware.board import board_settings, running_board
from tests.support import publish

pytestmark = pytest.mark.stack

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
RELAY = {"relay_pin": 26, "relay_active_high": True}
PICTURES = os.environ.get("MAKERWATCH_DOC_PICTURES")


def actions_config(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> SiteConfig:
    """solder-1 with a relay; printer-1 with a relay too, which Makerwatch never uses;
    solder-1 left on for 3 s fires left_on, its remote switch-off due in 30 min."""
    config = board_config(mosquitto, influxdb)
    printer = config.devices[1].model_copy(update={"board": RELAY})
    alerts = type(config.alerts).model_validate({
        "language": "en",
        "rules": [{"rule": "left_on", "devices": ["solder-1"], "idle_longer_than_min": 0.05,
                   "auto_off_after_min": 30}],
    })  # fmt: skip
    return config.model_copy(update={"devices": [config.devices[0], printer], "alerts": alerts})


@pytest.fixture
async def board(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> AsyncIterator[Board]:
    config = actions_config(mosquitto, influxdb)
    async with board_running(config) as board:
        yield board


async def signed_in_phone(board: Board) -> Page:
    page = await (await board.browser.new_context(**PHONE)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(board.url + "/?lang=en")
    await page.locator("#staff-button").click()
    await page.locator("#token").fill(TOKEN)
    await page.locator("#sign-in").click()
    await expect(page.locator("#staff-button")).to_have_text("Sign out")
    return page


def said(key: str, name: str) -> str:
    return BOARD_TEXTS[key]["en"].format(name=name)


async def test_identify_and_switch_off_show_what_the_board_answered(
    board: Board, tmp_path: Path
) -> None:
    """Test that blinking and switching off read "sent" until the real firmware answers,
    then what it answered; a board that never answers reads as such; a printer with a
    relay is offered no switch-off, and the API refuses one in a line saying why."""
    port = board.config.mqtt.port
    with running_board(board_settings(board.config.site.id, port), tmp_path) as run:
        run.signals.current_a = 0.2  # 44 W: in use
        solder_name = board.config.devices[0].name_in("en")
        page = await signed_in_phone(board)
        solder = tile(page, "solder-1")
        await expect(solder).to_have_class(re.compile(r"\bactive\b"))

        await solder.locator("button.identify").click()
        answer = solder.locator(".answer")
        await expect(answer).to_have_text(said("done_identify", solder_name))
        await expect(answer).to_have_class(re.compile(r"\bconfirmed\b"))

        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await solder.locator("button.switch-off").click()
        await expect(answer).to_have_text(said("done_off", solder_name))
        assert run.signals.pins.get(26) == 0

    # printer-1 has no board running here: the command goes, nothing answers.
    printer = tile(page, "printer-1")
    printer_name = board.config.devices[1].name_in("en")
    await expect(printer.locator("button.switch-off")).to_have_count(0)
    await printer.locator("button.identify").click()
    await expect(printer.locator(".answer")).to_have_text(said("sent_identify", printer_name))
    await expect(printer.locator(".answer")).to_have_text(
        said("no_answer", printer_name), timeout=30_000
    )
    await expect(printer.locator(".answer")).to_have_class(re.compile(r"\bunconfirmed\b"))
    async with httpx.AsyncClient(base_url=board.url, timeout=30) as http:
        refused = await http.post(
            "/devices/printer-1/off", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "printer-1 is a printer_3d: Makerwatch never switches one off "
        "(it would spoil the work under way)"
    }
    assert page.errors == []  # type: ignore[attr-defined]


async def test_staff_snooze_an_alert_and_keep_a_machine_on_before_its_switch_off(
    board: Board,
) -> None:
    """Test that a left-on alert shows when its remote switch-off will happen, staff
    snooze it from the phone (acknowledged, no reminders for an hour) and cancel the
    switch-off, which the page then shows as cancelled."""
    page = await signed_in_phone(board)
    await publish(
        board.config.mqtt.port, [(board.topic("solder-1", "state"), state("idle", "off"))]
    )
    alert = page.locator('[data-alert="left_on-solder-1"]')
    await expect(alert).to_contain_text("Remote switch-off at ", timeout=20_000)
    async with httpx.AsyncClient(base_url=board.url) as http:
        (active,) = (await http.get("/alerts")).json()["alerts"]
    assert active["auto_off_ms"] == active["fired_ms"] + 30 * 60_000
    await expect(alert.locator("button.ack")).to_have_count(1)
    for language in ("kk", "ru", "en"):  # the longest words still fit a phone
        await page.select_option("#language", language)
        await expect(alert.locator("button.cancel-off")).to_have_text(
            BOARD_TEXTS["cancel_off"][language]
        )
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        assert await axe_serious(page) == [], language
    if PICTURES:
        await page.screenshot(path=str(Path(PICTURES) / "board-phone-switch-off.png"))

    await alert.locator("button.snooze").click()
    await expect(alert).to_contain_text(f"{STAFF} is on it")
    await expect(alert.locator("button.snooze")).to_have_count(0)
    async with httpx.AsyncClient(base_url=board.url) as http:
        (snoozed,) = (await http.get("/alerts")).json()["alerts"]
    assert snoozed["snoozed_until_ms"] - snoozed["acked_ms"] == 60 * 60_000
    until = datetime.fromtimestamp(
        snoozed["snoozed_until_ms"] / 1000, ZoneInfo(board.config.site.timezone)
    )
    # (with the date in front if that is tomorrow on the site's clock)
    await expect(alert.locator(".snoozed")).to_have_text(
        re.compile(rf"^no reminders until (\d\d\.\d\d )?{until:%H:%M}$")
    )
    assert snoozed["auto_off"] == "pending", "snoozing keeps the switch-off"

    await alert.locator("button.cancel-off").click()
    await expect(alert.locator(".auto-off")).to_have_text(BOARD_TEXTS["off_cancelled"]["en"])
    await expect(alert.locator("button.cancel-off")).to_have_count(0)
    async with httpx.AsyncClient(base_url=board.url) as http:
        (kept,) = (await http.get("/alerts")).json()["alerts"]
        assert kept["auto_off"] == "cancelled"
        again = await http.post("/alerts/left_on-solder-1/snooze",
                                headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert again.status_code == 409
    assert again.json() == {"error": f"left_on-solder-1: {STAFF} is on it already"}
    assert page.errors == []  # type: ignore[attr-defined]
