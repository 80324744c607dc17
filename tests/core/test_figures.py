"""The figures table: the report, /sponsors and Grafana's sponsor dashboard read every
figure from it and nothing else."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from makerwatch.core import figures
from makerwatch.core.figures import FIGURES, Figure
from makerwatch.core.periods import period_of
from makerwatch.core.points import Point, device_tags
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.dashboards.build import every_dashboard
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ops.embedded import EmbeddedInfluxDB
from makerwatch.report import document, page
from tests.dashboards.test_dashboards import expand
from tests.support import make_config, stored

# A figure no release has: readings the boards sent, one line of the table.
READINGS = Figure(
    "readings",
    {"en": "Readings sent", "ru": "Отправлено показаний", "kk": "Жіберілген көрсеткіштер"},
    "count",
    "Readings the boards sent.",
    query="SELECT count(seq) AS readings FROM telemetry WHERE {where}{group_by}",
)
SENT = 7


async def test_a_figure_added_to_the_table_alone_is_in_the_report_the_page_and_grafana(
    influxdb: EmbeddedInfluxDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that a throwaway figure, one entry of the table and nothing else, is computed
    from a real InfluxDB and shown by the report (HTML, CSV, JSON), by /sponsors in each
    language, and as a sponsor dashboard's stat whose query answers the same number."""
    monkeypatch.setattr(figures, "FIGURES", (*FIGURES, READINGS))
    config = make_config(1, influxdb.url)
    device = config.devices[0]
    period = period_of("2026-11", config.site.timezone)
    start_ms = period.start_ms + 86_400_000
    async with InfluxClient(config.influxdb) as influx:
        await influx.ensure_database()
        await influx.write([
            encode_point(Point("telemetry", device_tags(config.site.id, device),
                               {"seq": seq, "power_w": 5.0}, start_ms + seq * 60_000))
            for seq in range(SENT)
        ])  # fmt: skip
        now_ms = int(time.time() * 1000)
        stats = await statistics(influx.query, [config], "2026-11", now_ms)
        assert stats.total["readings"] == SENT

        for language in ("en", "ru", "kk"):
            name = READINGS.names[language]
            assert name in document.html(stats, language)

            async def same(_period: str | None, _simulated: bool) -> Statistics:
                return stats

            answer = await page.answer({"period": "2026-11", "lang": language}, "", same, now_ms)
            assert answer.status == 200
            assert name in answer.body.decode()
        assert json.loads(document.as_json(stats))["total"]["readings"] == SENT
        [total] = [
            r for r in csv.DictReader(io.StringIO(document.as_csv(stats))) if r["scope"] == "total"
        ]
        assert total["readings"] == str(SENT)

        board = every_dashboard([config])["sponsors-ru.json"]
        [panel] = [p for p in board["panels"] if p["title"] == READINGS.names["ru"]]
        query = expand(panel["targets"][0]["query"], {"site": [config.site.id], "exclude": ["none"]},
                       period.start_ms, period.end_ms - 1)  # fmt: skip
        [row] = await stored(influx, query)
        assert row["readings"] == SENT


def test_every_figure_is_computed_one_way_and_named_in_every_language() -> None:
    """Test that the table refuses a figure with neither a query nor a share, one with both,
    and one without a name in each language, naming the figure."""
    with pytest.raises(ValueError, match="figure nothing: needs a query or a share"):
        Figure("nothing", READINGS.names, "count", "?")
    with pytest.raises(ValueError, match="figure both: a query or a share, not both"):
        Figure("both", READINGS.names, "share", "?", query="SELECT 1", share_of=("a", "b"))
    with pytest.raises(ValueError, match="figure english: needs its name in en, ru and kk"):
        Figure("english", {"en": "Only"}, "count", "?", query="SELECT 1")
    assert len({f.key for f in FIGURES}) == len(FIGURES)
