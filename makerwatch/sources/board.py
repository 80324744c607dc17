"""The first source: our board's protocol, read by ingest's Decoder as it is."""

from __future__ import annotations

from makerwatch.core.protocol import board_subscriptions
from makerwatch.ingest.decode import Decoded, Decoder

__all__ = ["BoardSource"]


class BoardSource:
    """Every board topic of the message kinds' table, to the protocol's decoder."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    @staticmethod
    def subscriptions() -> list[str]:
        return board_subscriptions()

    def decode(self, topic: str, payload: bytes, retained: bool = False) -> Decoded:
        return self.decoder.decode(topic, payload, retained)
