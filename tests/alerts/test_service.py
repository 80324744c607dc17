"""The alert service around the engine, with the points and publishes it is handed kept in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from makerwatch.alerts.engine import Transition
from makerwatch.alerts.notifier import Notifier
from makerwatch.alerts.service import AlertService
from makerwatch.core.points import Point
from tests.alerts.test_engine import OPENS, config, point


@dataclasses.dataclass
class Memory:
    """A PointSink and a Publisher that keep what they are given."""

    points: list[Point] = dataclasses.field(default_factory=list)
    published: list[tuple[str, str | bytes]] = dataclasses.field(default_factory=list)

    async def store(self, points: Sequence[Point]) -> None:
        self.points += points

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        self.published.append((topic, payload))


async def started_service() -> tuple[AlertService, Memory]:
    cfg = config()
    memory = Memory()
    service = AlertService(cfg, memory, memory, Notifier([], "ru"))
    await service.handle(service.ready_topic, b"1", retained=False)
    return service, memory


async def test_a_server_clock_hours_fast_does_not_make_timers_fall_due() -> None:
    """Test that a ts-less reading stamped by a server clock 5 h fast moves event time only by
    the real time that passed: no left_on, no switch-off, for a station on for seconds."""
    service, memory = await started_service()
    on_at = OPENS + 60_000
    await service.observe([point("state", on_at, state="active")])
    stamped = point("telemetry", on_at + 5 * 3600_000, power_w=40.0)._replace(server_time=True)
    await service.observe([stamped])
    assert service.engine.now_ms < on_at + 60_000
    assert memory.points == [], "nothing fired"
    assert memory.published == [], "nothing switched"


async def test_board_time_still_moves_event_time_as_it_says() -> None:
    """Test that a board's own time is taken as it is: 5 h of board time fires the 4 h limit."""
    service, memory = await started_service()
    on_at = OPENS + 60_000
    await service.observe([point("state", on_at, state="active")])
    await service.observe([point("telemetry", on_at + 5 * 3600_000, power_w=40.0)])
    fired = [p for p in memory.points if p.tags.get("status") == "fired"]
    assert [p.tags["rule"] for p in fired] == ["left_on"]


async def test_messages_name_the_machine_in_the_readers_language() -> None:
    """Test that a device with a name per language is named in Russian in the history and the
    retained alert (the alerts' language), and in Kazakh in a Kazakh text."""
    cfg = config()
    names = {"kk": "Дәнекерлеу станциясы", "ru": "Паяльная станция", "en": "Soldering station"}
    devices = [cfg.devices[0].model_copy(update={"name": names}), *cfg.devices[1:]]
    memory = Memory()
    service = AlertService(cfg.model_copy(update={"devices": devices}), memory, memory,
                           Notifier([], "ru"))  # fmt: skip
    await service.handle(service.ready_topic, b"1", retained=False)
    await service.observe([point("state", OPENS + 60_000, state="active")])
    await service.observe([point("telemetry", OPENS + 5 * 3600_000, power_w=40.0)])
    [fired] = [p for p in memory.points if p.tags.get("status") == "fired"]
    assert str(fired.fields["message"]).startswith("«Паяльная станция» (Makerspace Aktobe): ")
    assert fired.tags["name"] == "Дәнекерлеу станциясы", "the first listed is the default"
    [alert] = service.engine.alerts.values()
    transition = Transition("fired", alert, alert.fired_ms)
    assert service.text(transition, "kk").startswith("«Дәнекерлеу станциясы» (Makerspace Aktobe): ")
    assert service.text(transition, "en").startswith("Soldering station at Makerspace Aktobe ")
