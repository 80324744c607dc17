"""The floor board in a real browser (Debian's Chromium driven by Playwright) against the
real broker, ingest and InfluxDB: live tiles, alerts, staff actions, reconnection,
languages and accessibility."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from makerwatch.api.board import HEARTBEAT_S
from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.api.guards import STREAMS_PER_ADDRESS
from makerwatch.core.site_config import SiteConfig, StaffMember
from makerwatch.core.vocabulary import KIND_NAMES, STATE_NAMES
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import (
    ROOT,
    RunningIngest,
    make_config,
    mqtt_client,
    publish,
    start_ingest,
    stored,
    wait_until,
)

pytestmark = pytest.mark.stack

CHROMIUM = "/usr/bin/chromium"
TOKEN = "aigerim-board-token-0123456789"
STAFF = "Айгерім Сейітова"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PICTURES = os.environ.get("MAKERWATCH_DOC_PICTURES")


@dataclass
class Board:
    config: SiteConfig
    ingest: RunningIngest
    url: str
    browser: Browser

    def topic(self, device: str, kind: str) -> str:
        return f"makerspace/{self.config.site.id}/{device}/{kind}"

    async def page(self, path: str = "/", **context: Any) -> Page:
        page = await (await self.browser.new_context(**context)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors  # type: ignore[attr-defined]
        await page.goto(self.url + path)
        return page


def board_config(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> SiteConfig:
    config = make_config(mosquitto.port, influxdb.url, http_port=free_port())
    devices = [
        config.devices[0].model_copy(
            update={"board": {"relay_pin": 26, "relay_active_high": True}}
        ),
        config.devices[1],
    ]
    alerts = type(config.alerts).model_validate({
        "language": "ru",
        "rules": [{"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450}],
    })  # fmt: skip
    return config.model_copy(update={
        "devices": devices, "alerts": alerts, "staff": [StaffMember(name=STAFF, token=TOKEN)],
    })  # fmt: skip


@contextlib.asynccontextmanager
async def board_running(config: SiteConfig) -> AsyncIterator[Board]:
    """Ingest for this site and a headless Chromium beside it; both stopped after."""
    running = await start_ingest(config)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield Board(config, running, f"http://127.0.0.1:{config.ingest.http_port}", browser)
        await browser.close()
    if not running.task.done():
        await running.shutdown()


@pytest.fixture
async def board(mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> AsyncIterator[Board]:
    config = board_config(mosquitto, influxdb)
    async with board_running(config) as board:
        yield board


def reading(seq: int, power_w: float, temp_c: float = 25.0) -> str:
    return json.dumps({"v": 1, "ts": time.time(), "seq": seq, "power_w": power_w, "temp_c": temp_c})


def state(new: str, previous: str) -> str:
    return json.dumps(
        {"v": 1, "ts": time.time(), "state": new, "previous": previous, "previous_duration_s": 60}
    )


def tile(page: Page, device: str) -> Any:
    return page.locator(f'[data-device="{device}"]')


async def test_tiles_follow_mqtt_live_and_staff_act_with_a_token(board: Board) -> None:
    """Test that every device is listed by name, a published state changes its tile
    without a reload, an alert shows in the banner, acknowledging it with a token clears
    it and records the name; without a token there is no button and the API says 401;
    a tile with no signal offers no switch-off."""
    page = await board.page("/?lang=en")
    for device in board.config.devices:
        await expect(tile(page, device.id).locator("h3")).to_have_text(device.name_in("en"))
        await expect(tile(page, device.id)).to_contain_text("No data yet")
    await expect(page.locator("#alert-list")).to_contain_text("No active alerts.")
    await expect(page.locator("button.ack")).to_have_count(0)

    started = time.monotonic()
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), state("active", "off")),
        (board.topic("solder-1", "telemetry"), reading(1, 48.0)),
    ])  # fmt: skip
    solder = tile(page, "solder-1")
    await expect(solder.locator(".word")).to_have_text("In use", timeout=2000)
    await expect(solder).to_have_class(re.compile(r"\bactive\b"))
    await expect(solder.locator(".power")).to_have_text("48 W")
    assert time.monotonic() - started < 2.5, "within 2 s of the publish (plus the publish)"
    assert await solder.locator(".icon").text_content() == "\u25cf", "an icon, not colour alone"

    await publish(
        board.config.mqtt.port, [(board.topic("solder-1", "telemetry"), reading(2, 48.0, 480.0))]
    )
    banner = page.locator("#alert-list li[data-alert]")
    await expect(banner).to_have_count(1)
    await expect(banner).to_contain_text("too hot")
    await expect(page.locator("button.ack")).to_have_count(0)
    async with httpx.AsyncClient(base_url=board.url) as http:
        refused = await http.post("/alerts/over_temperature-solder-1/ack")
        assert refused.status_code == 401
        assert (await http.post("/devices/solder-1/off")).status_code == 401
        assert (await http.post("/devices/solder-1/identify")).status_code == 401

    # Sign in with the token: the buttons appear; acknowledge from the page.
    await page.locator("#staff-button").click()
    await page.locator("#token").fill(TOKEN)
    await page.locator("#sign-in").click()
    await expect(page.locator("#staff-button")).to_have_text("Sign out")
    await page.locator("button.ack").click()
    await expect(banner).to_contain_text(f"{STAFF} is on it")
    async with httpx.AsyncClient(base_url=board.url) as http:
        alerts = (await http.get("/alerts")).json()["alerts"]
    assert alerts[0]["acked_by"] == STAFF

    # Blink and switch off: the commands reach the board's topics, the actions are recorded.
    commands: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with mqtt_client(board.config.mqtt.port) as client:
            await client.subscribe(f"makerspace/{board.config.site.id}/+/cmd/#", qos=1)
            ready.set()
            async for message in client.messages:
                commands.append((message.topic.value, json.loads(message.payload)))  # type: ignore[arg-type]

    listener = asyncio.create_task(listen())
    await ready.wait()
    await expect(tile(page, "printer-1").locator("button.switch-off")).to_have_count(0)  # no relay
    await solder.locator("button.identify").click()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await solder.locator("button.switch-off").click()
    await wait_until(lambda: len(commands) == 2, "the identify and relay commands")
    listener.cancel()
    assert commands[0][0].endswith("/solder-1/cmd/identify")
    assert commands[1] == (
        board.topic("solder-1", "cmd/relay"),
        {"v": 1, "on": False, "reason": "staff"},
    )
    async with InfluxClient(board.config.influxdb) as influx:

        async def recorded() -> bool:
            rows = await stored(influx, 'SELECT action, "by", device FROM staff_action')
            return [(r["action"], r["by"], r["device"]) for r in rows] == [
                ("identify", STAFF, "solder-1"),
                ("switch_off", STAFF, "solder-1"),
            ]

        await wait_until(recorded, "both actions recorded with who did them")
    assert page.errors == []  # type: ignore[attr-defined]
    if PICTURES:  # the printer heard from too, as on a site whose boards all report
        await publish(board.config.mqtt.port, [
            (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time() - 900, "state": "off"})),
            (board.topic("printer-1", "telemetry"), reading(1, 0.4)),
        ])  # fmt: skip
        await expect(tile(page, "printer-1")).to_have_class(re.compile(r"\boff\b"))
        await page.set_viewport_size({"width": 1280, "height": 720})
        await page.screenshot(path=str(Path(PICTURES) / "board.png"))
    # A board that cannot hear a command is offered none that needs it.
    await publish(
        board.config.mqtt.port, [(board.topic("solder-1", "status"), '{"v":1,"online":false}')]
    )
    await expect(solder).to_have_class(re.compile(r"\bno_signal\b"))
    await expect(solder.locator("button.switch-off")).to_have_count(0)
    await expect(solder.locator("button.identify")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_offline_boards_and_a_broker_restart_show_and_recover(
    board: Board, mosquitto: EmbeddedMosquitto
) -> None:
    """Test that a board's last will turns its tile offline, and that a broker restart
    shows the interruption on the page, which recovers by itself."""
    await publish(
        board.config.mqtt.port, [(board.topic("printer-1", "state"), state("idle", "off"))]
    )
    page = await board.page("/?lang=ru")
    printer = tile(page, "printer-1")
    await expect(printer.locator(".word")).to_have_text(STATE_NAMES["idle"]["ru"])
    await publish(
        board.config.mqtt.port, [(board.topic("printer-1", "status"), '{"v":1,"online":false}')]
    )
    await expect(printer.locator(".word")).to_have_text(STATE_NAMES["no_signal"]["ru"])
    await expect(printer).to_have_class(re.compile(r"\bno_signal\b"))

    link = page.locator("#link")
    await expect(link).to_be_hidden()
    mosquitto.stop()
    await expect(link).to_have_text(BOARD_TEXTS["broker_down"]["ru"], timeout=10_000)
    mosquitto.start()
    await wait_until(lambda: board.ingest.service.mqtt_connected, "ingest back on the broker", 30)
    await expect(link).to_be_hidden(timeout=10_000)
    await publish(board.config.mqtt.port, [(board.topic("printer-1", "status"), '{"v":1,"online":true}'),
                                           (board.topic("printer-1", "telemetry"), reading(1, 30.0))])  # fmt: skip
    await expect(printer.locator(".word")).to_have_text(STATE_NAMES["idle"]["ru"])

    # The server itself gone: the page says it is reconnecting, and resyncs when back.
    await board.ingest.shutdown()
    await expect(link).to_have_text(BOARD_TEXTS["reconnecting"]["ru"], timeout=10_000)
    board.ingest = await start_ingest(board.config)
    await expect(link).to_be_hidden(timeout=15_000)
    assert page.errors == []  # type: ignore[attr-defined]


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]{3,}", re.sub(r"\{[^}]*\}", " ", text))}


async def test_every_visible_string_changes_with_the_language(board: Board) -> None:
    """Test that in each language the page holds no word of the other languages' texts,
    and that its own state and kind words are there (names from the site file aside)."""
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), state("active", "off")),
        (board.topic("solder-1", "telemetry"), reading(1, 1500.4)),
        (board.topic("printer-1", "status"), '{"v":1,"online":false}'),
    ])  # fmt: skip
    strings = [*BOARD_TEXTS.values(), *STATE_NAMES.values(), *KIND_NAMES.values()]
    # Each language's own separators, whatever locale data the browser has.
    watts = {"kk": "1\u00a0500 Вт", "ru": "1\u00a0500 Вт", "en": "1,500 W"}
    names = set().union(
        *(_words(d.name_in(lang)) for d in board.config.devices for lang in ("en", "ru", "kk"))
    )
    page = await board.page("/?lang=en")
    await page.locator("#staff-button").click()  # the sign-in form is visible too
    await expect(tile(page, "solder-1")).to_have_class(re.compile(r"\bactive\b"))
    for language in ("kk", "ru", "en"):
        await page.select_option("#language", language)
        await expect(tile(page, "solder-1").locator(".word")).to_have_text(
            STATE_NAMES["active"][language]
        )  # type: ignore[index]
        await expect(tile(page, "printer-1").locator(".word")).to_have_text(
            STATE_NAMES["no_signal"][language]
        )  # type: ignore[index]
        await expect(tile(page, "solder-1").locator(".power")).to_have_text(watts[language])
        visible = html.unescape(await page.locator("body").inner_text())
        own = set().union(*(_words(t[language]) for t in strings))  # type: ignore[index]
        foreign = (
            set().union(*(_words(v) for t in strings for v in t.values()))
            - own
            - names
            - {"wi", "fi"}
        )
        leaked = _words(visible) & foreign
        assert not leaked, f"{language}: {leaked}"
        assert KIND_NAMES[next(iter(KIND_NAMES))][language] in visible  # type: ignore[index]
        assert await page.evaluate("document.documentElement.lang") == language
        # The clock reads as the tiles' times do: 24 hours, in every language.
        await expect(page.locator("#clock")).to_have_text(re.compile(r"^\d\d:\d\d$"))


async def test_no_serious_accessibility_violation_in_any_mode(board: Board) -> None:
    """Test axe-core (from npm) finds no serious or critical violation on the board, in
    kiosk mode and on a phone, signed in or not."""
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), state("idle", "off")),
        (board.topic("solder-1", "telemetry"), reading(1, 4.0, 480.0)),
        (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time() - 3600, "state": "off"})),
        (board.topic("printer-1", "telemetry"), reading(1, 0.4)),
    ])  # fmt: skip
    for path, context in (
        ("/?lang=kk", {}),
        ("/?kiosk=1&lang=ru", {"viewport": {"width": 1920, "height": 1080}}),
        (
            "/?lang=en",
            {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
        ),
    ):
        page = await board.page(path, **context)
        await expect(page.locator("#alert-list li[data-alert]")).to_have_count(1)
        if "kiosk" not in path:
            await page.locator("#staff-button").click()
            await page.locator("#token").fill(TOKEN)
            await page.locator("#sign-in").click()
            await expect(page.locator("button.ack")).to_have_count(1)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")
        ]  # fmt: skip
        assert serious == [], (path, serious)
        if PICTURES and "kiosk" not in path and context:  # the kiosk's: test_kiosk.py
            await page.screenshot(path=str(Path(PICTURES) / "board-phone.png"))


async def test_each_tile_shows_its_state_and_since_when_it_is_on(board: Board) -> None:
    """Test that once readings flow no tile says "No data yet", that a machine on shows
    "on since" with the time it was switched on (site time) and how long it has been in
    its present state, and that the same words come in each language."""
    zone = ZoneInfo(board.config.site.timezone)
    switched_on = time.time() - 2 * 3600
    idle_since = time.time() - 4 * 60
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "state"), json.dumps(
            {"v": 1, "ts": idle_since, "state": "idle", "previous": "active", "on_since": switched_on})),
        (board.topic("solder-1", "telemetry"), reading(1, 6.0, 310.0)),
        (board.topic("printer-1", "state"), json.dumps({"v": 1, "ts": time.time() - 600, "state": "off"})),
        (board.topic("printer-1", "telemetry"), reading(1, 0.4)),
    ])  # fmt: skip
    when = datetime.fromtimestamp(switched_on, zone)
    # Switched on before the site's midnight: the tile gives the day too ("07.12 22:21").
    at = when.strftime("%H:%M" if when.date() == datetime.now(zone).date() else "%d.%m %H:%M")
    page = await board.page("/?lang=en")
    solder = tile(page, "solder-1")
    await expect(solder.locator(".since")).to_have_text(f"on since {at} · for 4 min")
    await expect(tile(page, "printer-1").locator(".since")).to_have_text("for 10 min")
    await expect(page.locator("article.tile.never_heard")).to_have_count(0)
    await expect(page.locator("body")).not_to_contain_text(STATE_NAMES["never_heard"]["en"])
    for language in ("ru", "kk"):
        await page.select_option("#language", language)
        on_since = BOARD_TEXTS["on_since"][language].format(at=at)
        await expect(solder.locator(".since")).to_contain_text(on_since)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_kiosk_fits_thirty_machines_on_a_1080p_screen(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that 30 machines in kiosk mode fit a 1920x1080 screen without scrolling and
    that it shows no controls."""
    config = board_config(mosquitto, influxdb)
    kinds = [k.value for k in KIND_NAMES]
    devices = [
        {"id": f"m-{i:02d}", "name": f"Machine {i}", "kind": kinds[i % 5]} for i in range(30)
    ]
    config = SiteConfig.model_validate(
        {**config.model_dump(mode="json", exclude_none=True), "devices": devices}
    )
    running = await start_ingest(config)
    try:
        await publish(config.mqtt.port, [
            (f"makerspace/{config.site.id}/m-{i:02d}/state", state(["idle", "active", "off"][i % 3], "off"))
            for i in range(30)
        ])  # fmt: skip
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(f"http://127.0.0.1:{config.ingest.http_port}/?kiosk=1&lang=kk")
            await expect(page.locator("article.tile")).to_have_count(30)
            await expect(page.locator("article.tile.active")).to_have_count(10)
            height = await page.evaluate("document.documentElement.scrollHeight")
            assert height <= 1080, f"the page is {height} px high"
            await expect(page.locator("#controls")).to_be_hidden()
            await browser.close()
    finally:
        await running.shutdown()


# What a site's name may hold and the HTML parser would take for markup inside <script>.
HOSTILE_NAME = "Space <!--<script> </script><script>window.ran = 1</script> & \u2028\u2029 {{lang}}"


async def test_a_site_name_that_looks_like_markup_shows_as_text_on_the_board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a site name holding `<!--<script`, `</script>`, `&`, U+2028/2029 and a
    placeholder is shown as written in the title, with every tile, and runs nothing (and,
    the site having no staff, that no sign-in is offered)."""
    config = board_config(mosquitto, influxdb)
    config = SiteConfig.model_validate({
        **config.model_dump(mode="json", exclude_none=True),
        "site": {**config.site.model_dump(mode="json"), "name": HOSTILE_NAME},
        "staff": [],
    })  # fmt: skip
    running = await start_ingest(config)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"http://127.0.0.1:{config.ingest.http_port}/?lang=en")
            await expect(page.locator("#title")).to_contain_text(HOSTILE_NAME)
            await expect(page.locator("article.tile")).to_have_count(len(config.devices))
            assert await page.evaluate("window.ran") is None, "the name's script ran"
            # A site without staff: no sign-in that could not succeed.
            await expect(page.locator("#staff-button")).to_be_hidden()
            assert HOSTILE_NAME in await page.title()
            assert errors == []
            await browser.close()
    finally:
        await running.shutdown()


async def test_a_refused_stream_and_paused_sign_in_are_explained_and_recovered(
    board: Board,
) -> None:
    """Test that a page whose stream is refused (its address holds the most) says it is
    reconnecting and comes live by itself once a stream is free, and that after too many
    wrong tokens from its address the sign-in says to wait, in the page's language."""
    port = board.config.ingest.http_port
    held = []
    for _ in range(STREAMS_PER_ADDRESS):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /board-events HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        held.append(writer)
    page = await board.page("/?lang=ru")
    link = page.locator("#link")
    await expect(link).to_have_text(BOARD_TEXTS["reconnecting"]["ru"])
    await expect(page.locator("article.tile")).to_have_count(0)

    async with httpx.AsyncClient(base_url=board.url) as http:
        while (
            await http.get("/staff/me", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401:
            pass
    await page.locator("#staff-button").click()
    await page.locator("#token").fill(TOKEN)
    await page.locator("#sign-in").click()
    await expect(page.locator("#staff-message")).to_have_text(
        re.compile(r"^Слишком много неверных токенов с этого устройства\. Повторите через \d+ с\.$")
    )
    await expect(page.locator("#staff-button")).not_to_have_text("Выйти")

    for writer in held:
        writer.close()

    async def a_stream_freed() -> bool:
        # The server notices a closed stream at its next heartbeat (HEARTBEAT_S).
        async with httpx.AsyncClient(base_url=board.url) as http:
            metrics = (await http.get("/metrics")).text
        open_now = next(line for line in metrics.splitlines() if line.startswith("makerwatch_board_streams{"))  # fmt: skip
        return float(open_now.rsplit(" ", 1)[1]) < STREAMS_PER_ADDRESS

    await wait_until(a_stream_freed, "the held streams noticed closed", within_s=2 * HEARTBEAT_S)
    # The refused page retries within 10-20 s (board.js, STREAM_REFUSED_RETRY_MS).
    await expect(page.locator("article.tile")).to_have_count(
        len(board.config.devices), timeout=30_000
    )
    await expect(link).to_be_hidden()
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_board_and_its_icon_load_without_an_error(board: Board) -> None:
    """Test that the board's page asks for nothing the server refuses, its icon included,
    and that /favicon.ico, which a browser asks for by itself, answers with an image."""
    page = await (await board.browser.new_context()).new_page()
    refused: list[str] = []
    page.on(
        "response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    await page.goto(board.url + "/")
    await expect(tile(page, "solder-1")).to_be_visible()
    linked = await page.evaluate(
        "fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)"
    )
    assert linked == 200
    icon = await page.goto(board.url + "/favicon.ico")
    assert icon is not None
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(await icon.body()).tag == "{http://www.w3.org/2000/svg}svg"
    assert not refused, refused
