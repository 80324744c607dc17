"""Protocol v1: topics, and the committed JSON Schema kept equal to the models."""

from __future__ import annotations

import json

import pytest

from makerwatch.core.protocol import MessageKind, TopicError, json_schema, parse_topic, topic_for
from tests.support import ROOT


def test_committed_schema_matches_the_models() -> None:
    """Test that docs/protocol.schema.json is what `makerwatch schema` exports now."""
    committed = json.loads((ROOT / "docs" / "protocol.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: makerwatch schema > docs/protocol.schema.json"


def test_topic_round_trips() -> None:
    """Test that a topic built by topic_for parses back into the same parts."""
    topic = topic_for("aktobe", "solder-1", MessageKind.TELEMETRY)
    assert topic == "makerspace/aktobe/solder-1/telemetry"
    parts = parse_topic(topic)
    assert (parts.site, parts.device, parts.kind) == ("aktobe", "solder-1", MessageKind.TELEMETRY)


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("makerspace/aktobe/solder-1", "not makerspace/<site>/<device>/<kind>"),
        ("other/aktobe/solder-1/telemetry", "not makerspace/<site>/<device>/<kind>"),
        ("makerspace/Aktobe/solder-1/telemetry", "site 'Aktobe' is not a slug"),
        ("makerspace/aktobe/" + "d" * 33 + "/telemetry", "is not a slug"),
        ("makerspace/aktobe/solder-1/cmd", "unknown message kind 'cmd'"),
    ],
)
def test_bad_topic_is_explained(topic: str, words: str) -> None:
    """Test that a malformed topic raises TopicError saying what is wrong."""
    with pytest.raises(TopicError, match=words):
        parse_topic(topic)
