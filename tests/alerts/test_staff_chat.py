"""The staff chat end to end: real broker, ingest and InfluxDB, and a local stand-in for
Telegram's Bot API that checks every request against the documented parameters."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator

import aiomqtt
import pytest

from makerwatch.alerts.telegram import StaffChat
from makerwatch.core.site_config import MachineKind, RuleName, SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.alerts.bot_api import BotApi, serve
from tests.support import make_config, publish, start_ingest, stored, wait_until

TOKEN = "123456789:AAE-makerwatch-test-token-0123"
STAFF_GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Staff"}
AIGERIM = {"id": 501, "is_bot": False, "first_name": "Айгерім", "last_name": "Сейітова"}
DAULET = {"id": 42, "is_bot": False, "first_name": "Daulet"}
STRANGER = {"id": 999, "is_bot": False, "first_name": "Visitor"}
# A member of the staff group who set their Telegram name to a colleague's.
IMPOSTOR = {
    "id": 777,
    "is_bot": False,
    "first_name": "Айгерім",
    "last_name": "Сейітова\n, Telegram 501",
}


def private(user: dict[str, object]) -> dict[str, object]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApi]:
    api = BotApi(TOKEN, free_port())
    runner = await serve(api)
    yield api
    await runner.cleanup()


def chat_config(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, api: BotApi
) -> SiteConfig:
    base = make_config(mosquitto.port, influxdb.url, alerts={
        "language": "ru",
        "rules": [{"rule": "over_temperature", "devices": ["solder-1"], "above_c": 450}],
        "telegram": {"token": TOKEN, "chats": [STAFF_GROUP["id"]], "users": [DAULET["id"]],
                     "api_url": api.url},
    })  # fmt: skip
    relay = {"relay_pin": 26, "relay_active_high": False}
    solder = base.devices[0].model_copy(update={"board": relay})
    return base.model_copy(update={"devices": [solder, *base.devices[1:]]})


async def test_staff_act_on_an_alert_from_the_chat_and_strangers_cannot(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi
) -> None:
    """Test the alert arriving with its three buttons, a stranger refused, staff acknowledging
    (announced, recorded under their name), a second press told who did, switching off from
    a private chat (the relay command goes out), and /status."""
    config = chat_config(mosquitto, influxdb, bot_api)
    site = config.site.id
    ingest = await start_ingest(config)
    try:
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as board:
            await board.subscribe(f"makerspace/{site}/solder-1/cmd/relay", qos=1)
            now = time.time()
            await publish(mosquitto.port, [
                (f"makerspace/{site}/solder-1/state", json.dumps({"v": 1, "ts": now - 600, "state": "active"})),
                (f"makerspace/{site}/solder-1/telemetry",
                 json.dumps({"v": 1, "ts": now, "seq": 1, "power_w": 40.0, "temp_c": 480.0})),
            ])  # fmt: skip
            await wait_until(
                lambda: bot_api.sent(STAFF_GROUP["id"]), "the alert in the staff group"
            )
            [alert] = bot_api.sent(STAFF_GROUP["id"])
            assert alert["text"].startswith(
                "«Дәнекерлеу станциясы 1, үстел А» (Test space): перегрев, 480 °C."
            )
            buttons = alert["reply_markup"]["inline_keyboard"][0]
            assert [b["text"] for b in buttons] == ["Беру на себя", "Выключить", "Отложить на 1 ч"]
            ack, off, _snooze = (b["callback_data"] for b in buttons)

            bot_api.press(STRANGER, private(STRANGER), 1, ack)
            await wait_until(lambda: len(bot_api.answers()) == 1, "the stranger's answer")
            assert bot_api.answers()[0]["text"] == "Это могут делать только сотрудники."
            assert ingest.service.active_alerts()[0]["acked_by"] is None

            bot_api.press(AIGERIM, STAFF_GROUP, 1, ack)
            await wait_until(lambda: len(bot_api.answers()) == 2, "Aigerim's answer")
            assert bot_api.answers()[1]["text"] == "Отмечено: занимаетесь вы."
            await wait_until(lambda: len(bot_api.sent(STAFF_GROUP["id"])) == 2, "the announcement")
            announced = bot_api.sent(STAFF_GROUP["id"])[1]
            assert announced["text"].startswith("«Дәнекерлеу")
            assert "): занимается Айгерім Сейітова, Telegram 501." in announced["text"]
            assert "reply_markup" not in announced

            bot_api.press(DAULET, STAFF_GROUP, 1, ack)
            await wait_until(lambda: len(bot_api.answers()) == 3, "the second press's answer")
            assert bot_api.answers()[2]["text"] == "Занимается: Айгерім Сейітова, Telegram 501."

            bot_api.press(DAULET, private(DAULET), 1, off)
            command = await anext(aiter(board.messages))
            assert json.loads(command.payload) == {"v": 1, "on": False, "reason": "staff"}
            await wait_until(lambda: len(bot_api.answers()) == 4, "the switch-off's answer")
            assert bot_api.answers()[3]["text"] == "Отключаем."

            bot_api.command(DAULET, private(DAULET), "/status")
            await wait_until(lambda: bot_api.sent(DAULET["id"]), "the status reply")
            status = bot_api.sent(DAULET["id"])[0]["text"]
            assert status.startswith(
                "Сейчас включено:\n• «Дәнекерлеу станциясы 1, үстел А»: в работе, "
            )
            # "on since · for" as `makerwatch status` prints it (core/time_words.py).
            # Just after the site's midnight the time comes with its date ("07.12 23:56").
            assert re.search(r"в работе, включено с (\d\d\.\d\d )?\d\d:\d\d · уже \d", status), (
                status
            )
        async with InfluxClient(config.influxdb) as influx:
            rows = await stored(
                influx, "SELECT acked_by, status FROM alert WHERE status = 'acknowledged'"
            )
        assert [r["acked_by"] for r in rows] == ["Айгерім Сейітова, Telegram 501"]
    finally:
        await ingest.shutdown()
    assert bot_api.mistakes == [], "every request as the Bot API documents it"


async def test_forged_button_data_is_refused_and_a_borrowed_name_keeps_its_own_id(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi
) -> None:
    """Test that button data the bot never sends (unknown actions, no alert) is answered
    and changes nothing, and that a group member named like a colleague is recorded with
    their own Telegram id, on one line."""
    config = chat_config(mosquitto, influxdb, bot_api)
    site = config.site.id
    ingest = await start_ingest(config)
    try:
        now = time.time()
        await publish(mosquitto.port, [
            (f"makerspace/{site}/solder-1/telemetry",
             json.dumps({"v": 1, "ts": now, "seq": 1, "power_w": 40.0, "temp_c": 480.0})),
        ])  # fmt: skip
        await wait_until(lambda: bot_api.sent(STAFF_GROUP["id"]), "the alert in the staff group")
        [alert] = ingest.service.active_alerts()
        forged = [
            f"{action}:{alert['alert_id']}"
            for action in ("delete", "ACK", "", "ack ", "acknowledge")
        ]
        for n, data in enumerate([*forged, alert["alert_id"], ":"], start=1):
            bot_api.press(AIGERIM, STAFF_GROUP, 1, data)
            await wait_until(lambda n=n: len(bot_api.answers()) == n, f"the answer to {data!r}")
            answer = bot_api.answers()[-1]
            assert answer["text"] == "Это не кнопка бота; ничего не сделано.", data
        assert ingest.service.active_alerts()[0]["acked_by"] is None
        assert len(bot_api.sent(STAFF_GROUP["id"])) == 1, "nothing announced"

        bot_api.press(IMPOSTOR, STAFF_GROUP, 1, f"ack:{alert['alert_id']}")
        await wait_until(lambda: ingest.service.active_alerts()[0]["acked_by"], "the ack")
        by = ingest.service.active_alerts()[0]["acked_by"]
        assert by == "Айгерім Сейітова , Telegram 501, Telegram 777"
        assert by.endswith(f", Telegram {IMPOSTOR['id']}")
    finally:
        await ingest.shutdown()
    assert bot_api.mistakes == [], "every request as the Bot API documents it"


KK_GROUP = {"id": -1009876543210, "type": "supergroup", "title": "Шеберхана"}
HOT = {"v": 1, "seq": 1, "power_w": 40.0, "temp_c": 480.0}


def two_chat_config(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, api: BotApi
) -> SiteConfig:
    """A Russian and a Kazakh staff group served by one bot; a station with a relay, one
    without, and a printer with a relay (which Makerwatch never switches off)."""
    base = make_config(mosquitto.port, influxdb.url)
    relay = {"relay_pin": 26, "relay_active_high": False}
    devices = [
        {"id": "solder-1", "name": "Станция 1", "kind": "soldering_station", "board": relay},
        {"id": "solder-2", "name": "Станция 2", "kind": "soldering_station"},
        {"id": "printer-1", "name": "Prusa 1", "kind": "printer_3d", "board": relay},
    ]
    alerts = {
        "language": "ru",
        "rules": [{"rule": "over_temperature", "above_c": 450}],
        "telegram": {"token": TOKEN, "users": [DAULET["id"]], "api_url": api.url,
                     "chats": [STAFF_GROUP["id"], {"id": KK_GROUP["id"], "language": "kk"}]},
    }  # fmt: skip
    return SiteConfig.model_validate({
        **base.model_dump(mode="json", exclude_none=True), "devices": devices, "alerts": alerts,
    })  # fmt: skip


async def test_one_bot_serves_two_groups_each_in_its_language_with_only_buttons_that_work(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, bot_api: BotApi
) -> None:
    """Test that the command menu is set in each group's language, that each alert reaches
    both groups in their own languages with no API path, switch-off offered only on the
    station with a relay (not on one without, never on a printer), a forged switch-off of
    the printer refused, and /start, /help and /status answered in the chat's language."""
    config = two_chat_config(mosquitto, influxdb, bot_api)
    site = config.site.id
    ingest = await start_ingest(config)
    try:
        await wait_until(lambda: len(bot_api.menus()) == 3, "the command menus")
        menus = {str(m.get("scope", {}).get("chat_id", "default")): m for m in bot_api.menus()}
        assert [c["command"] for c in menus["default"]["commands"]] == ["status", "help"]
        assert menus["default"]["commands"][0]["description"] == "Что сейчас включено"
        assert menus[str(STAFF_GROUP["id"])]["commands"][0]["description"] == "Что сейчас включено"
        assert menus[str(KK_GROUP["id"])]["commands"][0]["description"] == "Қазір қосулы жабдық"

        now = time.time()
        await publish(mosquitto.port, [
            (f"makerspace/{site}/{device.id}/telemetry", json.dumps({**HOT, "ts": now}))
            for device in config.devices
        ])  # fmt: skip
        for group in (STAFF_GROUP, KK_GROUP):
            await wait_until(
                lambda g=group: len(bot_api.sent(g["id"])) == 3, f"three alerts in {group}"
            )
        expected = {"solder-1": ["ack", "off", "snooze"], "solder-2": ["ack", "snooze"],
                    "printer-1": ["ack", "snooze"]}  # fmt: skip
        labels = {"ru": ["Беру на себя", "Выключить", "Отложить на 1 ч"],
                  "kk": ["Мен айналысамын", "Өшіру", "1 сағатқа кейінге қалдыру"]}  # fmt: skip
        for group, language, hot in (
            (STAFF_GROUP, "ru", "перегрев"),
            (KK_GROUP, "kk", "қатты қызып"),
        ):
            for sent in bot_api.sent(group["id"]):
                assert hot in sent["text"], (language, sent["text"])
                assert "/alerts/" not in sent["text"]
                buttons = sent["reply_markup"]["inline_keyboard"][0]
                actions = [b["callback_data"].split(":")[0] for b in buttons]
                device = buttons[0]["callback_data"].removeprefix("ack:over_temperature-")
                assert actions == expected[device], (group["id"], device, actions)
                everything = dict(zip(["ack", "off", "snooze"], labels[language], strict=True))
                assert [b["text"] for b in buttons] == [everything[a] for a in actions]

        bot_api.press(AIGERIM, KK_GROUP, 1, "off:over_temperature-printer-1")
        await wait_until(lambda: len(bot_api.answers()) == 1, "the refusal")
        assert bot_api.answers()[0]["text"] == "Makerwatch бұл жабдықты өшірмейді."

        bot_api.command(AIGERIM, KK_GROUP, "/start")
        bot_api.command(STRANGER, private(STRANGER), "/help")
        bot_api.command(AIGERIM, KK_GROUP, "/status")
        await wait_until(lambda: len(bot_api.sent(KK_GROUP["id"])) == 5, "the Kazakh replies")
        await wait_until(lambda: bot_api.sent(STRANGER["id"]), "the stranger's help")
        start, status = (m["text"] for m in bot_api.sent(KK_GROUP["id"])[3:])
        assert start.startswith("Мен мұнда шеберхананың ескертулерін")
        assert "/status" in start
        assert "/help" in start
        assert bot_api.sent(STRANGER["id"])[0]["text"].startswith("Я присылаю сюда оповещения")
        assert status.startswith(("Қазір қосулы:", "Барлығы өшірулі.")), status
        assert ingest.service.active_alerts()[0]["acked_by"] is None
    finally:
        await ingest.shutdown()
    assert bot_api.mistakes == [], "every request as the Bot API documents it"


def test_switch_off_is_offered_on_every_kind_of_alert_only_where_it_can_work() -> None:
    """Test that, for every rule, an alert offers acknowledge and snooze, and switch-off
    only on a machine with a relay that is not a 3D printer; a maintenance alert (told
    once, about no danger) offers "Done" and acknowledge."""
    config = SiteConfig.model_validate({
        "site": {"id": "s", "name": "S"},
        "devices": [
            {"id": f"{kind.value.replace('_', '-')}-{relay}", "name": "x", "kind": kind.value,
             "board": {"relay_pin": 26, "relay_active_high": False} if relay == "relay" else {}}
            for kind in MachineKind for relay in ("relay", "bare")
        ],
        "alerts": {"telegram": {"token": TOKEN, "chats": [1]}},
    })  # fmt: skip
    assert config.alerts.telegram is not None
    chat = StaffChat(config.alerts.telegram, None, "ru", config.devices)  # type: ignore[arg-type]
    for rule in RuleName:
        for device in config.devices:
            buttons = chat.buttons(f"{rule.value}-{device.id}", "ru")
            if rule is RuleName.MAINTENANCE_DUE:
                assert buttons == ["done", "ack"], device.id
                continue
            can = device.id.endswith("-relay") and device.kind is not MachineKind.PRINTER_3D
            assert buttons == (["ack", "off", "snooze"] if can else ["ack", "snooze"]), device.id
