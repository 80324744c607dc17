"""Shelly Gen2, Gen3 and Gen4 (one RPC format: shelly-api-docs.shelly.cloud/gen2/,
ComponentsAndServices/Mqtt and /Switch):

    <prefix>/status/switch:<id>   the switch's whole status ("generic status update"):
                                  {"id":0,"output":true,"apower":45.1,"voltage":229.8,
                                   "current":0.2,"aenergy":{"total":1234.5,...},
                                   "temperature":{"tC":41.2,"tF":106.2}}   (aenergy.total Wh)
    <prefix>/events/rpc           {"src":...,"method":"NotifyStatus","params":{"ts":1765102200.5,
                                   "switch:0":{"apower":12.3}}}  (only what changed;
                                   NotifyFullStatus: everything; NotifyEvent: ignored)
    <prefix>/online               true | false  (retained)
    <prefix>/rpc                  {"id":1,"src":...,"method":"Switch.Set","params":{"id":0,"on":false}}

With both "RPC status notifications" (`rpc_ntf`, on by default) and "Generic status
update" (`status_ntf`, off by default) on, one change is sent twice: the whole status on
`status/switch:<id>` and the changed fields in NotifyStatus. Once a plug's whole status
is heard, its readings come from there alone and NotifyStatus gives only its relay
(`full_status`, sources/router.py); a plug with `status_ntf` off is read from
NotifyStatus.

The answer to an RPC goes to `<src>/rpc`: ours is `<prefix>/makerwatch`, inside the
plug's own topic tree, which its login may write.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.protocol import DeadLetterReason
from makerwatch.core.source_settings import ShellySource
from makerwatch.sources.family import (
    CURRENT_A,
    ENERGY_WH,
    POWER_W,
    TEMP_C,
    VOLTAGE_V,
    Family,
    Parsed,
    Unreadable,
    json_object,
    number,
    on_off,
    per_device_login,
    text,
)  # fmt: skip

__all__ = ["SHELLY"]

_FIELDS = {
    "apower": ("power_w", POWER_W),
    "voltage": ("voltage_v", VOLTAGE_V),
    "current": ("current_a", CURRENT_A),
}
_NOTIFY = ("NotifyStatus", "NotifyFullStatus")


def _component(settings: ShellySource) -> str:
    return f"switch:{settings.switch}"


def _topics(settings: ShellySource) -> list[str]:
    p = settings.prefix
    return [f"{p}/status/{_component(settings)}", f"{p}/events/rpc", f"{p}/online"]


def _parse(settings: ShellySource, topic: str, payload: bytes, zone: ZoneInfo) -> Parsed:
    if topic.endswith("/online"):
        return Parsed(online=on_off(topic, "payload", text(topic, payload)))
    body = json_object(topic, payload)
    if topic.endswith("/events/rpc"):
        return _notification(settings, topic, body)
    return _status(topic, body, None, body.get("sim") is True)


def _notification(settings: ShellySource, topic: str, body: dict[str, Any]) -> Parsed:
    params = body.get("params")
    if body.get("method") not in _NOTIFY or not isinstance(params, dict):
        return Parsed()  # NotifyEvent and the like: nothing we store
    status = params.get(_component(settings))
    ts = params.get("ts")
    when = number(topic, "params.ts", ts, 0, 1e11) if ts is not None else None
    if status is None:
        return Parsed()  # another component changed
    if not isinstance(status, dict):
        raise Unreadable(
            DeadLetterReason.SCHEMA, f"{topic}: params.{_component(settings)} is not an object"
        )
    return _status(topic, status, when, params.get("sim") is True)


def _status(topic: str, status: dict[str, Any], ts: float | None, simulated: bool) -> Parsed:
    readings = {
        name: number(topic, key, status[key], *limits)
        for key, (name, limits) in _FIELDS.items()
        if status.get(key) is not None
    }
    energy = status.get("aenergy")
    if isinstance(energy, dict) and energy.get("total") is not None:
        readings["energy_wh"] = number(topic, "aenergy.total", energy["total"], *ENERGY_WH)
    temperature = status.get("temperature")
    extra = {}
    if isinstance(temperature, dict) and temperature.get("tC") is not None:
        # The plug's own temperature, not the machine's: stored apart from temp_c.
        extra["plug_temp_c"] = number(topic, "temperature.tC", temperature["tC"], *TEMP_C)
    output = status.get("output")
    relay = on_off(topic, "output", output) if output is not None else None
    return Parsed(readings=readings, extra=extra, relay_on=relay, ts=ts, simulated=simulated)


def _command(settings: ShellySource, on: bool) -> tuple[str, str]:
    request = {
        "id": 1, "src": f"{settings.prefix}/makerwatch", "method": "Switch.Set",
        "params": {"id": settings.switch, "on": on},
    }  # fmt: skip
    return f"{settings.prefix}/rpc", json.dumps(request)


SHELLY: Family[ShellySource] = Family(
    type="shelly",
    topics=_topics,
    parse=_parse,
    command=_command,
    writes=lambda s: [f"{s.prefix}/#"],
    reads=lambda s: [f"{s.prefix}/rpc"],
    login=per_device_login,
    full_status=lambda s: f"{s.prefix}/status/{_component(s)}",
)
