"""An InfluxQL query as a Grafana panel target. The Grafana Foundation SDK builds every
other part of a dashboard, but has no builder for InfluxDB's own query model, so this
is that one piece, in the SDK's builder shape (build() -> a Dataquery with to_json)."""

from __future__ import annotations

from typing import Any, Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = ["INFLUXDB", "PROMETHEUS", "InfluxQL"]

# The data sources the dashboards use: the uids provisioned by
# dashboards/provisioning/datasources/makerwatch.yaml (and created by `dashboards push`).
INFLUXDB = DataSourceRef(type_val="influxdb", uid="makerwatch-influxdb")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="makerwatch-prometheus")


class _Query(cogvariants.Dataquery):
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def to_json(self) -> dict[str, Any]:
        return self.body


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw InfluxQL target (Grafana expands $timeFilter, $__interval and variables)."""

    def __init__(
        self,
        query: str,
        ref_id: str = "A",
        *,
        alias: str | None = None,
        result_format: Literal["time_series", "table"] = "time_series",
    ) -> None:
        self.body: dict[str, Any] = {
            "refId": ref_id,
            "datasource": {"type": INFLUXDB.type_val, "uid": INFLUXDB.uid},
            "query": query,
            "rawQuery": True,
            "resultFormat": result_format,
        }
        if alias is not None:
            self.body["alias"] = alias

    def build(self) -> cogvariants.Dataquery:
        return _Query(self.body)
