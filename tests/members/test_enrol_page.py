"""Enrolling a card from the staff phone page, in Debian's Chromium against the real
broker, ingest and InfluxDB: staff choose a machine and a member, the next unknown card
tapped there becomes the member's, the board gets it on its access list, and the tile
names the member once their card opens the machine."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from makerwatch import adapters
from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.core.protocol import AccessMode
from makerwatch.members.store import FILE_NAME, MembersStore
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.api.test_board import AXE, CHROMIUM, TOKEN, Board, board_config, tile
from tests.members.readers import with_reader
from tests.support import publish, start_ingest, wait_until

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NEW_CARD = "5" * 32  # a key: the board sends only keys


@pytest.fixture
async def members_board(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> AsyncIterator[tuple[Board, MembersStore]]:
    config = board_config(mosquitto, influxdb)
    devices = [
        with_reader(config.devices[0], AccessMode.ENFORCE),
        config.devices[1],
    ]
    members = config.members.model_copy(
        update={"show_names": True, "store": str(tmp_path / FILE_NAME)}
    )
    config = config.model_copy(update={"devices": devices, "members": members})
    store = MembersStore(tmp_path / FILE_NAME)
    member = store.add("Asel Nurlanovna", int(time.time() * 1000))
    store.train(member, "solder-1", None)
    running = await start_ingest(config)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield Board(config, running, f"http://127.0.0.1:{config.ingest.http_port}", browser), store
        await browser.close()
    if not running.task.done():
        await running.shutdown()
    store.close()


async def test_staff_enrol_the_next_card_from_the_phone(
    members_board: tuple[Board, MembersStore],
) -> None:
    """Test that the enrol control attaches the next unknown card at the chosen machine to the chosen member."""
    board, store = members_board
    async with httpx.AsyncClient(base_url=board.url) as http:
        refused = await http.post("/members/enrol", json={"device": "solder-1", "member": 1})
        assert refused.status_code == 401
    # A phone set to another zone than the site's: the page speaks the site's time.
    page = await board.page("/?lang=en", **PHONE, timezone_id="America/New_York")
    await page.locator("#staff-button").click()
    await page.locator("#token").fill(TOKEN)
    await page.locator("#sign-in").click()
    await expect(page.locator("#staff-button")).to_have_text("Sign out")
    await page.reload()
    await expect(page.locator("#enrol h2")).to_have_text("Enrol a card")
    # Only the machine that reads cards is offered.
    await expect(page.locator("#enrol-device option")).to_have_count(1)
    await page.select_option("#enrol-member", "1")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name="The next new card is theirs").click()
    until_ms = (await (await posted.value).json())["until_ms"]
    at = datetime.fromtimestamp(until_ms / 1000, ZoneInfo(board.config.site.timezone))
    await expect(page.locator("#enrol [role=status]")).to_have_text(
        re.compile(rf"^Tap the card at .+ before {at:%H:%M}$")
    )

    site = board.config.site.id
    await publish(board.config.mqtt.port, [(f"makerspace/{site}/solder-1/tap", json.dumps(
        {"v": 1, "ts": time.time(), "seq": 1, "key": NEW_CARD, "result": "refused", "mode": "enforce"}))])  # fmt: skip
    await wait_until(lambda: store.short_name(NEW_CARD) == "Asel N.", "the card enrolled")
    # The page says so once the tap enrolled it, without a reload.
    await expect(page.locator("#enrol [role=status]")).to_have_text(
        "The card is attached to Asel N."
    )
    await publish(board.config.mqtt.port, [
        (f"makerspace/{site}/solder-1/tap", json.dumps(
            {"v": 1, "ts": time.time(), "seq": 2, "key": NEW_CARD, "result": "allowed", "mode": "enforce"})),
        (f"makerspace/{site}/solder-1/state", json.dumps(
            {"v": 1, "ts": time.time(), "state": "active", "previous": "off"})),
    ])  # fmt: skip
    await expect(tile(page, "solder-1")).to_contain_text(re.compile(r"In use by Asel N\. since \d"))
    await page.select_option("#language", "kk")
    await expect(page.locator("#enrol h2")).to_have_text("Картаны тіркеу")
    await expect(page.locator("#enrol [role=status]")).to_have_text("Карта тіркелді: Asel N.")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")] == []
    assert page.errors == []  # type: ignore[attr-defined]


async def test_an_enrolment_with_no_tap_says_the_time_ran_out(
    members_board: tuple[Board, MembersStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that an enrolment whose window passes with no card tapped says so in the page's
    language (Russian here), and a card tapped after it is not attached."""
    monkeypatch.setattr(adapters, "ENROL_WAIT_MS", 3000)  # ingest runs in this process
    board, store = members_board
    page = await board.page("/?lang=ru", **PHONE)
    await page.evaluate(f"localStorage.setItem('makerwatch.token', {json.dumps(TOKEN)})")
    await page.reload()
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.locator("#enrol button").click()
    until_ms = (await (await posted.value).json())["until_ms"]
    at = datetime.fromtimestamp(until_ms / 1000, ZoneInfo(board.config.site.timezone))
    machine = board.config.devices[0].name_in("ru")
    await expect(page.locator("#enrol [role=status]")).to_have_text(
        BOARD_TEXTS["enrol_expired"]["ru"].format(machine=machine, at=f"{at:%H:%M}")
    )
    said: list[str] = []  # what ingest (in this process) logs of the tap
    access_log = logging.getLogger("makerwatch.members.access")
    monkeypatch.setattr(access_log, "level", logging.INFO)
    monkeypatch.setattr(access_log, "disabled", False)
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    access_log.addHandler(handler)
    try:
        site = board.config.site.id
        await publish(board.config.mqtt.port, [(f"makerspace/{site}/solder-1/tap", json.dumps(
            {"v": 1, "ts": time.time(), "seq": 1, "key": NEW_CARD, "result": "refused", "mode": "enforce"}))])  # fmt: skip
        await wait_until(lambda: any("a card no member has" in s for s in said), "the tap seen")
    finally:
        access_log.removeHandler(handler)
    assert store.member_of(NEW_CARD) is None
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_refused_enrolment_says_why_in_the_pages_language(
    members_board: tuple[Board, MembersStore],
) -> None:
    """Test that a member forgotten after the page was drawn is refused in Kazakh, not in
    the server's English."""
    board, store = members_board
    page = await board.page("/?lang=kk", **PHONE)
    await page.evaluate(f"localStorage.setItem('makerwatch.token', {json.dumps(TOKEN)})")
    await page.reload()
    await expect(page.locator("#enrol-member option")).to_have_count(1)
    store.forget(1)
    await page.locator("#enrol button").click()
    await expect(page.locator("#enrol [role=status]")).to_have_text(
        BOARD_TEXTS["enrol_failed"]["kk"].format(reason=BOARD_TEXTS["enrol_gone"]["kk"])
    )
