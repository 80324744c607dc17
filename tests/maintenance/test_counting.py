"""The count from InfluxDB's stored states, a page at a time: the same as counted all at
once, with the real InfluxDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.maintenance import tracker
from makerwatch.maintenance.store import Done, MaintenanceStore
from makerwatch.maintenance.tracker import MaintenanceTracker

HOUR_MS = 3_600_000
START_MS = 1_790_000_000_000


async def test_the_count_pages_through_the_states(
    site_config: SiteConfig, influx: InfluxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test seven states of an hour in use each, three pages of two rows (and one of one):
    7 machine-hours; done after the third state, 4."""
    raw = site_config.model_dump(mode="json")
    raw["maintenance"] = [
        {"id": "tip", "name": "Tip", "devices": ["solder-1"], "every_active_h": 5}
    ]
    config = SiteConfig.model_validate(raw)
    await influx.ensure_database()
    await influx.write([
        f'state,site={config.site.id},device=solder-1 state="off",previous="active",'
        f"previous_duration_s=3600 {(START_MS + n * 2 * HOUR_MS) * 1_000_000}"
        for n in range(1, 8)
    ])  # fmt: skip
    monkeypatch.setattr(tracker, "PAGE_ROWS", 2)
    store = MaintenanceStore(tmp_path)
    counting = MaintenanceTracker(config, store, influx.query)
    await counting.load()
    [tip] = counting.status("solder-1", START_MS + 20 * HOUR_MS)
    assert (tip["used"], tip["due"], tip["due_ms"]) == (7.0, True, START_MS + 10 * HOUR_MS)

    store.record(Done("solder-1", "tip", "Aigerim", START_MS + 6 * HOUR_MS + 1))
    await counting.load()
    [tip] = counting.status("solder-1", START_MS + 20 * HOUR_MS)
    assert (tip["used"], tip["due"], tip["last_done_by"]) == (4.0, False, "Aigerim")
