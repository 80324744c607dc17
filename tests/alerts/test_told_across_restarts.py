"""An active alert whose firing never reached staff (ingest stopped while it waited) is
sent after a restart, once; one that reached them is not sent again."""

from __future__ import annotations

from makerwatch.alerts.notifier import Notification
from makerwatch.alerts.service import AlertService
from makerwatch.core.points import Point
from tests.alerts.test_engine import OPENS, config
from tests.alerts.test_service import Memory
from tests.support import wait_until


class Channel:
    """A Notifier whose one channel delivers only when told to (a storm, a slow chat)."""

    def __init__(self) -> None:
        self.waiting: list[Notification] = []
        self.delivered: list[str] = []

    def send(self, notification: Notification) -> None:
        self.waiting.append(notification)

    def deliver_all(self) -> None:
        for note in self.waiting:
            self.delivered.append(note.about or "")
            if note.delivered is not None:
                note.delivered()
        self.waiting.clear()


async def restarted(memory: Memory, channel: Channel, wall: list[int]) -> AlertService:
    """A new service, given back the retained alert topics the last one left."""
    retained: dict[str, str | bytes] = {}
    for topic, payload in memory.published:
        retained[topic] = payload
    service = AlertService(config(), memory, memory, channel, wall=lambda: wall[0])  # type: ignore[arg-type]
    for topic, payload in retained.items():
        if payload and "/alerts/" in topic:
            await service.handle(
                topic, payload.encode() if isinstance(payload, str) else payload, True
            )
    await service.handle(service.ready_topic, b"1", retained=False)
    return service


async def test_a_firing_that_never_reached_staff_is_sent_after_a_restart_once() -> None:
    """Test a station hot enough to fire whose message is still waiting when ingest stops:
    after a restart it is sent once; after a further restart, delivered, it is not."""
    memory, channel = Memory(), Channel()
    wall = [OPENS + 60_000]
    first = AlertService(config(), memory, memory, channel, wall=lambda: wall[0])  # type: ignore[arg-type]
    await first.handle(first.ready_topic, b"1", retained=False)
    hot = Point("telemetry", {"site": "aktobe", "device": "solder-1"}, {"temp_c": 480.0}, wall[0])
    await first.observe([hot])
    assert [n.about for n in channel.waiting] == ["over_temperature-solder-1"]
    channel.waiting.clear()  # ingest stops before the channel delivered it

    wall[0] += 60_000
    second = await restarted(memory, channel, wall)
    wall[0] += 5_000
    await second.observe([])  # its machine has settled: what it never delivered is sent now
    assert [n.about for n in channel.waiting] == ["over_temperature-solder-1"]
    assert (
        channel.waiting[0]
        .body("en")
        .startswith("Паяльная станция 1 at Makerspace Aktobe is too hot")
    )
    channel.deliver_all()

    def retained_says_told() -> bool:
        alerts = [p for t, p in memory.published if t.endswith("/alerts/over_temperature-solder-1")]
        return bool(alerts) and '"notified":true' in str(alerts[-1])

    await wait_until(retained_says_told, "the retained alert says staff were told")

    wall[0] += 60_000
    third = await restarted(memory, channel, wall)
    wall[0] += 5_000
    await third.observe([])
    assert channel.waiting == [], "delivered before the restart: not sent again"
    assert channel.delivered == ["over_temperature-solder-1"]
