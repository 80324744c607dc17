"""`makerwatch dashboards push`: the folder, the InfluxDB data source and every dashboard
into an existing Grafana (self-hosted or Grafana Cloud) through its HTTP API, with
grafana-client. Idempotent: what is already as wanted is left alone, and each change
is reported."""

from __future__ import annotations

from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from makerwatch.core.errors import ToolError, UnreachableError
from makerwatch.dashboards.influxql import INFLUXDB

__all__ = ["FOLDER_UID", "datasource_model", "push"]

FOLDER_UID = "makerwatch"
NOT_FOUND = 404


def datasource_model(influx_url: str, database: str) -> dict[str, Any]:
    """The InfluxDB (InfluxQL) data source the dashboards' queries name by uid."""
    return {
        "uid": INFLUXDB.uid,
        "name": "Makerwatch InfluxDB",
        "type": INFLUXDB.type_val,
        "access": "proxy",
        "url": influx_url,
        "jsonData": {"dbName": database, "httpMode": "GET", "timeInterval": "10s"},
    }


def _missing(error: GrafanaClientError) -> bool:
    return bool(error.status_code == NOT_FOUND)


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Does Grafana's copy differ in anything we set? (It adds ids and versions of its own.)"""
    return any(current.get(key) != value for key, value in wanted.items())


def push(
    url: str,
    token: str,
    folder: str,
    datasource: dict[str, Any],
    dashboards: dict[str, dict[str, Any]],
) -> list[str]:
    """Make Grafana hold the folder, the data source and the dashboards; returns what changed."""
    api = GrafanaApi.from_url(url, credential=token)
    try:
        return [
            *_folder(api, folder),
            *_datasource(api, datasource),
            *(change for board in dashboards.values() for change in _dashboard(api, board)),
        ]
    except GrafanaClientError as error:
        raise ToolError(f"Grafana at {url} refused: {error.status_code} {error.message}") from error
    except GrafanaException as error:
        raise UnreachableError(f"Grafana at {url}: {error}") from error
    except OSError as error:
        raise UnreachableError(f"cannot reach Grafana at {url}: {error}") from error


# `api` is grafana-client's GrafanaApi, whose methods are untyped (Any, as from_url gives it).
def _folder(api: Any, folder: str) -> list[str]:
    try:
        current = api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.folder.create_folder(folder, uid=FOLDER_UID)
        return [f"created folder {folder!r}"]
    if current.get("title") == folder:
        return []
    api.folder.update_folder(FOLDER_UID, title=folder, overwrite=True)
    return [f"renamed folder {FOLDER_UID!r} to {folder!r}"]


def _datasource(api: Any, datasource: dict[str, Any]) -> list[str]:
    try:
        current = api.datasource.get_datasource_by_uid(datasource["uid"])
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.datasource.create_datasource(datasource)
        return [f"created data source {datasource['name']!r}"]
    if not _differs(current, datasource):
        return []
    api.datasource.update_datasource_by_uid(datasource["uid"], datasource)
    return [f"updated data source {datasource['name']!r}"]


def _dashboard(api: Any, dashboard: dict[str, Any]) -> list[str]:
    uid = dashboard["uid"]
    try:
        stored = api.dashboard.get_dashboard(uid)
        if not _differs(stored["dashboard"], dashboard) and (
            stored.get("meta", {}).get("folderUid") == FOLDER_UID
        ):
            return []
        verb = "updated"
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        verb = "created"
    api.dashboard.update_dashboard({
        "dashboard": {**dashboard, "id": None},
        "folderUid": FOLDER_UID,
        "overwrite": True,
        "message": "makerwatch dashboards push",
    })  # fmt: skip
    return [f"{verb} dashboard {dashboard['title']!r} ({uid})"]
