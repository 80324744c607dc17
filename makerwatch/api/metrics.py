"""The service's counters for Prometheus, and the HTTP API's own (what its caps and
budgets refused), rendered by prometheus_client (which escapes label values and
follows the exposition format), read at each scrape. Imported at the first scrape."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from makerwatch.api.guards import Guard
from makerwatch.api.listener import Limits
from makerwatch.api.metric_source import COUNTERS, PREFIX, MetricSource

__all__ = ["CONTENT_TYPE_LATEST", "render"]

# One sample of a family: its label values (before the site), and its value.
Sample = tuple[tuple[str, ...], float]


def _family(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    help_text: str,
    site: str,
    samples: Iterable[Sample],
    labels: tuple[str, ...] = (),
) -> Metric:
    """A counter or gauge family of the site, `makerwatch_<name>`, labelled `labels` + site."""
    family = kind(f"{PREFIX}_{name}", help_text, labels=[*labels, "site"])
    for values, value in samples:
        family.add_metric([*values, site], value)
    return family


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
            yield _family(CounterMetricFamily, name, help_text, site,
                          [((), float(values[name]))])  # type: ignore[arg-type]  # fmt: skip
        by_reason: Mapping[str, int] = values["dead_lettered"]  # type: ignore[assignment]
        yield _family(CounterMetricFamily, "dead_lettered",
                      "Messages sent to the dead-letter topic, by reason.", site,
                      (((str(r),), c) for r, c in sorted(by_reason.items())), ("reason",))  # fmt: skip
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
            yield _family(GaugeMetricFamily, name, help_text, site, [((), value)])
        yield _family(CounterMetricFamily, "notifications",
                      "Notification deliveries by channel and outcome.", site,
                      (((channel, outcome), count)
                       for outcome, by_channel in sorted(source.notification_counts().items())
                       for channel, count in sorted(by_channel.items())),
                      ("channel", "outcome"))  # fmt: skip
        yield _family(CounterMetricFamily, "notifications_dropped",
                      "Notifications a full outbox dropped, by channel and severity (never safety).",
                      site, (((c, s), n) for (c, s), n in sorted(source.notification_drops().items())),
                      ("channel", "severity"))  # fmt: skip
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
            yield _family(CounterMetricFamily, name, help_text, site, [((), value)])
        yield _family(CounterMetricFamily, "board_streams_refused",
                      "Floor-board streams refused, by the cap that refused them (address, total).",
                      site, (((cap,), guard.streams_refused[cap]) for cap in ("address", "total")),
                      ("cap",))  # fmt: skip
        yield _family(GaugeMetricFamily, "board_streams", "Floor-board streams open now.", site,
                      [((), guard.streams.held.total())])  # fmt: skip


def render(source: MetricSource, guard: Guard, connections: Limits) -> bytes:
    """Every metric in Prometheus' text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(source, guard, connections))
    return generate_latest(registry)
