"""Staff phones signed in by a one-time link: `makerwatch staff invite` (its own process)
against the real broker, ingest and InfluxDB, the phone being Debian's Chromium."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.async_api import expect

from makerwatch.api.board_texts import BOARD_TEXTS
from makerwatch.api.invites import InviteRefused, StaffDevices
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.api.test_board import STAFF, TOKEN, Board, board_config, board_running, state, tile
from tests.support import mqtt_client, publish, wait_until

pytestmark = pytest.mark.stack

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# What Chrome on an Android phone sends: `staff list` shows it as "Chrome on Android".
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36")  # fmt: skip


@pytest.fixture
async def board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> AsyncIterator[Board]:
    """The board's site, with ingest's data folder in tmp_path (its spool's parent)."""
    config = board_config(mosquitto, influxdb)
    config = config.model_copy(update={
        "ingest": config.ingest.model_copy(update={"spool_dir": str(tmp_path / "spool")}),
    })  # fmt: skip
    (tmp_path / "site.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), allow_unicode=True),
        encoding="utf-8",
    )
    async with board_running(config) as board:
        yield board


def staff_command(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`makerwatch staff ...` in a process of its own, as the volunteer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "staff", *args,
         "--config", str(folder / "site.yaml"), "--data", str(folder)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_an_invite_signs_one_phone_in_until_revoked(board: Board, tmp_path: Path) -> None:
    """Test that an invite link signs a phone in (the code leaves the address bar, the
    device token is stored only as a digest), the phone acts, a second phone cannot use
    the same link, `staff list` shows the phone, and once revoked its actions are refused
    while the site file's token still works."""
    invited = staff_command(
        tmp_path, "invite", STAFF.lower(), "--url", board.url, "--png", str(tmp_path / "qr.png")
    )
    assert invited.returncode == 0, invited.stderr
    link = re.search(r"http://\S+#invite=[\w-]+", invited.stdout)
    assert link is not None, invited.stdout
    assert "█" in invited.stdout, "the QR code in the terminal"
    picture = tmp_path / "qr.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_mode & 0o077 == 0, "the picture signs someone in: owner only"

    await publish(
        board.config.mqtt.port, [(board.topic("solder-1", "state"), state("idle", "off"))]
    )
    phone = await (await board.browser.new_context(**PHONE, user_agent=ANDROID_CHROME)).new_page()
    await phone.goto(link.group(0).replace("/#", "/?lang=en#"))
    await expect(phone.locator("#staff-button")).to_have_text("Sign out")
    assert "invite" not in phone.url, "the one-time code is dropped from the address bar"
    device_token = await phone.evaluate("localStorage.getItem('makerwatch.token')")
    stored_text = (tmp_path / "spool" / "staff-devices.json").read_text(encoding="utf-8")
    assert device_token
    assert device_token not in stored_text, "only a digest is kept"
    assert link.group(0).split("=")[-1] not in stored_text

    commands: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with mqtt_client(board.config.mqtt.port) as client:
            await client.subscribe(board.topic("+", "cmd/#"), qos=1)
            ready.set()
            async for message in client.messages:
                commands.append((message.topic.value, json.loads(message.payload)))  # type: ignore[arg-type]

    listener = asyncio.create_task(listen())
    await ready.wait()
    await tile(phone, "solder-1").locator("button.identify").click()
    await wait_until(lambda: len(commands) == 1, "the identify command from the phone")
    listener.cancel()
    assert commands[0][0] == board.topic("solder-1", "cmd/identify")

    second = await (await board.browser.new_context(**PHONE)).new_page()
    await second.goto(link.group(0).replace("/#", "/?lang=en#"))
    await expect(second.locator("#toast")).to_have_text(BOARD_TEXTS["invite_refused"]["en"])
    await expect(second.locator("#staff-button")).to_have_text("Staff")
    await expect(second.locator("button.identify")).to_have_count(0)

    listed = staff_command(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    phones, _ = StaffDevices(tmp_path).listed(0)
    assert len(phones) == 1
    assert f"phone {phones[0].device_id}: signed in" in listed.stdout
    # The phone's browser, to tell phones apart, in words rather than its whole string.
    assert "; Chrome on Android\n" in listed.stdout, listed.stdout
    assert "Mozilla" not in listed.stdout

    revoked = staff_command(tmp_path, "revoke", STAFF)
    assert revoked.returncode == 0, revoked.stderr
    assert "1 phone(s) signed out" in revoked.stdout
    assert "Their token in the site file still works" in revoked.stdout
    await tile(phone, "solder-1").locator("button.identify").click()
    await expect(phone.locator("#toast")).to_contain_text(BOARD_TEXTS["error_bad_token"]["en"])
    async with httpx.AsyncClient(base_url=board.url) as http:
        bearer = {"Authorization": f"Bearer {device_token}"}
        assert (await http.get("/staff/me", headers=bearer)).status_code == 401
        script = {"Authorization": f"Bearer {TOKEN}"}
        assert (await http.get("/staff/me", headers=script)).json() == {"name": STAFF}
    await phone.reload()
    await expect(phone.locator("#staff-button")).to_have_text("Staff")
    await expect(phone.locator("button.identify")).to_have_count(0)


def test_an_invite_names_a_staff_member_of_the_site_file(tmp_path: Path) -> None:
    """Test that inviting someone who is not on the staff, or on a site without staff,
    is one line naming who there is, and that without a running up the link needs --url."""
    site = {"site": {"id": "t", "name": "T"},
            "devices": [{"id": "solder-1", "name": "S", "kind": "soldering_station"}],
            "staff": [{"name": STAFF, "token": TOKEN}]}  # fmt: skip
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    unknown = staff_command(tmp_path, "invite", "Nobody", "--url", "http://10.0.0.2:8090")
    assert unknown.returncode == 1
    assert (
        unknown.stderr
        == f"makerwatch: {tmp_path / 'site.yaml'}: no staff member 'Nobody' (staff: {STAFF})\n"
    )
    no_url = staff_command(tmp_path, "invite", STAFF)
    assert no_url.returncode == 1
    assert "give --url" in no_url.stderr
    assert len(no_url.stderr.splitlines()) == 1
    site["staff"] = []
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    none = staff_command(tmp_path, "invite", STAFF, "--url", "http://10.0.0.2:8090")
    assert none.stderr == (
        f"makerwatch: {tmp_path / 'site.yaml'}: no staff yet: add them under staff: first "
        "(docs/operations.md)\n"
    )


def test_links_and_phones_expire_and_expired_ones_are_dropped(tmp_path: Path) -> None:
    """Test that a link opened after its day is refused, a phone past its time is no
    longer anyone's, and the file keeps neither once written again."""
    devices, day_ms = StaffDevices(tmp_path), 24 * 3_600_000
    late = devices.invite(STAFF, now_ms=0)
    with pytest.raises(InviteRefused):
        devices.redeem(late, "Chrome", now_ms=day_ms)
    name, token = devices.redeem(devices.invite(STAFF, now_ms=0), "Chrome", now_ms=1)
    assert name == STAFF
    assert devices.named_by(token, now_ms=2) == STAFF
    assert devices.named_by(token, now_ms=1 + 90 * day_ms) is None
    devices.invite(STAFF, now_ms=1 + 90 * day_ms)
    phones, invites = devices.listed(0)  # as of 0, so that only dropping explains the count
    assert (phones, len(invites)) == ([], 1)
