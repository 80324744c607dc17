"""Protocol v1: topics, the table of message kinds, and the committed JSON Schema kept
equal to them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from makerwatch.core.protocol import (
    MESSAGE_KINDS,
    STATE_MEASUREMENT,
    KindSpec,
    Level,
    MessageKind,
    RelayCommand,
    Role,
    Telemetry,
    TopicError,
    board_kinds,
    json_schema,
    parse_topic,
    topic_for,
)
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


def test_every_kind_in_the_table_is_in_the_schema_with_its_direction() -> None:
    """Test that the JSON Schema has one entry per row of MESSAGE_KINDS, with its topic,
    direction, retention and measurement, and that the board's own kinds parse."""
    schema = json_schema()
    assert list(schema["messages"]) == [kind.suffix for kind in MESSAGE_KINDS]
    assert schema["kinds"]["state"] == {
        "direction": "board -> server",
        "retained": True,
        "measurement": STATE_MEASUREMENT,
    }
    assert schema["kinds"]["cmd/relay"] == {"direction": "server -> board", "retained": False}
    assert schema["topics"]["_invalid"] == "makerspace/_invalid"
    for kind in board_kinds():
        assert parse_topic(kind.topic("aktobe", "solder-1")).kind == kind.suffix


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"measurement": None}, "only such a kind, is stored in a measurement"),
        (
            {"publisher": Role.SERVER, "reader": Role.BOARD},
            "only such a kind, is stored in a measurement",
        ),
        ({"suffix": "energy/total"}, r"a board's is one level of \[a-z0-9-\]"),
        ({"suffix": "energy/#"}, "not a topic suffix"),
        ({"schema": RelayCommand}, "a board's schema is a BoardMessage"),
        ({"level": Level.SITE}, "a board's kind is a device's topic"),
    ],
)
def test_a_wrong_row_of_the_table_is_refused_in_one_sentence(
    row: dict[str, Any], words: str
) -> None:
    """Test that KindSpec checks itself when built: a row that could not be generated
    into the ACL and the decoder never exists."""
    fields: dict[str, Any] = {
        "suffix": "energy", "schema": Telemetry, "publisher": Role.BOARD,
        "reader": Role.SERVER, "retained": False, "measurement": "energy",
    }  # fmt: skip
    with pytest.raises(ValueError, match=words):
        KindSpec(**{**fields, **row})
