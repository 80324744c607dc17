"""Maintenance by machine-hours end to end: real broker, ingest and InfluxDB, a local
stand-in for Telegram's Bot API and one for a webhook channel. A backfill crosses a
task's interval: staff are told once, each channel in its own language; a restart
tells nobody again and keeps the count; "done" from the phone page (HTTP), the CLI
and the chat's button each resets it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.alerts.bot_api import BotApi
from tests.alerts.conftest import Receiver
from tests.maintenance.conftest import TOKEN
from tests.support import KAZAKH_NAME, RunningIngest, make_config, publish, start_ingest, wait_until

STAFF_GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Staff"}
DAULET = {"id": 42, "is_bot": False, "first_name": "Daulet"}
STAFF_TOKEN = "aigerim-token-0123456789"
TIP = {"kk": "Ұшын тексеру", "ru": "Проверить жало", "en": "Check the tip"}
HOUR_S = 3600.0


def site(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, api: BotApi, receiver: Receiver,
    data: Path,
) -> SiteConfig:  # fmt: skip
    """Solder-1's tip every 2 machine-hours; alerts in Russian, the chat in Kazakh, the
    webhook channel in English."""
    base = make_config(
        mosquitto.port, influxdb.url,
        alerts={
            "language": "ru",
            "rules": [{"rule": "maintenance_due"}],
            "channels": [{"name": "staff", "url": receiver.url("staff"), "language": "en"}],
            "telegram": {"token": TOKEN, "chats": [{"id": STAFF_GROUP["id"], "language": "kk"}],
                         "api_url": api.url},
        },
        http_port=free_port(), maintenance_dir=str(data / "maintenance"),
    )  # fmt: skip
    raw = base.model_dump(mode="json")
    raw["maintenance"] = [
        {"id": "tip", "name": TIP, "devices": ["solder-1"], "every_active_h": 2, "blocking": True}
    ]
    raw["staff"] = [{"name": "Aigerim", "token": STAFF_TOKEN}]
    return SiteConfig.model_validate(raw)


async def backfill(config: SiteConfig, start_s: float, sessions: int) -> None:
    """Sessions of 45 minutes in use, an hour apart, from `start_s`, delivered at once as
    a board delivers what it held."""
    await publish(config.mqtt.port, held_sessions(config.site.id, start_s, sessions))


def held_sessions(site: str, start_s: float, sessions: int) -> list[tuple[str, bytes | str]]:
    """solder-1's states for those sessions, as its board sends them late."""
    topic = f"makerspace/{site}/solder-1/state"
    messages: list[tuple[str, bytes | str]] = []
    for n in range(sessions):
        on_s = start_s + n * 2 * HOUR_S
        messages += [
            (topic, json.dumps({"v": 1, "ts": on_s, "state": "active", "previous": "off",
                                "previous_duration_s": HOUR_S})),
            (topic, json.dumps({"v": 1, "ts": on_s + 2700, "state": "off", "previous": "active",
                                "previous_duration_s": 2700.0})),
        ]  # fmt: skip
    return messages


def url(config: SiteConfig, path: str) -> str:
    return f"http://127.0.0.1:{config.ingest.http_port}{path}"


async def tasks(config: SiteConfig) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url(config, "/machines/solder-1/maintenance"))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["tasks"]
    return result


async def counted(ingest: RunningIngest) -> bool:
    tracker = ingest.service.maintenance
    return tracker is not None and tracker.loaded and bool(ingest.service.alerts)


def chat_texts(api: BotApi) -> list[str]:
    return [m["text"].split("\n")[0] for m in api.sent(STAFF_GROUP["id"])]


def channel_texts(receiver: Receiver) -> list[str]:
    return [b["message"].split("\n")[0] for b in receiver.on("staff")]


FIRED_KK = f"«{KAZAKH_NAME}» (Test space): техникалық қызмет көрсету уақыты келді: Ұшын тексеру."
FIRED_RU = f"«{KAZAKH_NAME}» (Test space): пора провести обслуживание: Проверить жало."
FIRED_EN = f"Maintenance due on {KAZAKH_NAME} at Test space: Check the tip."
DONE_KK = f"«{KAZAKH_NAME}» (Test space): техникалық қызмет көрсету орындалды: Ұшын тексеру."
DONE_EN = f"Maintenance done on {KAZAKH_NAME} at Test space: Check the tip."


async def test_a_backfill_crossing_the_interval_is_told_once_and_done_resets_it(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi,
    receiver: Receiver, tmp_path: Path,
) -> None:  # fmt: skip
    """Test three 45-minute sessions of last week backfilled (2.25 machine-hours against 2):
    one message in the chat (Kazakh, with a "Done" button) and one on the webhook
    (English); after a restart the count is the same and nobody is told again; "done"
    over HTTP resolves it (told in each language) and the count starts again, kept
    across a further restart with who did it."""
    config = site(mosquitto, influxdb, bot_api, receiver, tmp_path)
    ingest = await start_ingest(config)
    week_ago = time.time() - 7 * 24 * HOUR_S
    try:
        await wait_until(lambda: counted(ingest), "the first count")
        changed: list[str] = []

        async def on_change(device: str) -> None:
            changed.append(device)

        assert ingest.service.maintenance is not None
        ingest.service.maintenance.on_change = on_change
        await backfill(config, week_ago, 3)
        await wait_until(lambda: chat_texts(bot_api) and channel_texts(receiver), "the firing")
        assert changed == ["solder-1"], "the access list's publisher hears of it once"
        assert chat_texts(bot_api) == [FIRED_KK]
        assert channel_texts(receiver) == [FIRED_EN]
        buttons = bot_api.sent(STAFF_GROUP["id"])[0]["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Орындалды", "Мен айналысамын"]
        [tip] = await tasks(config)
        assert (tip["used"], tip["due"], tip["last_done_by"]) == (2.25, True, None)
        async with httpx.AsyncClient() as client:  # the floor board's banner, in each language
            [alert] = (await client.get(url(config, "/alerts"))).json()["alerts"]
        assert alert["alert_id"] == "maintenance_due-solder-1-tip"
        assert alert["headlines"] == {"kk": FIRED_KK, "en": FIRED_EN, "ru": FIRED_RU}
        assert tip["names"] == TIP
        tracker = ingest.service.maintenance
        assert tracker is not None
        assert (
            tracker.blocking_overdue("solder-1", int(time.time() * 1000)) == "maintenance due: tip"
        )
        assert tracker.blocking_overdue("printer-1", int(time.time() * 1000)) is None
        await wait_until(lambda: _told_retained(ingest), "the retained alert says staff were told")
    finally:
        await ingest.shutdown()

    ingest = await start_ingest(config)
    try:
        await wait_until(lambda: counted(ingest), "the count after the restart")
        [tip] = await tasks(config)
        assert (tip["used"], tip["due"]) == (2.25, True), "counted again from InfluxDB"
        async with httpx.AsyncClient() as client:
            refused = await client.post(url(config, "/machines/solder-1/maintenance/tip/done"))
            assert refused.status_code == 401
            unknown = await client.post(
                url(config, "/machines/solder-1/maintenance/lens/done"),
                headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
            )
            assert unknown.status_code == 404
            assert "has no maintenance task 'lens'" in unknown.json()["error"]
            done = await client.post(
                url(config, "/machines/solder-1/maintenance/tip/done"),
                headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
            )
        assert done.status_code == 200, done.text
        [tip] = done.json()["tasks"]
        assert (tip["used"], tip["due"], tip["last_done_by"]) == (0.0, False, "Aigerim")
        assert ingest.service.maintenance is not None
        assert (
            ingest.service.maintenance.blocking_overdue("solder-1", int(time.time() * 1000)) is None
        )
        await wait_until(lambda: len(channel_texts(receiver)) == 2, "the resolution")
        await wait_until(lambda: len(chat_texts(bot_api)) == 2, "the resolution in the chat")
        # The firing once, then its resolution: the restart told nobody again.
        assert chat_texts(bot_api) == [FIRED_KK, DONE_KK]
        assert channel_texts(receiver) == [FIRED_EN, DONE_EN]
    finally:
        await ingest.shutdown()

    ingest = await start_ingest(config)
    try:
        await wait_until(lambda: counted(ingest), "the count after the second restart")
        [tip] = await tasks(config)
        assert (tip["used"], tip["due"], tip["last_done_by"]) == (0.0, False, "Aigerim")
    finally:
        await ingest.shutdown()
    assert bot_api.mistakes == []


def _told_retained(ingest: RunningIngest) -> bool:
    assert ingest.service.alerts is not None
    return any(a.notified for a in ingest.service.alerts.engine.alerts.values())


async def test_done_from_the_command_line_and_from_the_chat_resets_the_count(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi,
    receiver: Receiver, tmp_path: Path,
) -> None:  # fmt: skip
    """Test `makerwatch maintenance done` (another process) resolving a due task in the
    running ingest, `maintenance list` showing the count, and the chat's "Done" button
    recording the next one under the name of who pressed it."""
    config = site(mosquitto, influxdb, bot_api, receiver, tmp_path)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True))
    ingest = await start_ingest(config)
    week_ago = time.time() - 7 * 24 * HOUR_S
    try:
        await wait_until(lambda: counted(ingest), "the first count")
        await backfill(config, week_ago, 3)
        await wait_until(lambda: len(channel_texts(receiver)) == 1, "the firing")

        listed = cli(tmp_path, site_file, "list", "--influx", influxdb.url)
        assert listed.splitlines() == [
            "solder-1\ttip\tDUE\t2.25 of 2 machine-hours\tnever done\tCheck the tip"
        ]
        # Done that day, written down on paper, entered now.
        at = datetime.fromtimestamp(week_ago + 7 * HOUR_S, ZoneInfo(config.site.timezone))
        said = cli(tmp_path, site_file, "done", "solder-1", "tip", "--by", "Daulet",
                   "--at", f"{at:%Y-%m-%d %H:%M}")  # fmt: skip
        assert said == "solder-1: tip recorded done by Daulet; its count starts again\n"
        await wait_until(lambda: len(channel_texts(receiver)) == 2, "the resolution")
        assert channel_texts(receiver) == [FIRED_EN, DONE_EN]
        [tip] = await tasks(config)
        assert (tip["used"], tip["due"], tip["last_done_by"]) == (0.0, False, "Daulet")

        await backfill(config, week_ago + 8 * HOUR_S, 3)  # after it was done: due again
        await wait_until(lambda: len(chat_texts(bot_api)) == 3, "the second firing")
        message = bot_api.sent(STAFF_GROUP["id"])[2]
        done_button = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        bot_api.press(DAULET, STAFF_GROUP, 3, done_button)
        await wait_until(lambda: len(chat_texts(bot_api)) == 4, "the resolution in the chat")
        assert chat_texts(bot_api)[2:] == [FIRED_KK, DONE_KK]
        assert (
            bot_api.answers()[0]["text"]
            == "Жазылды: техникалық қызмет көрсетуді Daulet, Telegram 42 орындады."
        )
        [tip] = await tasks(config)
        assert (tip["used"], tip["due"], tip["last_done_by"]) == (0.0, False, "Daulet, Telegram 42")
    finally:
        await ingest.shutdown()


def cli(data: Path, site_file: Path, *args: str) -> str:
    """`makerwatch maintenance ...` as staff run it: a process of its own."""
    command = [sys.executable, "-m", "makerwatch.cli", "maintenance", *args[:1], "--config",
               str(site_file), "--data", str(data), *args[1:]]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout
