"""Round three of attacks on the running daemons: members' cards, staff invites, the
machine page and the actions that wait for a board, each against the real broker,
ingest, InfluxDB and Chromium. Each test is one attack and what stops it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from makerwatch.core.cards import card_key, parse_uid
from makerwatch.core.protocol import AccessMode
from makerwatch.members.store import FILE_NAME, MembersStore
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.api.test_board import CHROMIUM, TOKEN, Board, board_config, state, tile
from tests.support import publish, start_ingest, wait_until

pytestmark = pytest.mark.stack

SECRET = "test-card-secret-0123456789abcdef-0123"
AIGERIM = card_key(SECRET, parse_uid("04:A3:2B:1C"))


@pytest.fixture
async def named_board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> AsyncIterator[Board]:
    """The board of a site that shows members' names, with a staff token; solder-1
    reads cards and Aigerim is trained on it."""
    config = board_config(mosquitto, influxdb)
    devices = [config.devices[0].model_copy(update={"access": AccessMode.ENFORCE}),
               config.devices[1]]  # fmt: skip
    members = config.members.model_copy(
        update={"show_names": True, "store": str(tmp_path / FILE_NAME)}
    )
    config = config.model_copy(update={"devices": devices, "members": members})
    store = MembersStore(tmp_path / FILE_NAME)
    store.train(store.add("Aigerim Serikova", 0, keys=(AIGERIM,)), "solder-1", None)
    store.close()
    running = await start_ingest(config)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield Board(config, running, f"http://127.0.0.1:{config.ingest.http_port}", browser)
        await browser.close()
    if not running.task.done():
        await running.shutdown()


async def first_event(http: httpx.AsyncClient) -> str:
    """The stream's first event (the snapshot), as any screen on the wall gets it."""
    async with http.stream("GET", "/board-events") as events:
        text = ""
        async for chunk in events.aiter_text():
            text += chunk
            if "\n\n" in text.split("event: snapshot", 1)[-1]:
                return text
    return text


async def status(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`makerwatch status` in a process of its own, as staff run it on the server (in a
    thread: the server it asks runs in this event loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "makerwatch.cli", "status", "--http", address, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_a_members_name_is_shown_to_staff_only(named_board: Board) -> None:
    """Test that with show_names on, a visitor at the wall screen (the page, its stream,
    /machines, a machine's page, the members' page) sees that solder-1 is in use but
    never by whom, a wrong token is refused rather than answered without names, and a
    signed-in staff phone names the member."""
    board = named_board
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "tap"), json.dumps({"v": 1, "ts": time.time(), "seq": 1,
                                                      "key": AIGERIM, "result": "allowed", "mode": "enforce"})),
        (board.topic("solder-1", "state"), state("active", "off")),
    ])  # fmt: skip
    staff = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=board.url) as http:

        async def named() -> object:
            machines = (await http.get("/machines", headers=staff)).json()["machines"]
            return next(m for m in machines if m["device"] == "solder-1")["in_use_by"]

        await wait_until(lambda: named(), "staff see who is at solder-1")
        assert await named() == "Aigerim S."
        public = [
            (await http.get("/machines")).text,
            (await http.get("/machines/solder-1")).text,
            (await http.get("/members")).text,
            (await http.get("/")).text,
            await first_event(http),
        ]
        assert '"active"' in public[0], "the machine is in use, that much is public"
        for answer in public:
            assert "Aigerim" not in answer, answer[:300]
        wrong = await http.get("/machines", headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401
        page = (await http.get("/machines/solder-1", headers=staff)).json()
        assert page["tile"]["in_use_by"] == "Aigerim S."
    address = board.url.removeprefix("http://")
    assert "Aigerim S." in (await status(address, "--token", TOKEN)).stdout
    assert "Aigerim" not in (await status(address)).stdout
    refused = await status(address, "--token", "not-a-token")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr

    kiosk = await board.page("/?kiosk=1&lang=en")
    await expect(tile(kiosk, "solder-1")).to_contain_text("on since")
    phone = await board.page("/?lang=en")
    await phone.locator("#staff-button").click()
    await phone.locator("#token").fill(TOKEN)
    await phone.locator("#sign-in").click()
    await expect(tile(phone, "solder-1")).to_contain_text("Aigerim S.")
    await expect(tile(kiosk, "solder-1")).not_to_contain_text("Aigerim")
    assert phone.errors == []  # type: ignore[attr-defined]
    assert kiosk.errors == []  # type: ignore[attr-defined]
