"""The Grafana dashboards: generated from code and committed alike, valid for the SDK's
dashboard model, every InfluxDB panel's query run the way Grafana expands it against a
real InfluxDB holding a backfilled network, `dashboards push` against a stand-in that
checks Grafana's documented HTTP API, and Compose provisioning them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp import web
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from makerwatch.core.points import Point, device_tags
from makerwatch.core.site_config import load_site_config
from makerwatch.core.statistics import Period, period_of, statistics
from makerwatch.dashboards.build import INFLUXDB_ANNOTATION, every_dashboard
from makerwatch.dashboards.push import FOLDER_UID
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ingest.line_protocol import encode_point
from makerwatch.ops.embedded import free_port
from tests.network import BackfilledNetwork, previous_month
from tests.support import ROOT, stored

GENERATED = ROOT / "dashboards" / "json"
PROVISIONING = ROOT / "dashboards" / "provisioning"
TOKEN = "glsa_test-token-0123456789"
# The committed dashboards are generated for the example site (what Compose runs).
EXAMPLE = load_site_config(ROOT / "makerspace.example.yaml")


def test_the_committed_json_is_what_the_code_generates() -> None:
    """Test that dashboards/json holds exactly what `makerwatch dashboards generate` writes."""
    generated = every_dashboard([EXAMPLE])
    assert sorted(p.name for p in GENERATED.glob("*.json")) == sorted(generated)
    for name, model in generated.items():
        committed = json.loads((GENERATED / name).read_text(encoding="utf-8"))
        assert committed == model, f"{name} is stale: run makerwatch dashboards generate"


def test_the_floors_site_machine_and_kind_lists_show_names_in_the_dashboards_language() -> None:
    """Test that the floor's machine variable shows each machine by its name in the
    dashboard's language (a comma in it escaped as Grafana reads it) while its value is
    the `name` tag its points carry, the site variable the site's name, and the kind
    variable kinds, never their ids."""
    site = EXAMPLE.model_dump(mode="json", exclude_none=True)
    site["devices"][0]["name"] = {"kk": "Дәнекерлеу станциясы 1, үстел А",
                                  "ru": "Паяльная станция 1, стол А", "en": "Soldering station 1"}  # fmt: skip
    config = type(EXAMPLE).model_validate(site)
    for language, shown in (("ru", "Паяльная станция 1\\, стол А"), ("en", "Soldering station 1")):
        model = every_dashboard([config])[f"floor-{language}.json"]
        variables = {v["name"]: v for v in model["templating"]["list"]}
        first = variables["device"]["query"].split(",Паяльная станция 2")[0]
        assert first == f"{shown} : Дәнекерлеу станциясы 1\\, үстел А"
        assert variables["site"]["query"] == f"{config.site.name} : {config.site.id}"
        assert "soldering_station :" not in variables["kind"]["query"]
        assert " : soldering_station" in variables["kind"]["query"]


def test_each_dashboard_is_valid_for_the_sdk_model_and_names_the_provisioned_source() -> None:
    """Test that every dashboard reads back through the Foundation SDK's dashboard model
    unchanged, has a stable uid, and that every query names a provisioned data source."""
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "makerwatch.yaml").read_text())
    influx_uid = provisioned["datasources"][0]["uid"]
    uids = set()
    for name, model in every_dashboard([EXAMPLE]).items():
        again = json.loads(json.dumps(Dashboard.from_json(model), cls=JSONEncoder))
        plain = json.loads(json.dumps(model))
        for annotation in plain.get("annotations", {}).get("list", []):  # InfluxDB's own fields
            for key in INFLUXDB_ANNOTATION:
                del annotation[key]
        assert again == plain, name
        assert model["uid"] == f"makerwatch-{name.removesuffix('.json')}"
        uids.add(model["uid"])
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                source = target.get("datasource") or panel.get("datasource")
                assert source["uid"] in (influx_uid, "makerwatch-prometheus"), (
                    name,
                    panel["title"],
                )
                if source["type"] == "influxdb":
                    assert source["uid"] == influx_uid
    assert len(uids) == 9, "three dashboards in three languages"


# --- every InfluxDB query, expanded as Grafana does it ---------------------------------


def _regex_value(values: list[str]) -> str:
    """Grafana's InfluxDB interpolation in a regex: escaped, several as (a|b)."""
    escaped = [re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def expand(query: str, variables: dict[str, list[str]], start_ms: int, end_ms: int) -> str:
    query = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    query = query.replace("$__interval", "1h")
    for name, values in variables.items():
        query = query.replace(f"${name}", _regex_value(values))
    assert not re.search(r"\$\w", query), query  # every variable filled in
    return query


async def _options(influx: InfluxClient, query: str, chosen: dict[str, list[str]]) -> list[str]:
    rows = await stored(influx, expand(query, chosen, 0, 0))
    return sorted(r["value"] for r in rows)


async def _every_value(
    influx: InfluxClient, file_name: str, variables: dict[str, Any], sites: list[str]
) -> dict[str, list[str]]:
    """What Grafana puts in for "All" of each variable, with these sites chosen. The
    backfill is simulated: the sponsor dashboard shows it only when asked."""
    chosen: dict[str, list[str]] = {"site": sites, "exclude": ["none"]}
    for name in ("kind", "device"):
        if variables.get(name, {}).get("type") == "custom":  # "All": every value
            # Grafana reads a custom variable's "text : value" pairs from its query,
            # split at each comma not escaped as "\,".
            pairs = re.findall(r"(?:\\,|[^,])+", variables[name]["query"])
            chosen[name] = [p.rpartition(" : ")[2].strip().replace("\\,", ",") for p in pairs]
        elif name in variables:  # "All": every value the variable's own query lists
            chosen[name] = await _options(influx, variables[name]["query"], chosen)
        else:
            continue
        assert chosen[name], (file_name, name)
    return chosen


async def _every_panel_returns_data(
    influx: InfluxClient,
    file_name: str,
    model: dict[str, Any],
    chosen: dict[str, list[str]],
    period: Period,
) -> None:
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel["datasource"]
            if source["type"] != "influxdb":
                continue
            query = expand(target["query"], chosen, period.start_ms, period.end_ms)
            if "GROUP BY time" in query:  # days on the site's clock, as the report's
                assert query.endswith(f"tz('{model['timezone']}')"), (file_name, query)
            series = await influx.query(query)
            assert series, f"{file_name}: {panel['title']!r} returned nothing: {query}"


@pytest.mark.stack
async def test_every_panel_query_returns_data_and_sponsor_figures_match(
    network: BackfilledNetwork,
) -> None:
    """Test that each InfluxDB panel of every dashboard returns data on a backfilled month,
    with one site, several sites (a regex of two) and every machine, and that the sponsor
    dashboard's headline stats equal the statistics module's figures."""
    month = f"{previous_month():%Y-%m}"
    config = network.configs[0]
    period = period_of(month, config.site.timezone)
    async with InfluxClient(config.influxdb) as influx:
        # Board status and alerts are not part of a backfill: add one of each, in the month.
        at_ns = (period.start_ms + 86_400_000) * 1_000_000
        site, device = config.site.id, config.devices[0].id
        # The machine's own tags: the floor's machine variable lists machines by name.
        tags = device_tags(site, config.devices[0])
        # The backfill's boards end offline (as simulated boards do); one is back online now.
        now_ns = time.time_ns()
        await influx.write([
            *(encode_point(Point("device_status", tags, {"online": True, "rssi_dbm": -61, "fw": "1.2.0"},
                                 at // 1_000_000)) for at in (at_ns, now_ns)),
            f'alert,site={site},device={device},kind=soldering_station,name=x,rule=left_on,status=fired message="on after closing",alert_id="left_on-{device}" {at_ns}',
        ])  # fmt: skip
        sites = sorted(c.site.id for c in network.configs)
        zone = config.site.timezone
        for file_name, model in every_dashboard(network.configs).items():
            assert model["timezone"] == zone, file_name
            variables = {v["name"]: v for v in model.get("templating", {}).get("list", [])}
            for selection in ([sites[0]], sites):
                if len(selection) > 1 and not variables.get("site", {}).get("multi"):
                    continue
                chosen = await _every_value(influx, file_name, variables, selection)
                await _every_panel_returns_data(influx, file_name, model, chosen, period)
            annotations = model.get("annotations", {}).get("list", [])
            for annotation in annotations:
                query = expand(
                    annotation["query"], {"site": [site]}, period.start_ms, period.end_ms
                )
                assert await influx.query(query), file_name

        figures = await statistics(
            influx.query, [config], month, int(time.time() * 1000), simulated=True
        )
        sponsors = every_dashboard([config])["sponsors-en.json"]
        headlines = {p["title"]: p["targets"][0]["query"] for p in sponsors["panels"][:4]}
        expected = figures.total
        for title, value in (("Machine-hours", expected.machine_hours), ("Sessions", expected.sessions),
                             ("Energy, kWh", expected.energy_kwh), ("Hours switched on", expected.on_hours)):  # fmt: skip
            query = expand(
                headlines[title],
                {"site": [site], "exclude": ["none"]},
                period.start_ms,
                period.end_ms - 1,
            )
            [row] = await stored(influx, query)
            got = next(v for k, v in row.items() if k != "time")
            assert got == pytest.approx(value, rel=1e-9), title
            real_only = expand(
                headlines[title],
                {"site": [site], "exclude": ["sim"]},
                period.start_ms,
                period.end_ms - 1,
            )
            assert await stored(influx, real_only) == [], (
                f"{title}: simulated data shown by default"
            )
        # The machine-hours per day: each bucket one of the site's days, each day's hours
        # the report's, and the month's sum the report's.
        [per_day] = [p for p in sponsors["panels"] if p["title"] == "Machine-hours per day"]
        query = expand(per_day["targets"][0]["query"], {"site": [site], "exclude": ["none"]},
                       period.start_ms, period.end_ms - 1)  # fmt: skip
        days = {
            datetime.fromtimestamp(row["time"] / 1000, ZoneInfo(zone)): row["machine_hours"] or 0.0
            for row in await stored(influx, query)
        }
        assert all(at.time() == dt_time(0) for at in days), "a day's bucket not at local midnight"
        [site_figures] = figures.sites
        daily = {day: hours for day, hours in site_figures.daily_hours.items() if hours}
        assert {at.date(): h for at, h in days.items() if h} == pytest.approx(daily, rel=1e-9)
        assert sum(days.values()) == pytest.approx(expected.machine_hours, rel=1e-9)
        # By kind and by site, as the report adds them up.
        for title, groups in (("Machine-hours by kind", figures.by_kind),
                              ("Machine-hours by site", figures.by_site)):  # fmt: skip
            [panel] = [p for p in sponsors["panels"] if p["title"] == title]
            query = expand(panel["targets"][0]["query"], {"site": [site], "exclude": ["none"]},
                           period.start_ms, period.end_ms - 1)  # fmt: skip
            rows = await stored(influx, query)
            got = {(r.get("kind") or r.get("site")): r["machine_hours"] for r in rows}
            assert got == pytest.approx({k: f.machine_hours for k, f in groups.items()}, rel=1e-9)


def test_the_prometheus_panels_name_metrics_that_ingest_exports() -> None:
    """Test that each PromQL panel only uses metric names /metrics exports."""
    from makerwatch.api.metric_source import COUNTERS

    exported = {f"makerwatch_{name}_total" for name in COUNTERS} | {
        "makerwatch_dead_lettered_total", "makerwatch_write_seconds_sum",
        "makerwatch_write_seconds_count", "makerwatch_spool_bytes",
    }  # fmt: skip
    fleet = every_dashboard([EXAMPLE])["fleet-en.json"]
    used = set()
    for panel in fleet["panels"]:
        for target in panel.get("targets", []):
            used |= set(re.findall(r"makerwatch_[a-z_]+", target.get("expr", "")))
    assert used
    assert used <= exported, used - exported


# --- dashboards push against Grafana's documented HTTP API ----------------------------


class StandInGrafana:
    """The parts of Grafana's HTTP API that `dashboards push` uses, as documented
    (grafana.com/docs/grafana/latest/developers/http_api: folder, data_source, dashboard),
    checking the bearer token, methods, paths and bodies; anything else is a failure."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.port = free_port()

    @web.middleware
    async def check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.problems.append(f"{request.method} {request.path} without the bearer token")
            return web.json_response({"message": "Unauthorized"}, status=401)
        if request.method in ("POST", "PUT") and request.content_type != "application/json":
            self.problems.append(f"{request.method} {request.path}: not JSON")
        return await handler(request)

    async def unknown(self, request: web.Request) -> web.Response:
        self.problems.append(f"undocumented call {request.method} {request.path}")
        return web.json_response({"message": "Not found"}, status=404)

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        return web.json_response(
            folder or {"message": "folder not found"}, status=200 if folder else 404
        )

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body.get("title"), str) or not body.get("uid"):
            self.problems.append(f"folder body {body}")
        self.folders[body["uid"]] = {
            "uid": body["uid"],
            "title": body["title"],
            "id": 1,
            "version": 1,
        }
        return web.json_response(self.folders[body["uid"]])

    async def get_datasource(self, request: web.Request) -> web.Response:
        source = self.datasources.get(request.match_info["uid"])
        return web.json_response(
            source or {"message": "Data source not found"}, status=200 if source else 404
        )

    async def create_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        missing = {"name", "type", "access", "url"} - set(body)
        if missing:
            self.problems.append(f"data source without {missing}")
        self.datasources[body["uid"]] = {**body, "id": 7, "orgId": 1, "readOnly": False}
        return web.json_response(
            {
                "datasource": self.datasources[body["uid"]],
                "id": 7,
                "message": "Datasource added",
            }
        )

    async def get_dashboard(self, request: web.Request) -> web.Response:
        found = self.dashboards.get(request.match_info["uid"])
        if found is None:
            return web.json_response({"message": "Dashboard not found"}, status=404)
        return web.json_response(found)

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        dashboard = body.get("dashboard", {})
        if not dashboard.get("uid") or not dashboard.get("title") or "folderUid" not in body:
            self.problems.append("dashboard body without uid, title or folderUid")
        if body["folderUid"] not in self.folders:
            self.problems.append(f"dashboard into a missing folder {body['folderUid']}")
        version = (
            self.dashboards.get(dashboard["uid"], {}).get("dashboard", {}).get("version", 0) + 1
        )
        self.dashboards[dashboard["uid"]] = {
            "dashboard": {**dashboard, "id": 40 + len(self.dashboards), "version": version},
            "meta": {"folderUid": body["folderUid"], "slug": dashboard["uid"]},
        }
        return web.json_response({"status": "success", "uid": dashboard["uid"], "version": version})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.check])
        app.add_routes([
            web.get("/api/folders/{uid}", self.get_folder),
            web.post("/api/folders", self.create_folder),
            web.get("/api/datasources/uid/{uid}", self.get_datasource),
            web.post("/api/datasources", self.create_datasource),
            web.get("/api/dashboards/uid/{uid}", self.get_dashboard),
            web.post("/api/dashboards/db", self.save_dashboard),
            web.route("*", "/{tail:.*}", self.unknown),
        ])  # fmt: skip
        return app


@pytest.fixture
def grafana() -> Iterator[StandInGrafana]:
    stand_in = StandInGrafana()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(stand_in.app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", stand_in.port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield stand_in
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _push(
    grafana: StandInGrafana, *extra: str, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "dashboards", "push",
         "--url", f"http://127.0.0.1:{grafana.port}", "--config", str(ROOT / "makerspace.example.yaml"),
         "--influx", "http://influxdb:8086", *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, "GRAFANA_TOKEN": token},
    )  # fmt: skip


def test_push_creates_everything_once_and_then_changes_nothing(grafana: StandInGrafana) -> None:
    """Test that a first push creates the folder, the data source and nine dashboards
    through Grafana's documented API with the token, and a second push changes nothing."""
    first = _push(grafana)
    assert first.returncode == 0, first.stderr
    assert "created folder 'Makerwatch'" in first.stdout
    assert "created data source 'Makerwatch InfluxDB'" in first.stdout
    assert first.stdout.count("created dashboard") == 9
    assert grafana.problems == []
    assert set(grafana.dashboards) == {m["uid"] for m in every_dashboard([EXAMPLE]).values()}
    assert all(d["meta"]["folderUid"] == FOLDER_UID for d in grafana.dashboards.values())
    assert grafana.datasources["makerwatch-influxdb"]["jsonData"]["dbName"] == "makerwatch"

    grafana.requests.clear()
    second = _push(grafana)
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stdout
    assert not any(r.startswith(("POST", "PUT")) for r in grafana.requests), grafana.requests
    assert grafana.problems == []


def test_push_with_a_wrong_token_is_one_line(grafana: StandInGrafana) -> None:
    """Test that Grafana refusing the token is reported in one line, without a traceback."""
    result = _push(grafana, token="glsa_wrong")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "refused: 401" in result.stderr
    grafana.problems.clear()


def test_compose_provisions_the_dashboards_where_grafana_reads_them() -> None:
    """Test that the provider's path is where Compose mounts dashboards/json, with the
    folder uid `dashboards push` uses."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "makerwatch.yaml").read_text())[
        "providers"
    ][0]
    mounts = dict(
        v.rsplit(":", 1)[0].split(":", 1)
        for v in compose["services"]["grafana"]["volumes"]
        if v.startswith("./")
    )
    assert mounts["./dashboards/json"] == provider["options"]["path"]
    assert mounts["./dashboards/provisioning"] == "/etc/grafana/provisioning"
    assert provider["folderUid"] == FOLDER_UID
    assert (ROOT / "dashboards" / "json").is_dir()
