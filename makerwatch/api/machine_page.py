"""One machine's page on the floor board: today's power and states, its recent usage
sessions and alerts, read from InfluxDB (`GET /machines/{device}`). The live state and
"on since" are the floor's tile, so this adds only history; the page draws it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from makerwatch.core.protocol import STATE_MEASUREMENT, TELEMETRY_MEASUREMENT
from makerwatch.core.site_config import Device

__all__ = ["POWER_STEP_MIN", "RECENT", "calibrations", "machine_history", "midnight_ms"]

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]
POWER_STEP_MIN = 5  # today's power as a mean every 5 min: 288 points at most, for a phone
RECENT = 8  # sessions and alert steps shown


def midnight_ms(now_ms: int, timezone: str) -> int:
    """The start of the site's day."""
    now = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone))
    return int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def calibrations(device: Device) -> list[str]:
    """What staff may calibrate on this machine's board (`makerwatch board calibrate`):
    a CT clamp's power against a known load, a sensor's temperature against a reference
    (a PZEM measures real power and is not corrected)."""
    board = device.board
    found = ["power"] if board.get("power_sensor") == "ct" else []
    return found + (["temperature"] if board.get("temp_sensor", "none") != "none" else [])


def _rows(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(zip(s["columns"], values, strict=True)) for s in series for values in s["values"]]


async def machine_history(
    query: Query, site: str, device: str, since_ms: int
) -> dict[str, list[Any]]:
    """Today's power ([ms, W]) and state changes ([ms, state], with the state the day
    began in), the last sessions and alert steps, newest first. `device` is a known id
    (the caller checked it), so it is safe inside the query."""
    where = f"site = '{site}' AND device = '{device}'"
    power = await query(
        f"SELECT mean(power_w) FROM {TELEMETRY_MEASUREMENT} WHERE {where} "
        f"AND time >= {since_ms}ms GROUP BY time({POWER_STEP_MIN}m) fill(none)"
    )
    before = await query(
        f"SELECT last(state) FROM {STATE_MEASUREMENT} WHERE {where} AND time < {since_ms}ms"
    )
    states = await query(
        f"SELECT state FROM {STATE_MEASUREMENT} WHERE {where} AND time >= {since_ms}ms"
    )
    sessions = await query(
        "SELECT duration_s, energy_wh, peak_power_w FROM session "
        f"WHERE {where} ORDER BY time DESC LIMIT {RECENT}"
    )
    alerts = await query(
        "SELECT alert_id, rule, status, acked_by FROM alert "
        f"WHERE {where} ORDER BY time DESC LIMIT {RECENT}"
    )
    began = [[since_ms, row["last"]] for row in _rows(before)]
    return {
        "power": [[row["time"], round(row["mean"], 1)] for row in _rows(power)],
        "states": began + [[row["time"], row["state"]] for row in _rows(states)],
        "sessions": _rows(sessions),
        "alerts": [
            {key: row.get(key) for key in ("time", "rule", "status", "acked_by")}
            for row in _rows(alerts)
        ],
    }
