"""The statistics module against the real pipeline: a backfill of two sites with their
own opening hours and time zones, through Mosquitto and ingest into InfluxDB, checked
against the simulator's ground truth computed here independently."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from makerwatch.core.figures import FIGURES
from makerwatch.core.site_config import SiteConfig
from makerwatch.core.statistics import (
    Period,
    figure_query,
    period_of,
    site_statistics,
    statistics,
    time_condition,
)
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.sim.commands import backfill
from makerwatch.sim.runner import Summary
from tests.support import make_config, publish, start_ingest, stored, wait_until

pytestmark = pytest.mark.stack

SITES: list[dict[str, Any]] = [
    {  # Aktobe: UTC+5, closed on Sundays
        "timezone": "Asia/Aqtobe",
        "opening_hours": {d: ["10:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
    },
    {  # a half-hour zone, a lunch break, open on Sundays: every edge case of a calendar
        "timezone": "Asia/Kolkata",
        "opening_hours": {
            **{d: ["09:30-13:00", "14:00-21:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "sun": ["12:00-18:00"],
        },
    },
]
DAYS_BACK = 24

# The figures with a query of their own.
QUERIED = [f.key for f in FIGURES if f.query is not None]


def _site(config: SiteConfig, **site: Any) -> SiteConfig:
    return config.model_copy(
        update={
            "site": config.site.model_copy(update=site),
            "ingest": config.ingest.model_copy(update={"max_reading_age_s": 400 * 86400.0}),
        }
    )


# --- the ground truth, from what the simulator sent ------------------------------------


def _intervals(summary: Summary) -> list[tuple[str, str, int, int]]:
    """(device, state, start ms, end ms) of every completed on-period sent."""
    return [
        (s["device"], s["previous"], round((s["ts"] - s["previous_duration_s"]) * 1000), round(s["ts"] * 1000))
        for s in summary.tally.states
        if s.get("previous") in ("idle", "active")
    ]  # fmt: skip


def _overlap_h(a: int, b: int, start: int, end: int) -> float:
    return max(0, min(b, end) - max(a, start)) / 3_600_000


def _opening_hours(site: dict[str, Any], first: date, last: date, not_before_ms: int) -> float:
    """The opening hours of the days first..last, from the site's table, from not_before_ms."""
    zone, hours, day = ZoneInfo(site["timezone"]), 0.0, first
    while day <= last:
        weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
        for text in site["opening_hours"].get(weekday, []):
            opens, closes = text.split("-")
            a, b = (
                datetime.combine(day, datetime.strptime(t, "%H:%M").time(), zone).timestamp() * 1000
                for t in (opens, closes)
            )
            hours += max(0.0, b - max(a, not_before_ms)) / 3_600_000
        day += timedelta(days=1)
    return hours


def _busiest_hours(
    intervals: list[tuple[str, str, int, int]], zone: ZoneInfo, start: int, end: int
) -> list[list[float]]:
    """Machine-hours (active) sent in each weekday x hour of the site's time."""
    grid = [[0.0] * 24 for _ in range(7)]
    for _, state, a, b in intervals:
        at, until = max(a, start), min(b, end)
        while state == "active" and at < until:
            local = datetime.fromtimestamp(at / 1000, zone)
            hour_end = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            cut = min(until, int(hour_end.timestamp() * 1000))
            grid[local.weekday()][local.hour] += (cut - at) / 3_600_000
            at = cut
    return grid


def _energy_kwh(readings: list[tuple[int, float]], start: int, end: int) -> float:
    inside = [r for r in readings if start <= r[0] < end]
    return (
        sum((p0 + p1) / 2 * (t1 - t0) for (t0, p0), (t1, p1) in itertools.pairwise(inside)) / 3.6e9
    )


def _ground_truth(summary: Any, device: str, start: int, end: int) -> tuple[float, float, int]:
    """Machine-hours, on-hours and sessions the simulator sent for `device` in [start, end)."""
    mine = [i for i in _intervals(summary) if i[0] == device]
    active = sum(_overlap_h(a, b, start, end) for _, s, a, b in mine if s == "active")
    on = sum(_overlap_h(a, b, start, end) for _, _, a, b in mine)
    sessions = sum(
        1 for s in summary.tally.states
        if s["device"] == device and s.get("previous") == "off" and start <= s["ts"] * 1000 < end
    )  # fmt: skip
    return active, on, sessions


def _assert_figures(got: Any, truth: tuple[float, float, int], summary: Any, device: str,
                    start: int, end: int, opening: float) -> None:  # fmt: skip
    active, on, sessions = truth
    assert got.machine_hours == pytest.approx(active, abs=1e-6), device
    assert got.on_hours == pytest.approx(on, abs=1e-6), device
    assert got.sessions == sessions, device
    assert active > 1, "the backfill had real use"
    assert sessions > 5, "the backfill had real use"
    kwh = _energy_kwh(summary.tally.power[device], start, end)
    assert got.energy_kwh == pytest.approx(kwh, rel=0.01), device
    assert got.open_hours == pytest.approx(opening, abs=1e-6), device
    assert got.utilisation == pytest.approx(active / opening), device


def _busiest_hours_match(result: Any, summaries: list[Any], period_text: str) -> None:
    for index, (site, summary) in enumerate(zip(SITES, summaries, strict=True)):
        period = period_of(period_text, site["timezone"])
        expected = _busiest_hours(
            _intervals(summary), ZoneInfo(site["timezone"]), period.start_ms, period.end_ms
        )
        got_hours = result.sites[index].busiest_hours
        for day in range(7):
            assert got_hours[day] == pytest.approx(expected[day], abs=1e-6), (index, day)


async def _figure_queries_match(influx: InfluxClient, result: Any) -> None:
    for site_stats in result.sites:
        period = site_stats.period
        where = f"site = '{site_stats.config.site.id}' AND {time_condition(period.start_ms, period.end_ms)}"
        for figure in QUERIED:
            rows = await stored(influx, figure_query(figure, where, ["kind"]))
            by_kind = {r["kind"]: r[figure] for r in rows}
            for kind in {m.kind for m in site_stats.machines}:
                expected = sum(m.figures[figure] for m in site_stats.machines if m.kind == kind)
                assert by_kind.get(kind, 0) == pytest.approx(expected, rel=1e-9, abs=1e-9), (figure, kind)  # fmt: skip


async def test_a_month_of_two_sites_equals_the_ground_truth(tmp_path: Any) -> None:
    """Test that machine-hours, on-hours and sessions per machine, kind, site and in total
    equal what the simulator sent, kWh within 1 %, and utilisation is machine-hours over
    the opening hours counted here from each site's table."""
    with (
        EmbeddedInfluxDB(free_port(), tmp_path / "influxdb") as influxdb,
        EmbeddedMosquitto(free_port(), tmp_path / "a") as broker_a,
        EmbeddedMosquitto(free_port(), tmp_path / "b") as broker_b,
    ):
        # Each site has its own broker and ingest; both store into one database.
        config_a = make_config(broker_a.port, influxdb.url)
        config_b = make_config(broker_b.port, influxdb.url)
        config_b = config_b.model_copy(update={"influxdb": config_a.influxdb})
        configs = [_site(config_a, **SITES[0]), _site(config_b, **SITES[1])]
        ingests = [await start_ingest(c) for c in configs]
        summaries = await asyncio.gather(
            asyncio.to_thread(backfill, configs[0], DAYS_BACK * 86400, 3, "127.0.0.1", broker_a.port),
            asyncio.to_thread(backfill, configs[1], DAYS_BACK * 86400, 4, "127.0.0.1", broker_b.port),
        )  # fmt: skip
        async with InfluxClient(configs[0].influxdb) as influx:
            sent = sum(sum(s.tally.readings.values()) for s in summaries)
            states = sum(len(s.tally.states) for s in summaries)

            async def all_stored() -> bool:
                readings = await stored(influx, "SELECT count(seq) FROM telemetry")
                changes = await stored(influx, "SELECT count(state) FROM state")
                return bool(readings and changes) and (
                    readings[0]["count"],
                    changes[0]["count"],
                ) == (sent, states)

            await wait_until(all_stored, f"{sent} readings and {states} states stored", 90)
            for running in ingests:
                await running.shutdown()

            # Whole days from three weeks ago to two days ago, in each site's calendar.
            today = datetime.now(UTC).date()
            first, last = today - timedelta(days=DAYS_BACK - 2), today - timedelta(days=2)
            period_text = f"{first}..{last}"
            now_ms = int(time.time() * 1000)
            result = await statistics(influx.query, configs, period_text, now_ms, simulated=True)

            totals = {"machine_hours": 0.0, "on_hours": 0.0, "sessions": 0}
            for config, site, summary in zip(configs, SITES, summaries, strict=True):
                period = period_of(period_text, site["timezone"])
                start, end = period.start_ms, period.end_ms
                figures = {m.device: m for m in result.machines if m.site == config.site.id}
                assert set(figures) == {d.id for d in config.devices}
                for device in config.devices:
                    truth = _ground_truth(summary, device.id, start, end)
                    _assert_figures(figures[device.id].figures, truth, summary, device.id, start, end,
                                    _opening_hours(site, first, last, start))  # fmt: skip
                    for key, value in zip(totals, truth, strict=True):
                        totals[key] += value
                assert result.by_site[config.site.id].machine_hours == pytest.approx(
                    sum(m.figures.machine_hours for m in figures.values())
                )
            assert result.total.machine_hours == pytest.approx(totals["machine_hours"], abs=1e-5)
            assert result.total.on_hours == pytest.approx(totals["on_hours"], abs=1e-5)
            assert result.total.sessions == totals["sessions"]
            kinds = {m.kind for m in result.machines}
            for kind in kinds:
                expected = sum(m.figures.machine_hours for m in result.machines if m.kind == kind)
                assert result.by_kind[kind].machine_hours == pytest.approx(expected)
            # The busiest hours and days hold the same machine-hours, in site time.
            assert sum(map(sum, result.busiest_hours)) == pytest.approx(result.total.machine_hours)
            assert sum(result.weekly_hours.values()) == pytest.approx(result.total.machine_hours)
            # Each weekday x hour of site time holds the machine-hours sent in it (a long
            # print may run on into a Sunday night, when Aktobe is closed).
            _busiest_hours_match(result, summaries, period_text)

            # The figure queries, as Grafana runs them, give the module's figures.
            await _figure_queries_match(influx, result)


async def test_a_session_across_midnight_at_a_month_end_is_split_in_site_time(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that 23:00-01:00 site time over a month's end counts 1 h in each month, and that
    the split is at the site's midnight, not at UTC's."""
    config = _site(make_config(mosquitto.port, influxdb.url), timezone="Asia/Aqtobe")
    zone = ZoneInfo("Asia/Aqtobe")
    today = datetime.now(zone).date()
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last month's 1st
    midnight = datetime.combine(month_start, datetime.min.time(), zone)
    starts, ends = (
        (midnight - timedelta(hours=1)).timestamp(),
        (midnight + timedelta(hours=1)).timestamp(),
    )
    topic = f"makerspace/{config.site.id}/solder-1"
    messages = [
        (f"{topic}/telemetry", f'{{"v":1,"ts":{starts - 40 * 86400},"seq":1,"power_w":0}}'),
        (f"{topic}/state", f'{{"v":1,"ts":{starts},"seq":2,"state":"active","previous":"off","previous_duration_s":3600}}'),
        (f"{topic}/state", f'{{"v":1,"ts":{ends},"seq":3,"state":"off","previous":"active","previous_duration_s":7200}}'),
    ]  # fmt: skip
    running = await start_ingest(config)
    await publish(mosquitto.port, messages)
    async with InfluxClient(config.influxdb) as influx:

        async def stored_all() -> bool:
            return len(await stored(influx, "SELECT * FROM state")) == 2

        await wait_until(stored_all, "both state changes stored")
        await running.shutdown()
        now_ms = int(time.time() * 1000)
        before = period_of(f"{month_start - timedelta(days=1):%Y-%m}", config.site.timezone)
        after = period_of(f"{month_start:%Y-%m}", config.site.timezone)
        earlier = await site_statistics(influx.query, config, before, now_ms)
        later = await site_statistics(influx.query, config, after, now_ms)
        assert [m.figures.machine_hours for m in earlier.machines] == [pytest.approx(1.0)]
        assert [m.figures.machine_hours for m in later.machines] == [pytest.approx(1.0)]
        assert earlier.total.sessions == 1, "a session counts where it starts"
        assert later.total.sessions == 0
        assert later.previous is not None
        assert later.previous.machine_hours == pytest.approx(1.0)
        # In UTC the month ends at 05:00 site time: the whole session would be in one month.
        utc_before = Period(before.kind, before.first, before.last, "UTC")
        in_utc = await site_statistics(
            influx.query, _site(config, timezone="UTC"), utc_before, now_ms
        )
        assert in_utc.total.machine_hours == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
        ("2026-11-03..2026-11-05", date(2026, 11, 3), date(2026, 11, 5)),
    ],
)
def test_periods_are_whole_days_in_the_site_zone(text: str, first: date, last: date) -> None:
    """Test that months, ISO weeks and ranges start at the site's midnight."""
    period = period_of(text, "Asia/Almaty")
    assert (period.first, period.last, period.label) == (first, last, text)
    start = datetime.fromtimestamp(period.start_ms / 1000, ZoneInfo("Asia/Almaty"))
    assert (start.date(), start.hour, start.minute) == (first, 0, 0)
    assert period.previous().last == first - timedelta(days=1)
    assert period.previous().days == (
        period.days if period.kind != "month" else period.previous().days
    )


@pytest.mark.parametrize("text", ["2026-13", "2026-11-05..2026-11-01", "November", "2026-W54", ""])
def test_a_bad_period_says_what_is_expected(text: str) -> None:
    """Test that a period that is not a month, week or range is refused with the forms."""
    with pytest.raises(ValueError, match="expected a month"):
        period_of(text, "UTC")


# --- periods as they come from a person or a URL: strict, bounded, never a crash -------

OUT_OF_RANGE = [
    "0001-01-01..0001-01-01",
    "9999-12-31..9999-12-31",
    "2026-11-01..9999-12-31",
    "0001-01",
    "9999-12",
    "0001-W01",
    "9999-W52",
    "1000-01-01..2026-11-01",  # a thousand years: its previous period is further still
]
MALFORMED = [
    " 2026-11",
    "2026-11 ",
    "2026-11\n",
    "\n2026-11",
    "2026-11-01 ..2026-11-02",
    "2026-11-01..2026-11-02\r\n",
    "２０２６-11",  # full-width digits are digits to Python's int(), not to a URL's period
    "٢٠٢٦-١١",
    "2026-1",
    "+2026-11",
]


@pytest.mark.parametrize("text", OUT_OF_RANGE + MALFORMED)
def test_a_period_out_of_range_or_malformed_is_refused_with_a_reason(text: str) -> None:
    """Test that a period with a day no query can reach, or with anything around or
    inside its form (spaces, newlines, other digits), is a ValueError naming it."""
    with pytest.raises(ValueError, match="period ") as refused:
        period_of(text, "Asia/Almaty")
    assert "\n" not in str(refused.value)


@given(st.text(alphabet="0123456789-W.: \n\t+x", max_size=26))
@hyp_settings(max_examples=400, deadline=None)
def test_any_period_text_is_a_whole_period_or_a_value_error(text: str) -> None:
    """Test that any text is either refused with ValueError or a period whose edges, label
    and previous period can all be computed (what /sponsors and a report need)."""
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        try:
            period = period_of(text, zone)
        except ValueError:
            continue
        assert period.label == text
        earlier = period.previous()
        assert earlier.start_ms < earlier.end_ms <= period.start_ms < period.end_ms


@given(st.dates(), st.dates(), st.sampled_from(["range", "month", "week"]))
@hyp_settings(max_examples=400, deadline=None)
def test_any_calendar_period_is_a_whole_period_or_a_value_error(
    first: date, last: date, kind: str
) -> None:
    """Test periods of every representable date, in every form: never an OverflowError."""
    text = {
        "range": f"{first.isoformat()}..{last.isoformat()}",
        "month": f"{first:%Y-%m}" if first.year >= 1000 else f"{first.year:04d}-{first.month:02d}",
        "week": "{:04d}-W{:02d}".format(*first.isocalendar()[:2]),
    }[kind]
    try:
        period = period_of(text, "Asia/Aqtobe")
    except ValueError:
        return
    assert period.previous().start_ms < period.end_ms


async def test_the_sponsor_page_answers_400_for_any_bad_period(
    mosquitto: EmbeddedMosquitto, own_influxdb: EmbeddedInfluxDB
) -> None:
    """Test that /sponsors, on a running ingest with its InfluxDB, answers a period out of
    range or malformed with 400 and a one-line reason, never 500."""
    port = free_port()
    running = await start_ingest(make_config(mosquitto.port, own_influxdb.url, http_port=port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for text in OUT_OF_RANGE + MALFORMED:
                page = await http.get("/sponsors", params={"period": text})
                assert page.status_code == 400, (text, page.text[:200])
                assert "\n" not in page.json()["error"]
            good = await http.get("/sponsors", params={"period": "2026-11"})
            assert good.status_code == 200
    finally:
        await running.shutdown()
