"""A flapping alert against both real channel paths (apprise's json:// to a local HTTP
endpoint, the staff chat to the Bot API stand-in) and through ingest from a real
broker: it cannot hold back another station's alert, it yields one message with its
latest state, and the outboxes stay small."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from makerwatch.alerts.notifier import OUTBOX_SIZE, Notification, Notifier
from makerwatch.alerts.telegram import ActionResult, StaffChat
from makerwatch.core.site_config import Channel, Language, Severity, TelegramBot
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.alerts.bot_api import BotApi, serve
from tests.alerts.conftest import Receiver
from tests.support import make_config, publish, start_ingest, wait_until

TOKEN = "123456789:AAE-makerwatch-test-token-0123"
STAFF_GROUP = -1001234567890
FLAPPING = "over_temperature-solder-1"
REAL = "over_temperature-solder-2"
PER_MINUTE = 120.0  # both channels: a message every 0.5 s keeps the test short


class NoActions:
    """Nobody presses anything in these tests."""

    async def acknowledge_from_chat(
        self, alert_id: str, by: str, snooze_min: float | None
    ) -> tuple[ActionResult, str]:
        raise AssertionError("no button is pressed")

    async def switch_off_from_chat(self, alert_id: str, by: str) -> tuple[ActionResult, str]:
        raise AssertionError("no button is pressed")

    def machines_on(self, language: Language) -> list[str]:
        return []


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApi]:
    api = BotApi(TOKEN, free_port())
    runner = await serve(api)
    yield api
    await runner.cleanup()


def fired(alert_id: str, temp_c: float) -> Notification:
    """As the alert service builds them: the alert holds, with its actions."""
    return Notification("over_temperature", "Makerwatch", lambda _language: f"{alert_id} hot {temp_c:.0f} °C",
                        Severity.SAFETY, alert_id=alert_id, about=alert_id)  # fmt: skip


def resolved(alert_id: str) -> Notification:
    return Notification("over_temperature", "Makerwatch", lambda _language: f"{alert_id} back to normal",
                        Severity.INFO, about=alert_id)  # fmt: skip


async def test_a_flapping_alert_delays_another_alert_by_one_send_at_most(
    receiver: Receiver, bot_api: BotApi
) -> None:
    """Test that after 600 alternating fired/resolved notifications of one alert, another
    station's alert is among the first two messages on each channel, the flapping alert
    yields two messages (the first, then its latest state after its last firing), and no
    more than two messages ever wait per channel."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=PER_MINUTE)
    settings = TelegramBot(token=TOKEN, chats=[STAFF_GROUP], api_url=bot_api.url,
                           max_per_minute=PER_MINUTE)  # fmt: skip
    chat = StaffChat(settings, NoActions(), "ru")
    await chat.run()
    notifier = Notifier([channel], "ru")
    notifier.add(chat.route)
    notifier.start()
    try:
        notifier.send(fired(FLAPPING, 460))
        await wait_until(
            lambda: receiver.on("staff") and bot_api.sent(), "the first firing on both channels"
        )
        for i in range(1, 600):
            notifier.send(resolved(FLAPPING) if i % 2 else fired(FLAPPING, 460 + i % 7))
        notifier.send(fired(REAL, 520))
        assert notifier.waiting() == {"staff": 2, "telegram": 2}, "one message per alert"
        assert notifier.coalesced == {"staff": 598, "telegram": 598}
        await wait_until(
            lambda: len(receiver.on("staff")) == 3 and len(bot_api.sent()) == 3,
            "both alerts' messages on both channels",
        )
    finally:
        await notifier.close()
        await chat.stop()
    last_hot = f"{FLAPPING} hot {460 + 598 % 7} °C"
    expected = [f"{FLAPPING} hot 460 °C", f"{REAL} hot 520 °C", f"{last_hot}\n\n{FLAPPING} back to normal"]  # fmt: skip
    assert [b["message"] for b in receiver.on("staff")] == expected
    messages = bot_api.sent()
    assert [m["text"] for m in messages] == expected
    assert [
        m["reply_markup"]["inline_keyboard"][0][0]["callback_data"] if "reply_markup" in m else None
        for m in messages
    ] == [f"ack:{FLAPPING}", f"ack:{REAL}", None], "buttons only while the alert holds"
    assert notifier.dropped == {}
    assert bot_api.mistakes == []


async def test_a_storm_of_distinct_alerts_stays_within_the_outbox(receiver: Receiver) -> None:
    """Test that however many alerts fire while a channel is busy, no more than the outbox
    size wait: the oldest are dropped and counted as safety, the newest are sent."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=PER_MINUTE)
    notifier = Notifier([channel], "ru", outbox_size=5)
    for n in range(1_000):
        notifier.send(fired(f"left_on-station-{n}", 300))
    assert notifier.waiting() == {"staff": 5}
    assert notifier.dropped_by_severity == {("staff", "safety"): 995}
    notifier.start()
    await notifier.close()
    assert [b["message"] for b in receiver.on("staff")] == [
        f"left_on-station-{n} hot 300 °C" for n in range(995, 1_000)
    ]


async def test_a_board_flapping_its_temperature_leaves_another_stations_alert_next(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, receiver: Receiver
) -> None:
    """Test the attack end to end through ingest: while solder-1's first alert is on its
    way, 599 more readings flip it between 460 and 400 °C, then printer-1 reads 520 °C;
    printer-1's alert is the next message, and what waits stays within the outbox."""
    config = make_config(mosquitto.port, influxdb.url, alerts={
        "language": "en",
        "rules": [{"rule": "over_temperature", "above_c": 450}],
        # /hang holds the first delivery until the test lets it go.
        "channels": [{"name": "staff", "url": receiver.url("hang"), "max_per_minute": 6000}],
    })  # fmt: skip
    site = config.site.id

    def reading(device: str, seq: int, temp_c: float) -> tuple[str, str]:
        payload = {"v": 1, "seq": seq, "power_w": 40.0, "temp_c": temp_c}
        return f"makerspace/{site}/{device}/telemetry", json.dumps(payload)

    ingest = await start_ingest(config)
    try:
        await publish(mosquitto.port, [reading("solder-1", 0, 460)])
        await wait_until(lambda: len(receiver.on("hang")) == 1, "solder-1's alert on its way")
        flapping = [reading("solder-1", i, 400 if i % 2 else 460) for i in range(1, 600)]
        await publish(mosquitto.port, [*flapping, reading("printer-1", 1, 520)])
        await wait_until(
            lambda: any(a["device"] == "printer-1" for a in ingest.service.active_alerts()),
            "printer-1's alert",
        )
        notifier = ingest.service.notifier
        assert notifier.waiting()["staff"] <= OUTBOX_SIZE
        assert set(notifier.dropped_by_severity) <= {("staff", "info")}, "all-clears only"
        receiver.hang.set()
        await wait_until(lambda: len(receiver.on("hang")) >= 2, "the next message")
    finally:
        receiver.hang.set()
        await ingest.shutdown()
    first, second = (body["message"] for body in receiver.on("hang")[:2])
    assert "is too hot: 460 °C" in first
    assert second.startswith('Prusa "MK4" = #1\\b at Test space is too hot: 520 °C.')
