""" "On since" is one quantity: the moment the machine was switched on, in every alert
text, in every language, whatever happened to the site's opening hours meanwhile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from makerwatch.alerts.notifier import Notification
from makerwatch.alerts.service import AlertService
from makerwatch.core.points import Point
from makerwatch.core.site_config import Language, SiteConfig
from tests.alerts.test_service import Memory

MIN = 60_000
# Asia/Aqtobe is UTC+5: 10:00-17:00 local, Monday to Saturday.
SATURDAY_CLOSES = int(datetime(2026, 12, 5, 12, tzinfo=UTC).timestamp() * 1000)  # 17:00
MONDAY_0626 = int(datetime(2026, 12, 7, 1, 26, tzinfo=UTC).timestamp() * 1000)  # 06:26
SATURDAY_1405 = SATURDAY_CLOSES - 175 * MIN  # 14:05
EXPECTED = {
    "before_opening": {
        "en": "Soldering station 1 at Makerspace Aktobe was switched on at 06:26, before opening.",
        "ru": "«Паяльная станция 1» (Makerspace Aktobe): включено в 06:26, до открытия.",
        "kk": "«Дәнекерлеу станциясы 1» (Makerspace Aktobe): ашылуға дейін қосылды, уақыты: 06:26.",
    },
    "after_closing": {
        "en": "Soldering station 1 at Makerspace Aktobe has been on since 14:05 and is still on 15 min after closing at 17:00.",
        "ru": "«Паяльная станция 1» (Makerspace Aktobe): включено с 14:05 и не выключено через 15 мин после закрытия в 17:00.",
        "kk": "«Дәнекерлеу станциясы 1» (Makerspace Aktobe): 14:05 бастап қосулы, 17:00 жабылғаннан кейін 15 мин өтсе де өшірілмеді.",
    },
}  # fmt: skip
ON_SINCE_LINE = {"en": "On since {at}, ", "ru": "Включено с {at}, ", "kk": "{at} бастап қосулы, "}


def site() -> SiteConfig:
    days = ("mon", "tue", "wed", "thu", "fri", "sat")
    return SiteConfig.model_validate({
        "site": {"id": "aktobe", "name": "Makerspace Aktobe", "timezone": "Asia/Aqtobe",
                 "opening_hours": {d: ["10:00-17:00"] for d in days}},
        "devices": [{"id": "solder-1", "kind": "soldering_station", "name": {
            "kk": "Дәнекерлеу станциясы 1", "ru": "Паяльная станция 1", "en": "Soldering station 1"}}],
        "alerts": {"rules": [{"rule": "left_on", "kinds": ["soldering_station"],
                              "after_closing_grace_min": 15, "idle_longer_than_min": None,
                              "on_longer_than_min": None}]},
    })  # fmt: skip


class Told:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


async def fired_texts(switched_on_ms: int, until_ms: int) -> dict[Language, str]:
    """What staff are told, in each language, of a station switched on at `switched_on_ms`
    (after a Saturday on which it was off at closing) and still on at `until_ms`."""
    wall = [until_ms]
    told = Told()
    memory = Memory()
    service = AlertService(site(), memory, memory, told, wall=lambda: wall[0])  # type: ignore[arg-type]
    await service.handle(service.ready_topic, b"1", retained=False)
    tags = {"site": "aktobe", "device": "solder-1"}
    points = [Point("state", tags, {"state": "off"}, SATURDAY_CLOSES - 300 * MIN)]
    points.append(
        Point("state", tags, {"state": "idle", "on_since_ms": switched_on_ms}, switched_on_ms)
    )
    points += [
        Point("telemetry", tags, {"power_w": 8.0}, t) for t in range(switched_on_ms, until_ms, MIN)
    ]
    for point in points:  # live: each as it happens
        wall[0] = point.time_ms
        await service.observe([point])
    [fired] = [n for n in told.sent if n.alert_id]
    return {language: fired.body(language) for language in ("kk", "ru", "en")}


@pytest.mark.parametrize(
    ("case", "switched_on", "until"),
    [("before_opening", MONDAY_0626, MONDAY_0626 + 20 * MIN),
     ("after_closing", SATURDAY_1405, SATURDAY_CLOSES + 20 * MIN)],
)  # fmt: skip
def test_left_on_says_when_it_was_switched_on_in_every_language(
    case: str, switched_on: int, until: int
) -> None:
    """Test that an iron switched on on Monday at 06:26, before opening, reads as such (not
    "since Saturday's closing"), and one on since 14:05 and left on after closing says both,
    in kk, ru and en, with the durations counted from the switch-on."""
    texts = asyncio.run(fired_texts(switched_on, until))
    at = "06:26" if case == "before_opening" else "14:05"
    for language, text in texts.items():
        headline, second = text.split("\n")[:2]
        assert headline == EXPECTED[case][language]
        assert second.startswith(ON_SINCE_LINE[language].format(at=at)), second
        assert "05.12" not in text, "nothing counted from Saturday's closing"
