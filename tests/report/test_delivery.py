"""The month's report delivered to sponsors by the service: once, across restarts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from makerwatch.core.points import Point
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ops.embedded import EmbeddedInfluxDB, free_port
from makerwatch.report.delivery import MonthlySchedule, send_due_month, sent_already
from tests.report.test_report import Mailbox
from tests.support import make_config

ZONE = "Asia/Aqtobe"
# 09:00 on 1 December 2026, site time: November's report is due.
FIRST = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo(ZONE)).timestamp()


class Written:
    """A PointSink that writes each point to the real InfluxDB at once, as the batch
    writer does a moment later."""

    def __init__(self, influx: InfluxClient) -> None:
        self.influx = influx

    async def store(self, points: Sequence[Point]) -> None:
        await self.influx.write([encode_point(p) for p in points])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _with_sponsors(config: SiteConfig, port: int, *names: str) -> SiteConfig:
    site = config.model_dump(mode="json", exclude_none=True)
    site["site"]["timezone"] = ZONE
    site["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none",
                    "sender": "reports@makerspace.kz"}  # fmt: skip
    site["sponsors"] = [{"name": n, "emails": [f"{n.lower()}@fund.example"]} for n in names]
    return SiteConfig.model_validate(site)


async def test_a_restart_neither_sends_the_month_again_nor_forgets_a_new_sponsor(
    influxdb: EmbeddedInfluxDB, mailbox: tuple[Mailbox, int]
) -> None:
    """Test that the month's report, once mailed through a real SMTP server and stored in a
    real InfluxDB, is not mailed again by a service started afresh that day, and that a
    sponsor added meanwhile still gets it, alone."""
    box, port = mailbox
    config = _with_sponsors(make_config(1, influxdb.url), port, "Steppe")
    async with InfluxClient(config.influxdb) as influx:
        await influx.ensure_database()
        sink = Written(influx)
        await send_due_month(config, influx.query, sink, "2026-11", lambda: FIRST)
        assert [to for to, _ in box.messages] == [["steppe@fund.example"]]
        assert await sent_already(influx.query, config.site.id, "2026-11") == {("Steppe", "email")}

        # A restart: nothing in memory, only what InfluxDB holds.
        await send_due_month(config, influx.query, sink, "2026-11", lambda: FIRST + 600)
        assert len(box.messages) == 1, "sent again after a restart"

        more = _with_sponsors(config, port, "Steppe", "Embassy")
        await send_due_month(more, influx.query, sink, "2026-11", lambda: FIRST + 1200)
        assert [to for to, _ in box.messages] == [["steppe@fund.example"], ["embassy@fund.example"]]


def test_a_service_not_running_on_the_first_sends_in_the_first_week() -> None:
    """Test that a service started on the 3rd finds the month before due at once (and only
    once), and one started on the 8th leaves it to be sent by hand."""
    zone = ZoneInfo(ZONE)
    third = MonthlySchedule(ZONE, lambda: datetime(2026, 12, 3, 12, tzinfo=zone).timestamp())
    assert third.due() == "2026-11"
    assert third.due() is None
    eighth = MonthlySchedule(ZONE, lambda: datetime(2026, 12, 8, 12, tzinfo=zone).timestamp())
    assert eighth.due() is None
