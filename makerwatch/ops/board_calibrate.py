"""`makerwatch board calibrate`: correct a board's measurement against a known reference.

The board does the measuring (it averages its last few power readings, or takes its
latest temperature), works out the correction, keeps it in its settings.json and
reports it as a `config_applied` event (or why not, as `config_rejected`): the command
waits for that answer.
"""

from __future__ import annotations

import asyncio
import json
import re

import aiomqtt

from makerwatch.core.errors import ConfigError, ToolError
from makerwatch.core.protocol import CalibrateCommand, Event, calibration_answer, message_kind

__all__ = ["CalibrationRefused", "calibrate", "parse_quantity"]

# The board answers at its next loop pass; a board away this long is not there.
ANSWER_TIMEOUT_S = 30.0


class CalibrationRefused(ToolError):
    """The board refused the calibration; the message is its reason."""


EXAMPLES = {"W": "60W", "C": "25C"}


def parse_quantity(text: str, unit: str, option: str) -> float:
    """`60W` or `60` -> 60.0 for unit W; a one-line error naming the option otherwise."""
    match = re.fullmatch(rf"\s*(-?\d+(?:[.,]\d+)?)\s*(?:{unit})?\s*", text, re.IGNORECASE)
    if match is None:
        raise ConfigError(
            f"{option} {text!r}: expected a number of {unit}, e.g. {EXAMPLES.get(unit, unit)}"
        )
    return float(match.group(1).replace(",", "."))


async def calibrate(
    host: str,
    port: int,
    site: str,
    device: str,
    command: CalibrateCommand,
    *,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """Send the calibration to the board and return what it applied."""
    events = message_kind("event").topic(site, device)
    try:
        async with aiomqtt.Client(
            host, port, username=username, password=password, identifier=username or None
        ) as client:
            await client.subscribe(events, qos=1)
            payload = command.model_dump_json(exclude_none=True)
            await client.publish(message_kind("cmd/calibrate").topic(site, device), payload, qos=1)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                async for message in client.messages:
                    answer = _answer(bytes(message.payload))
                    if answer is not None:
                        return answer
    except TimeoutError:
        raise ToolError(
            f"{device}: no answer within {ANSWER_TIMEOUT_S:.0f} s; is it online?"
        ) from None
    except aiomqtt.MqttError as exc:
        raise ToolError(f"MQTT {host}:{port}: {exc}") from exc
    raise ToolError(f"MQTT {host}:{port}: the connection ended")


def _answer(payload: bytes) -> str | None:
    try:
        event = Event.model_validate(json.loads(payload))
    except ValueError:
        return None
    answer = calibration_answer(event.event, event.detail or "")
    if answer is not None and not answer[0]:
        raise CalibrationRefused(answer[1])
    return answer[1] if answer is not None else None
