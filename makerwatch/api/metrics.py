"""The service's counters for Prometheus, and the HTTP API's own (what its caps and
budgets refused), rendered by prometheus_client (which escapes label values and
follows the exposition format), read at each scrape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from makerwatch.api.guards import Guard
from makerwatch.api.listener import Limits

__all__ = ["COUNTERS", "MetricSource", "render"]

PREFIX = "makerwatch"

# counter (a field of the ingest counters) -> help text. One list: the exported
# names are these with `makerwatch_` before and `_total` after.
COUNTERS: dict[str, str] = {
    "messages_received": "Board messages received from the broker.",
    "messages_stored": "Board messages whose points were written or spooled, then acknowledged.",
    "points_written": "Points written to InfluxDB.",
    "write_batches": "Batches written to InfluxDB.",
    "write_retries": "Failed InfluxDB writes that were retried.",
    "mqtt_reconnects": "Times the broker connection was lost and retried.",
    "sessions_written": "Usage sessions written.",
    "spooled_batches": "Batches put in the on-disk spool while InfluxDB could not take them.",
    "replayed_batches": "Spooled batches written to InfluxDB later.",
    "spool_full": "Times a batch was held at the broker because the spool was full.",
    "spool_rejected_points": "Spooled points InfluxDB refused on replay (dropped, logged).",
    "spool_errors": "Spool reads or writes the disk refused (retried; messages held at the broker).",
}


class MetricSource(Protocol):
    """What /metrics reads at each scrape."""

    @property
    def site_id(self) -> str: ...
    @property
    def mqtt_connected(self) -> bool: ...
    @property
    def unacknowledged(self) -> int: ...
    @property
    def spool_bytes(self) -> int: ...
    @property
    def broker_dropped(self) -> int: ...

    def counter_values(self) -> Mapping[str, object]: ...
    def active_alerts(self) -> list[dict[str, object]]: ...
    def notification_counts(self) -> Mapping[str, Mapping[str, int]]: ...
    def notification_drops(self) -> Mapping[tuple[str, str], int]: ...


class _Collector(Collector):
    def __init__(self, source: MetricSource, guard: Guard, connections: Limits) -> None:
        self._source = source
        self._guard = guard
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        source = self._source
        site = source.site_id
        values = source.counter_values()
        for name, help_text in COUNTERS.items():
            family = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=["site"])
            family.add_metric([site], float(values[name]))  # type: ignore[arg-type]
            yield family
        dead = CounterMetricFamily(
            f"{PREFIX}_dead_lettered",
            "Messages sent to the dead-letter topic, by reason.",
            labels=["reason", "site"],
        )
        by_reason: Mapping[str, int] = values["dead_lettered"]  # type: ignore[assignment]
        for reason, count in sorted(by_reason.items()):
            dead.add_metric([str(reason), site], count)
        yield dead
        write = SummaryMetricFamily(
            f"{PREFIX}_write_seconds", "Time spent in InfluxDB writes.", labels=["site"]
        )
        write.add_metric(
            [site],
            count_value=float(values["write_seconds_count"]),  # type: ignore[arg-type]
            sum_value=float(values["write_seconds_sum"]),  # type: ignore[arg-type]
        )
        yield write
        for name, help_text, value in (
            ("mqtt_connected", "1 while subscribed to the broker.", int(source.mqtt_connected)),
            ("unacknowledged_messages", "Messages received and not yet acknowledged.",
             source.unacknowledged),
            ("spool_bytes", "Bytes in the spool waiting for InfluxDB.", source.spool_bytes),
            ("broker_dropped_messages", "Messages the broker dropped since it started (its $SYS count): lost readings.",
             source.broker_dropped),
            ("active_alerts", "Alerts that currently hold.", len(source.active_alerts())),
        ):  # fmt: skip
            gauge = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["site"])
            gauge.add_metric([site], value)
            yield gauge
        sent = CounterMetricFamily(
            f"{PREFIX}_notifications",
            "Notification deliveries by channel and outcome.",
            labels=["channel", "outcome", "site"],
        )
        for outcome, by_channel in sorted(source.notification_counts().items()):
            for channel, count in sorted(by_channel.items()):
                sent.add_metric([channel, outcome, site], count)
        yield sent
        dropped = CounterMetricFamily(
            f"{PREFIX}_notifications_dropped",
            "Notifications a full outbox dropped, by channel and severity (never safety).",
            labels=["channel", "severity", "site"],
        )
        for (channel, severity), count in sorted(source.notification_drops().items()):
            dropped.add_metric([channel, severity, site], count)
        yield dropped
        yield from self._http(site)

    def _http(self, site: str) -> Iterator[Metric]:
        guard = self._guard
        for name, help_text, value in (
            ("http_connections_refused", "HTTP connections refused over the per-address or total cap.",
             self._connections.refused),
            ("staff_token_failures", "Requests with a staff token that is not known (each is logged with its address).",
             guard.wrong_tokens),
            ("staff_token_refusals", "Requests answered 429 unchecked: their address had sent too many wrong tokens.",
             guard.tokens_refused),
            ("board_streams_dropped", "Floor-board streams ended because their page stopped reading.",
             guard.streams_dropped),
        ):  # fmt: skip
            counter = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=["site"])
            counter.add_metric([site], value)
            yield counter
        refused = CounterMetricFamily(
            f"{PREFIX}_board_streams_refused",
            "Floor-board streams refused, by the cap that refused them (address, total).",
            labels=["cap", "site"],
        )
        for cap in ("address", "total"):
            refused.add_metric([cap, site], guard.streams_refused[cap])
        yield refused
        streams = GaugeMetricFamily(
            f"{PREFIX}_board_streams", "Floor-board streams open now.", labels=["site"]
        )
        streams.add_metric([site], guard.streams.held.total())
        yield streams


def render(source: MetricSource, guard: Guard, connections: Limits) -> bytes:
    """Every metric in Prometheus' text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(source, guard, connections))
    return generate_latest(registry)
