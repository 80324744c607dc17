"""The figures table: the report, /sponsors and Grafana's sponsor dashboard read every
figure from it and nothing else."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from pypdf import PdfReader

from makerwatch.core import figures
from makerwatch.core.figures import FIGURES, SITE_FIGURES, Figure, SiteFigure
from makerwatch.core.periods import period_of
from makerwatch.core.points import Point, device_tags
from makerwatch.core.protocol import AccessMode
from makerwatch.core.site_config import SiteConfig, Sponsor
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.dashboards.build import every_dashboard
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ops.embedded import EmbeddedInfluxDB
from makerwatch.report import delivery, document, page
from tests.dashboards.test_dashboards import expand
from tests.members.readers import with_reader
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


# A site figure no release has: distinct cards seen at all, by kind (a group).
CARDS = SiteFigure(
    "cards_seen",
    {"en": "Cards seen", "ru": "Замечено карт", "kk": "Көрінген карталар"},
    "Distinct cards held to any reader.",
    'SELECT count(distinct("key")) AS cards_seen FROM tap WHERE {where}{group_by}',
    group="kind",
)


def _card_site(influx_url: str) -> SiteConfig:
    config = make_config(1, influx_url)
    devices = [with_reader(config.devices[0], AccessMode.LOG), *config.devices[1:]]
    return config.model_copy(update={"devices": devices})


async def test_a_site_figure_added_to_the_table_alone_is_shown_with_small_counts_hidden(
    influxdb: EmbeddedInfluxDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that a throwaway site figure, one entry of the table, is counted from a real
    InfluxDB and shown by the report (HTML in each language, CSV, JSON), the monthly
    delivery's PDF and the sponsor dashboard: a kind with 4 cards as 4, one with 2 as "fewer than 3" on the page, null
    and suppressed in CSV and JSON, and left out by the dashboard's query."""
    monkeypatch.setattr(figures, "SITE_FIGURES", (CARDS,))
    config = _card_site(influxdb.url)
    four, two = config.devices[0], config.devices[1]
    period = period_of("2026-11", config.site.timezone)
    at = period.start_ms + 86_400_000
    taps = [(four, f"{n:032x}") for n in range(4)] + [(two, f"{n:032x}") for n in (7, 8)]
    async with InfluxClient(config.influxdb) as influx:
        await influx.ensure_database()
        await influx.write([
            encode_point(Point("tap", device_tags(config.site.id, device),
                               {"key": key, "result": "allowed"}, at + i * 60_000))
            for i, (device, key) in enumerate(taps)
        ])  # fmt: skip
        stats = await statistics(influx.query, [config], "2026-11", int(time.time() * 1000))
        assert stats.people == {"cards_seen": {four.kind.value: 4, two.kind.value: 2}}

        for language in ("en", "ru", "kk"):
            page = document.html(stats, language)
            assert CARDS.names[language] in page
            assert figures.FEWER_THAN[language] in page
        numbers = json.loads(document.as_json(stats))["people"]["cards_seen"]
        assert numbers == {four.kind.value: {"count": 4, "suppressed": False},
                           two.kind.value: {"count": None, "suppressed": True}}  # fmt: skip
        rows = [
            r for r in csv.DictReader(io.StringIO(document.as_csv(stats))) if r["scope"] == "people"
        ]
        assert {(r["group"], r["count"], r["suppressed"]) for r in rows} == {
            (four.kind.value, "4", "false"), (two.kind.value, "", "true")
        }  # fmt: skip

        # The monthly delivery's PDF, in the sponsor's language (Russian here).
        pdf = delivery.letter(stats, Sponsor(name="Dala", language="ru", emails=["a@b.kz"])).pdf
        text = " ".join(sheet.extract_text() for sheet in PdfReader(io.BytesIO(pdf)).pages)
        assert CARDS.names["ru"] in text
        assert "меньше 3" in text

        board = every_dashboard([config])["sponsors-en.json"]
        [panel] = [p for p in board["panels"] if p["title"] == CARDS.names["en"]]
        query = expand(panel["targets"][0]["query"], {"site": [config.site.id], "exclude": ["none"]},
                       period.start_ms, period.end_ms - 1)  # fmt: skip
        assert [(r["kind"], r["cards_seen"]) for r in await stored(influx, query)] == [
            (four.kind.value, 4)
        ]


async def test_a_site_without_card_readers_shows_no_people(influxdb: EmbeddedInfluxDB) -> None:
    """Test that a site where no device reads cards has no people figures: none in the
    report, its JSON, or the sponsor dashboard."""
    config = make_config(1, influxdb.url)
    async with InfluxClient(config.influxdb) as influx:
        await influx.ensure_database()
        stats = await statistics(influx.query, [config], "2026-11", int(time.time() * 1000))
    assert stats.people is None
    assert json.loads(document.as_json(stats))["people"] is None
    assert SITE_FIGURES[0].names["en"] not in document.html(stats, "en")
    titles = {p["title"] for p in every_dashboard([config])["sponsors-en.json"]["panels"]}
    assert not titles & {f.names["en"] for f in SITE_FIGURES}


def test_a_site_figure_is_one_query_named_in_every_language() -> None:
    """Test that the table refuses a site figure without a name in each language, one
    without a query (other than the counted one) and a query without its places."""
    with pytest.raises(ValueError, match="figure english: needs its name in en, ru and kk"):
        SiteFigure("english", {"en": "Only"}, "?", CARDS.query)
    with pytest.raises(ValueError, match="figure nothing: needs a query"):
        SiteFigure("nothing", CARDS.names, "?", None)
    with pytest.raises(ValueError, match=r"figure fixed: its query needs \{where\}"):
        SiteFigure("fixed", CARDS.names, "?", "SELECT count(x) AS fixed FROM tap")
    keys = [f.key for f in (*FIGURES, *SITE_FIGURES)]
    assert len(set(keys)) == len(keys)
