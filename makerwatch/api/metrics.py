"""The ingest counters in Prometheus' text exposition format (STYLE.md 6: exported, not just logged)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from makerwatch.ingest.counters import IngestCounters

__all__ = ["render"]

PREFIX = "makerwatch"


def _metric(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines.append(
            f"{PREFIX}_{name}{{{label_text}}} {value:g}"
            if label_text
            else f"{PREFIX}_{name} {value:g}"
        )
    return lines


def render(
    site: str,
    counters: IngestCounters,
    *,
    mqtt_connected: bool,
    unacknowledged: int,
    spool_bytes: int,
    active_alerts: int,
    notifications: Mapping[str, Mapping[str, int]],
) -> str:
    """All metrics; `notifications` is outcome -> channel -> count."""
    s = {"site": site}
    c = counters
    lines: list[str] = []
    for name, help_text, value in (
        (
            "messages_received_total",
            "Board messages received from the broker.",
            c.messages_received,
        ),
        (
            "messages_stored_total",
            "Messages whose points were written and which were acknowledged.",
            c.messages_stored,
        ),
        ("points_written_total", "Points written to InfluxDB.", c.points_written),
        ("write_batches_total", "Batches written to InfluxDB.", c.write_batches),
        ("write_retries_total", "Failed InfluxDB writes that were retried.", c.write_retries),
        (
            "mqtt_reconnects_total",
            "Times the broker connection was lost and retried.",
            c.mqtt_reconnects,
        ),
        ("sessions_written_total", "Usage sessions written.", c.sessions_written),
        (
            "spooled_batches_total",
            "Batches put in the on-disk spool while InfluxDB could not take them.",
            c.spooled_batches,
        ),
        (
            "replayed_batches_total",
            "Spooled batches written to InfluxDB later.",
            c.replayed_batches,
        ),
        (
            "spool_full_total",
            "Times a batch was held at the broker because the spool was full.",
            c.spool_full,
        ),
        (
            "spool_rejected_points_total",
            "Spooled points InfluxDB refused on replay (dropped, logged).",
            c.spool_rejected_points,
        ),
    ):
        lines += _metric(name, "counter", help_text, [(s, value)])
    reasons = sorted(c.dead_lettered.items())
    lines += _metric("dead_lettered_total", "counter", "Messages sent to the dead-letter topic, by reason.",
                     [({**s, "reason": r}, n) for r, n in reasons])  # fmt: skip
    lines += [  # a summary without quantiles: its _sum and _count
        f"# HELP {PREFIX}_write_seconds Time spent in InfluxDB writes.",
        f"# TYPE {PREFIX}_write_seconds summary",
        f'{PREFIX}_write_seconds_sum{{site="{site}"}} {c.write_seconds_sum:g}',
        f'{PREFIX}_write_seconds_count{{site="{site}"}} {c.write_seconds_count:g}',
    ]
    lines += _metric(
        "mqtt_connected", "gauge", "1 while subscribed to the broker.", [(s, int(mqtt_connected))]
    )
    lines += _metric(
        "unacknowledged_messages",
        "gauge",
        "Messages received and not yet acknowledged.",
        [(s, unacknowledged)],
    )
    lines += _metric(
        "spool_bytes", "gauge", "Bytes in the spool waiting for InfluxDB.", [(s, spool_bytes)]
    )
    lines += _metric("active_alerts", "gauge", "Alerts that currently hold.", [(s, active_alerts)])
    samples = [
        ({**s, "channel": ch, "outcome": outcome}, n)
        for outcome, by in sorted(notifications.items())
        for ch, n in sorted(by.items())
    ]
    lines += _metric(
        "notifications_total", "counter", "Notification deliveries by channel and outcome.", samples
    )
    return "\n".join(lines) + "\n"
