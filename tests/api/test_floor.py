"""The floor board's live stream: what is sent when alerts change, and what is not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from makerwatch.api.floor import Floor
from makerwatch.core.site_config import load_site_config
from tests.support import ROOT

CONFIG = load_site_config(ROOT / "makerspace.example.yaml")


def alert(alert_id: str, held_s: int, **changes: object) -> dict[str, Any]:
    return {"alert_id": alert_id, "device": "solder-1", "fired_ms": 1_000, "seconds": 60.0,
            "held_s": held_s, "acked_by": None, **changes}  # fmt: skip


def alert_events(queue: asyncio.Queue[str]) -> list[dict[str, Any]]:
    events = []
    while not queue.empty():
        name, data = queue.get_nowait().split("\n")[:2]
        if name == "event: alerts":
            events.append(json.loads(data.removeprefix("data: ")))
    return events


def test_a_page_is_sent_only_the_alerts_that_changed_not_their_held_time() -> None:
    """Test that while alerts hold, pushes send nothing for them; an acknowledgement sends
    that alert alone, and an alert that ended is sent as its id."""
    active = [alert("a", 60), alert("b", 5)]
    floor = Floor(CONFIG, lambda: active)
    page = floor.subscribe()
    floor.push(1_000)
    first = alert_events(page)
    assert [[a["alert_id"] for a in e["changed"]] for e in first] == [["a", "b"]]

    for second in range(1, 5):  # held time goes on: nothing to send
        active = [alert("a", 60 + second), alert("b", 5 + second)]
        floor.push(1_000 + second * 1000)
    assert alert_events(page) == []

    active = [alert("a", 70, acked_by="Aigerim"), alert("b", 15)]
    floor.push(11_000)
    assert [(e["changed"], e["ended"]) for e in alert_events(page)] == [
        ([alert("a", 70, acked_by="Aigerim")], [])
    ]

    active = [alert("a", 71, acked_by="Aigerim")]
    floor.push(12_000)
    assert [(e["changed"], e["ended"]) for e in alert_events(page)] == [([], ["b"])]
