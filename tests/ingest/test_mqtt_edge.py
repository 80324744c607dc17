"""paho's PUBLISH properties decoded with shared tables read, pack and print as paho's own."""

from __future__ import annotations

from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from makerwatch.ingest.mqtt_edge import SharedTableProperties, use_shared_tables


def test_shared_tables_decode_every_publish_property_as_paho_does() -> None:
    """Test that each PUBLISH property, set and packed by paho, unpacks the same with
    shared tables, and that building one no longer rebuilds the tables."""
    sent = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    sent.PayloadFormatIndicator = 1
    sent.MessageExpiryInterval = 3600
    sent.ContentType = "application/json"
    sent.ResponseTopic = "makerspace/aktobe/reply"
    sent.CorrelationData = b"\x00\x01"
    sent.TopicAlias = 7
    sent.UserProperty = ("машина", "Дәнекерлеу")
    sent.UserProperty = ("b", "2")
    packed = sent.pack()  # type: ignore[no-untyped-call]
    ours = SharedTableProperties(PacketTypes.PUBLISH)
    theirs = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    assert ours.unpack(packed)[1] == theirs.unpack(packed)[1] == len(packed)  # type: ignore[no-untyped-call]
    assert ours.json() == theirs.json() == sent.json()  # type: ignore[no-untyped-call]
    assert str(ours) == str(theirs)
    assert ours.pack() == packed  # type: ignore[no-untyped-call]
    assert "names" not in vars(ours), "the tables are the class's, not built per message"
    assert SharedTableProperties(PacketTypes.PUBLISH).names is ours.names


def test_paho_decodes_publishes_with_the_shared_tables() -> None:
    """Test that use_shared_tables() is what paho's PUBLISH decoder builds."""
    use_shared_tables()
    packet = b"\x00\x03a/b\x00\x01" + b"\x00" + b"payload"  # topic, packet id, no properties
    decoded = _packet.decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv5)
    assert isinstance(decoded.properties, SharedTableProperties)
    assert decoded.payload == b"payload"
