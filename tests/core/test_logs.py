"""Structured logs: one JSON object per line, with the fields a dead letter carries."""

from __future__ import annotations

import json
import logging

from makerwatch.core.logs import JsonFormatter


def test_a_dead_letter_logs_as_one_json_line_with_topic_and_payload() -> None:
    """Test the JSON line for a dead letter: level, logger, message, topic, reason, truncated payload."""
    record = logging.LogRecord(
        "makerwatch.ingest.source",
        logging.WARNING,
        __file__,
        1,
        "dead-lettered (%s) %s",
        ("schema", "x: bad"),
        None,
    )
    record.topic, record.reason, record.payload = (
        "makerspace/a/b/telemetry",
        "schema",
        '{"v":1,"seq":"x"}',
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "makerwatch.ingest.source"
    assert entry["message"] == "dead-lettered (schema) x: bad"
    assert (entry["topic"], entry["reason"], entry["payload"]) == (
        "makerspace/a/b/telemetry",
        "schema",
        '{"v":1,"seq":"x"}',
    )
    assert entry["ts"].endswith("+00:00")
