"""Makerwatch's Grafana dashboards, built with Grafana's Foundation SDK: the floor for
staff, usage for sponsors, and fleet health, each in Kazakh, Russian and English.

The sponsor dashboard's stats are the figures table's (makerwatch/core/figures), their
queries filled with Grafana's `$timeFilter` and the site variable: a figure is defined
once, whether a report, the sponsor page or Grafana shows it. The words are in
dashboards/texts.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    dashboard,
    prometheus,
    stat,
    statetimeline,
    table,
    text,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import VisibilityMode
from grafana_foundation_sdk.models.dashboard import (
    DynamicConfigValue,
    MatcherConfig,
    ValueMap,
    ValueMappingResult,
    VariableOption,
)

from makerwatch.core.figures import FEWER_THAN, Figure, SiteFigure, every_figure, every_site_figure
from makerwatch.core.points import SIMULATED, SOURCE_TAG
from makerwatch.core.site_config import LANGUAGES, Language, SiteConfig
from makerwatch.core.site_figures import suppressed_query
from makerwatch.core.statistics import figure_query, tz_clause
from makerwatch.core.vocabulary import DURATION_UNITS, KIND_NAMES, STATE_NAMES
from makerwatch.dashboards.influxql import INFLUXDB, PROMETHEUS, InfluxQL
from makerwatch.dashboards.texts import TEXTS

__all__ = ["DASHBOARDS", "INFLUXDB_ANNOTATION", "dashboard_json", "every_dashboard"]

# Variables in InfluxQL: Grafana writes a multi-value or "All" selection as (a|b) in a regex.
SITE = '"site" =~ /^$site$/'
# Machines by their name (the site file's), which a variable shows as people know them.
MACHINES = f'{SITE} AND "kind" =~ /^$kind$/ AND "name" =~ /^$device$/'
ALERT_ANNOTATIONS = (
    f'SELECT "message", "rule" FROM "alert" WHERE {SITE} AND "status" = \'fired\' AND $timeFilter'
)
# What InfluxDB's annotation query adds to Grafana's annotation model.
INFLUXDB_ANNOTATION = {"query": ALERT_ANNOTATIONS, "textColumn": "message", "tagsColumn": "rule"}
# The steps of an alert's history, as the alert service stores them in "status".
ALERT_STEPS = ("fired", "repeated", "acknowledged", "resolved", "auto_off_sent",
               "auto_off_confirmed", "auto_off_unconfirmed", "auto_off_cancelled")  # fmt: skip
STATE_COLOURS = {"off": "#7b8794", "idle": "#b7791f", "active": "#1c7c3c"}


def _site_variable(
    language: Language, sites: Sequence[SiteConfig], *, multi: bool
) -> dashboard.CustomVariable:
    """The sites by their names (the value is the `site` tag): all of them at first, or
    the first when only one is shown at a time."""
    pairs = [(s.site.name, s.site.id) for s in sites]
    if multi:
        return _every_of("site", language, pairs)
    text, value = pairs[0]
    return (
        dashboard.CustomVariable("site")
        .label(TEXTS["site"][language])
        .values(_custom(pairs))
        .current(VariableOption(selected=True, text=text, value=value))
    )


def _kind_variable(language: Language) -> dashboard.CustomVariable:
    """Every kind by its name in the dashboard's language (the tag holds the kind's id)."""
    return _every_of("kind", language,
                     ((names[language], kind.value) for kind, names in KIND_NAMES.items()))  # fmt: skip


def _state_mappings(language: Language) -> list[Any]:
    return [
        ValueMap(
            options={
                state: ValueMappingResult(text=STATE_NAMES[state][language], color=colour, index=i)
                for i, (state, colour) in enumerate(STATE_COLOURS.items())
            }
        )
    ]


def _hours(language: Language) -> str:
    """Machine-hours as hours with the language's own unit ("1 975 ч"): Grafana's `h`
    unit would write it in English and rescale it to weeks and days; a custom
    `suffix:` unit only appends its text, after a space."""
    return f"suffix:{DURATION_UNITS[language][1]}"  # Grafana puts the space before it


def _columns(panel: table.Panel, t: dict[str, str], names: dict[str, str]) -> table.Panel:
    """A table's columns (InfluxDB's field and tag names) shown in the dashboard's language."""
    for column, key in names.items():
        panel = panel.with_override(MatcherConfig(id_val="byName", options=column),
                                    [DynamicConfigValue(id_val="displayName", value=t[key])])  # fmt: skip
    return panel


def _words(t: dict[str, str], values: dict[str, str]) -> list[Any]:
    """Value -> the word shown for it in the dashboard's language."""
    return [ValueMap(options={value: ValueMappingResult(text=t[key], index=i)
                              for i, (value, key) in enumerate(values.items())})]  # fmt: skip


def _now_panel(language: Language, t: dict[str, str]) -> table.Panel:
    """Each machine's state and "on since" (the start of its usage session, from the
    board; 0 while off, shown empty), as on the floor board."""
    return (
        table.Panel().title(t["now"]).span(24).height(8)
        .with_target(InfluxQL(f'SELECT last("state") AS "{t["state"]}", last("on_since_ms") AS "{t["on_since"]}" FROM "state" WHERE {MACHINES} GROUP BY "name"', result_format="table"))
        .with_override(MatcherConfig(id_val="byName", options=t["state"]),
                       [DynamicConfigValue(id_val="mappings", value=_state_mappings(language))])
        .with_override(MatcherConfig(id_val="byName", options=t["on_since"]), [
            DynamicConfigValue(id_val="unit", value="dateTimeAsLocal"),
            DynamicConfigValue(id_val="mappings", value=[ValueMap(options={"0": ValueMappingResult(text="")})]),
        ])
    )  # fmt: skip


def _custom(pairs: Iterable[tuple[str, str]]) -> str:
    """A custom variable's "text : value" list; Grafana splits it at commas not escaped."""
    return ",".join(f"{text.replace(',', chr(92) + ',')} : {value.replace(',', chr(92) + ',')}"
                    for text, value in pairs)  # fmt: skip


def _device_variable(language: Language, sites: Sequence[SiteConfig]) -> dashboard.CustomVariable:
    """Every machine of the sites by its name in the dashboard's language; the value is
    the `name` tag its points carry (the site file's first name), once for machines of
    several sites that carry the same."""
    by_tag = {d.default_name: d.name_in(language) for s in sites for d in s.devices}
    return _every_of("device", language, ((shown, tag) for tag, shown in by_tag.items()))


def _every_of(
    name: str, language: Language, pairs: Iterable[tuple[str, str]]
) -> dashboard.CustomVariable:
    """A list of (shown, value) pairs to choose several or all of; all at first."""
    return (
        dashboard.CustomVariable(name)
        .label(TEXTS[name][language])
        .values(_custom(pairs))
        .multi(True)
        .include_all(True)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def floor(language: Language, sites: Sequence[SiteConfig]) -> dashboard.Dashboard:
    t = {key: texts[language] for key, texts in TEXTS.items()}
    zone = sites[0].site.timezone
    tz = tz_clause(zone)
    where = f"{MACHINES} AND $timeFilter"
    return (
        dashboard.Dashboard(t["floor"])
        .uid(f"makerwatch-floor-{language}")
        .tags(["makerwatch", language])
        .timezone(zone)
        .refresh("10s")
        .time("now-6h", "now")
        .with_variable(_site_variable(language, sites, multi=False))
        .with_variable(_kind_variable(language))
        .with_variable(_device_variable(language, sites))
        .annotation(
            dashboard.AnnotationQuery()
            .name(t["alerts"])
            .datasource(INFLUXDB)
            .enable(True)
            .icon_color("red")
        )
        .with_panel(
            statetimeline.Panel().title(t["states"]).span(24).height(8)
            .with_target(InfluxQL(f'SELECT last("state") FROM "state" WHERE {where} GROUP BY time($__interval), "name" fill(previous) {tz}', alias="$tag_name"))
            .mappings(_state_mappings(language))
            .show_value(VisibilityMode.ALWAYS)  # the state's word in each bar: never colour alone
        )
        .with_panel(_now_panel(language, t))
        .with_panel(
            timeseries.Panel().title(t["power"]).unit("watt").span(12).height(8)
            .with_target(InfluxQL(f'SELECT mean("power_w") FROM "telemetry" WHERE {where} GROUP BY time($__interval), "name" fill(none) {tz}', alias="$tag_name"))
        )
        .with_panel(
            timeseries.Panel().title(t["temperature"]).unit("celsius").span(12).height(8)
            .with_target(InfluxQL(f'SELECT mean("temp_c") FROM "telemetry" WHERE {where} GROUP BY time($__interval), "name" fill(none) {tz}', alias="$tag_name"))
        )
        .with_panel(
            _columns(
                table.Panel().title(t["alerts"]).span(12).height(8)
                .with_target(InfluxQL(f'SELECT "message", "status", "acked_by" FROM "alert" WHERE {SITE} AND $timeFilter ORDER BY time DESC LIMIT 100', result_format="table"))
                .with_override(MatcherConfig(id_val="byName", options="status"),
                               [DynamicConfigValue(id_val="mappings", value=_words(t, {s: s for s in ALERT_STEPS}))]),
                t, {"message": "message", "status": "status", "acked_by": "acked_by"},
            )
        )
        .with_panel(
            _columns(
                table.Panel().title(t["health"]).span(12).height(8)
                .with_target(InfluxQL(f'SELECT last("online") AS "online", last("rssi_dbm") AS "rssi_dbm", last("fw") AS "fw" FROM "device_status" WHERE {where} GROUP BY "name"', result_format="table"))
                .with_override(MatcherConfig(id_val="byName", options="online"),
                               [DynamicConfigValue(id_val="mappings", value=_words(t, {"true": "yes", "false": "no"}))]),
                t, {"name": "device", "online": "connected", "rssi_dbm": "rssi_dbm", "fw": "fw"},
            )
        )
    )  # fmt: skip


def _data_variable(language: Language) -> dashboard.CustomVariable:
    """Real data only (the default), or simulated data too: simulated points carry
    source=sim, and `"source" != 'none'` keeps everything."""
    real, everything = TEXTS["real_only"][language], TEXTS["with_simulated"][language]
    return (
        dashboard.CustomVariable("exclude")
        .label(TEXTS["data"][language])
        .values(f"{real} : {SIMULATED},{everything} : none")
        .current(VariableOption(selected=True, text=real, value=SIMULATED))
    )


def _figure_stat(figure: Figure, language: Language, where: str, span: int) -> stat.Panel:
    """One figure of the figures table, over the dashboard's time range."""
    unit = {"hours": _hours(language), "share": "percentunit"}.get(figure.unit, "none")
    return (
        stat.Panel().title(figure.names[language]).span(span).height(4)
        .decimals(figure.decimals).unit(unit)
        .with_target(InfluxQL(figure_query(figure.key, where)))
    )  # fmt: skip


def _people_panel(
    figure: SiteFigure, language: Language, where: str
) -> stat.Panel | bargauge.Panel:
    """A site figure (people) that one InfluxQL statement gives, counts under 3 left out
    by InfluxDB: a stat says "fewer than 3" when nothing is left; a group's bars show
    only its groups of 3 or more (docs/dashboards.md)."""
    query = suppressed_query(figure, where)
    if figure.group is None:
        return (
            stat.Panel().title(figure.names[language]).span(6).height(4).decimals(0)
            .no_value(FEWER_THAN[language]).with_target(InfluxQL(query))
        )  # fmt: skip
    return (
        bargauge.Panel().title(figure.names[language]).span(12).height(6).decimals(0)
        .with_target(InfluxQL(query, alias=f"$tag_{figure.group}"))
    )  # fmt: skip


def _people_panels(
    language: Language, sites: Sequence[SiteConfig], where: str
) -> list[stat.Panel | bargauge.Panel]:
    """The people figures Grafana can show, for sites where some device reads cards."""
    if not any(device.access != "off" for site in sites for device in site.devices):
        return []
    return [_people_panel(f, language, where) for f in every_site_figure() if f.in_grafana]


def sponsors(language: Language, sites: Sequence[SiteConfig]) -> dashboard.Dashboard:
    """Usage only, nothing operational: safe to show anonymous viewers."""
    zone = sites[0].site.timezone
    t = {key: texts[language] for key, texts in TEXTS.items()}
    where = f"{SITE} AND \"{SOURCE_TAG}\" != '$exclude' AND $timeFilter"
    board = (
        dashboard.Dashboard(t["sponsors"])
        .uid(f"makerwatch-sponsors-{language}")
        .tags(["makerwatch", "sponsors", language])
        .timezone(zone)
        .time("now/M", "now/M")
        .with_variable(_site_variable(language, sites, multi=True))
        .with_variable(_data_variable(language))
    )
    queried = [f for f in every_figure() if f.headline and f.query is not None]
    for figure in queried:
        board = board.with_panel(
            _figure_stat(figure, language, where, span=max(4, 24 // len(queried)))
        )
    for panel in _people_panels(language, sites, where):
        board = board.with_panel(panel)
    return (
        board.with_panel(
            timeseries.Panel().title(t["per_day"]).span(24).height(8).unit(_hours(language)).decimals(1)
            .with_target(InfluxQL(figure_query("machine_hours", where, ["time(1d)"], zone), alias=t["machine_hours"]))
        )
        .with_panel(
            bargauge.Panel().title(t["by_kind"]).span(8).height(8).unit(_hours(language)).decimals(1)
            .with_target(InfluxQL(figure_query("machine_hours", where, ["kind"]), alias="$tag_kind"))
        )
        .with_panel(
            bargauge.Panel().title(t["by_site"]).span(8).height(8).unit(_hours(language)).decimals(1)
            .with_target(InfluxQL(figure_query("machine_hours", where, ["site"]), alias="$tag_site"))
        )
        .with_panel(
            stat.Panel().title(t["month_before"]).span(8).height(8).decimals(1).unit(_hours(language)).time_shift("1M")
            .with_target(InfluxQL(figure_query("machine_hours", where)))
        )
        .with_panel(
            _columns(
                table.Panel().title(t["top"]).span(12).height(10).decimals(1)
                .with_target(InfluxQL(figure_query("machine_hours", where, ["site", '"name"']), result_format="table")),
                t, {"site": "site", "name": "device", "machine_hours": "machine_hours"},
            )
        )
        .with_panel(text.Panel().title("").span(12).height(4).content(t["in_the_report"]))
    )  # fmt: skip


def fleet(language: Language, sites: Sequence[SiteConfig]) -> dashboard.Dashboard:
    t = {key: texts[language] for key, texts in TEXTS.items()}
    zone = sites[0].site.timezone
    tz = tz_clause(zone)
    site = '{site=~"$site"}'
    return (
        dashboard.Dashboard(t["fleet"])
        .uid(f"makerwatch-fleet-{language}")
        .tags(["makerwatch", language])
        .timezone(zone)
        .refresh("30s")
        .time("now-24h", "now")
        .with_variable(_site_variable(language, sites, multi=False))
        .with_panel(
            stat.Panel().title(t["online"]).span(6).height(6)
            .with_target(InfluxQL(f'SELECT count("online") FROM (SELECT last("online") AS "online" FROM "device_status" WHERE {SITE} GROUP BY "device") WHERE "online" = true'))
        )
        .with_panel(
            _columns(
                table.Panel().title(t["last_seen"]).span(9).height(6)
                .with_target(InfluxQL(f'SELECT last("seq") AS "seq" FROM "telemetry" WHERE {SITE} AND $timeFilter GROUP BY "name"', result_format="table")),
                t, {"name": "device", "seq": "seq"},
            )
        )
        .with_panel(
            _columns(
                table.Panel().title(t["firmware"]).span(9).height(6)
                .with_target(InfluxQL(f'SELECT last("fw") AS "fw" FROM "device_status" WHERE {SITE} GROUP BY "name"', result_format="table")),
                t, {"name": "device", "fw": "fw"},
            )
        )
        .with_panel(
            timeseries.Panel().title(t["signal"]).unit("dBm").span(12).height(8)
            .with_target(InfluxQL(f'SELECT mean("rssi_dbm") FROM "device_status" WHERE {SITE} AND $timeFilter GROUP BY time($__interval), "name" fill(none) {tz}', alias="$tag_name"))
        )
        .with_panel(
            timeseries.Panel().title(t["stored"]).span(12).height(8)
            .with_target(InfluxQL(f'SELECT count("seq") FROM "telemetry" WHERE {SITE} AND $timeFilter GROUP BY time(1m) fill(0) {tz}'))
        )
        .with_panel(
            timeseries.Panel().title(t["received"]).span(12).height(8).datasource(PROMETHEUS)
            .with_target(prometheus.Dataquery().expr(f"rate(makerwatch_messages_received_total{site}[5m])").legend_format("{{site}}"))
        )
        .with_panel(
            timeseries.Panel().title(t["dead_letters"]).span(12).height(8).datasource(PROMETHEUS)
            .with_target(prometheus.Dataquery().expr(f"sum by (reason) (rate(makerwatch_dead_lettered_total{site}[5m]))").legend_format("{{reason}}"))
        )
        .with_panel(
            timeseries.Panel().title(t["spool"]).unit("bytes").span(12).height(8).datasource(PROMETHEUS)
            .with_target(prometheus.Dataquery().expr(f"makerwatch_spool_bytes{site}").legend_format("{{site}}"))
        )
        .with_panel(
            timeseries.Panel().title(t["write_latency"]).unit("s").span(12).height(8).datasource(PROMETHEUS)
            .with_target(prometheus.Dataquery().expr(
                f"rate(makerwatch_write_seconds_sum{site}[5m]) / rate(makerwatch_write_seconds_count{site}[5m])"
            ).legend_format("{{site}}"))
        )
    )  # fmt: skip


DASHBOARDS = {"floor": floor, "sponsors": sponsors, "fleet": fleet}


def dashboard_json(board: dashboard.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (plain dicts, as Grafana stores it)."""
    model: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for annotation in model.get("annotations", {}).get("list", []):
        if annotation.get("datasource", {}).get("uid") == INFLUXDB.uid:
            # The SDK models only the built-in annotation source; InfluxDB's takes its
            # InfluxQL as `query` with the column to show (Grafana's InfluxDB docs).
            annotation.update(
                {"query": ALERT_ANNOTATIONS, "textColumn": "message", "tagsColumn": "rule"}
            )
    return model


def every_dashboard(sites: Sequence[SiteConfig]) -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON, for every dashboard in every language: on the clock
    of the (first) site's time zone (its days and months are the report's), the sites
    and their machines by their names in each language."""
    return {
        f"{name}-{language}.json": dashboard_json(build(language, sites))
        for name, build in DASHBOARDS.items()
        for language in LANGUAGES
    }
