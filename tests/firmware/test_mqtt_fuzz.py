"""The board fed arbitrary bytes from a broker: only MQTTError comes out of its MQTT
client, and only actions or refusals out of its command and config handling.

umqtt-style, on CPython: a fake socket replays what hypothesis makes up, and every
call that reads from the broker either returns or raises MQTTError (an OSError, so
the runtime's one reconnect loop handles it). Nothing else may escape: on a board,
any other exception stops the main loop until the watchdog resets it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import config, mqtt
from firmware.core.agent import MAX_PENDING_EVENTS, Agent
from makerwatch.core.protocol import Event


class BrokerBytes:
    """A socket whose incoming bytes are given, in the chunks given; then it is closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = [c for c in chunks if c]
        self.timeout: float | None = None

    def settimeout(self, seconds: float | None) -> None:
        self.timeout = seconds

    def sendall(self, data: bytes) -> None:
        pass

    def recv(self, n: int) -> bytes:
        if not self.chunks:
            return b""  # the broker closed the connection
        chunk = self.chunks[0][:n]
        self.chunks[0] = self.chunks[0][n:]
        if not self.chunks[0]:
            self.chunks.pop(0)
        return chunk

    def close(self) -> None:
        pass


PACKET_TYPES = st.sampled_from([0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x36, 0x3B, 0x40, 0x90, 0xD0,
                                0x00, 0x50, 0xB0, 0xE0, 0xF0])  # fmt: skip


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    """One packet framed as a broker would, with a body that may be anything; sometimes
    announcing a length it does not have, or a huge one."""
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):  # a PUBLISH-like body: a topic length, then bytes
        body = len(body).to_bytes(2, "big")[: draw(st.integers(0, 2))] + body
    length = draw(st.one_of(st.just(len(body)), st.integers(0, 2**28 - 1)))
    return bytes((draw(PACKET_TYPES),)) + mqtt.encode_length(length) + body


STREAMS = st.one_of(
    st.lists(st.binary(max_size=80), max_size=4),
    st.lists(packets(), min_size=1, max_size=4).map(lambda ps: [b"".join(ps)]),
    st.lists(packets(), min_size=1, max_size=4),
)

CALLS: dict[str, Callable[[mqtt.MQTTClient], object]] = {
    "check_msg": lambda client: client.check_msg(),
    "connect": lambda client: client.connect(clean=False),
    "publish": lambda client: client.publish("makerspace/a/b/telemetry", "{}", 1),
    "subscribe": lambda client: client.subscribe("makerspace/a/b/cmd/#", 1),
    "ping": lambda client: client.ping(),
}


@settings(max_examples=600, deadline=None)
@given(stream=STREAMS, call=st.sampled_from(sorted(CALLS)))
def test_whatever_a_broker_sends_only_mqtterror_comes_out(stream: list[bytes], call: str) -> None:
    """Test that arbitrary bytes from the broker, framed or not, give the caller a return
    or an MQTTError, and the callback only (str, bytes)."""
    received: list[tuple[object, object]] = []
    client = mqtt.MQTTClient(
        BrokerBytes(stream), "mw-b1", timeout_s=0.01,
        on_message=lambda topic, payload: received.append((topic, payload)),
    )  # fmt: skip
    with contextlib.suppress(mqtt.MQTTError):
        CALLS[call](client)
    assert all(isinstance(t, str) and isinstance(p, bytes) for t, p in received), received


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = (*config.RUNTIME_KEYS, "on", "reason", "seconds")
MESSAGES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"v": st.just(1)}, optional=dict.fromkeys(KEYS, JSON)).map(
        lambda body: json.dumps(body).encode()
    ),
)


@settings(max_examples=600, deadline=None)
@given(name=st.sampled_from(["relay", "identify", "config", ""]) | st.text(max_size=20),
       payload=MESSAGES, queued=st.booleans())  # fmt: skip
def test_any_message_on_the_boards_own_topics_is_taken_or_refused(
    name: str, payload: bytes, queued: bool
) -> None:
    """Test that any payload on the board's command and config topics gives an action or a
    refusal, never an exception, and that every event it causes is valid protocol."""
    settings_, _ = config.validate({"relay_pin": 26, "relay_active_high": True, "max_on_s": 600,
                                    "allow_remote_on": True})  # fmt: skip
    agent = Agent(settings_)
    action = agent.command(name, payload, queued)
    assert action is None or action[0] in ("relay", "identify"), action
    if action is not None and action[0] == "relay":
        agent.switch_relay(action[1], action[2])
    agent.apply_config(payload)
    assert 0 < agent.settings["max_on_s"] <= 600, "a remote config never loosens the limit"
    for event in agent.events.peek(MAX_PENDING_EVENTS):
        Event.model_validate_json(event)
