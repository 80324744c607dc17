"""A blocking maintenance task locks a machine that enforces cards, end to end and each
part real in its own process: `makerwatch ingest` from a site file, the real Mosquitto
and InfluxDB, the command line beside it, and the board program under MicroPython with
the MFRC522 chip model. A backfill crosses the task's interval: the retained access
list says locked, a trained member's card is refused while a staff card unlocks;
`makerwatch maintenance done` clears it and the member's card unlocks again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from makerwatch.core.cards import parse_uid
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from makerwatch.ops.firmware_deploy import load_secrets, settings_for
from tests.firmware.board import Recorder, recording
from tests.firmware.test_board_under_micropython import micropython_board
from tests.firmware.test_cards_under_micropython import Cards
from tests.maintenance.test_maintenance_due import HOUR_S, TIP, held_sessions
from tests.members.test_card_chain import RELAY, Staff, results, write_site
from tests.support import ingest_process, publish, wait_until

AIGERIM = "04:A3:2B:1C:5D:6E:80"  # a member trained on solder-1
DAULET = "C4:E9:A1:7B"  # staff
LOCKED = "maintenance due: tip"


def with_a_blocking_task(site_path: Path) -> None:
    """The chain's site file, with solder-1's tip checked every 2 machine-hours, blocking."""
    site = yaml.safe_load(site_path.read_text(encoding="utf-8"))
    site["maintenance"] = [
        {"id": "tip", "name": TIP, "devices": ["solder-1"], "every_active_h": 2, "blocking": True}
    ]
    site["ingest"]["maintenance_dir"] = str(site_path.parent / "var" / "maintenance")
    site_path.write_text(yaml.safe_dump(site), encoding="utf-8")


def retained_lists(recorder: Recorder) -> list[dict[str, Any]]:
    return [body for topic, body, _ in recorder.messages if topic.endswith("/solder-1/access")]


def last_reason(recorder: Recorder) -> object:
    lists = retained_lists(recorder)
    return lists[-1].get("locked_reason", "no list") if lists else "no list"


def last_applied(recorder: Recorder) -> object:
    """The access list the board applied last, as its event says it."""
    said = [e.get("detail") for e in recorder.of("event")]
    return next((d for d in reversed(said) if str(d).startswith("access ")), None)


async def backfill(port: int, site: str, start_s: float) -> None:
    """Three sessions of 45 minutes in use, as a board delivers what it held late:
    2.25 machine-hours against the task's 2."""
    await publish(port, held_sessions(site, start_s, 3))


async def test_an_overdue_blocking_task_locks_the_machine_for_members_until_done(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test a backfill crossing a blocking task's interval: the retained list carries
    "maintenance due: tip", the board refuses a trained member's card and unlocks for a
    staff card; `makerwatch maintenance done` clears the list within seconds and the
    member's card unlocks again."""
    site_path = write_site(tmp_path, mosquitto, influxdb)
    with_a_blocking_task(site_path)
    config = load_site_config(site_path)
    staff = Staff(tmp_path)
    await staff.members("add", "Aigerim Serikova", "--card", AIGERIM)
    await staff.members("add", "Daulet Nurlanov", "--card", DAULET, "--staff")
    await staff.members("train", "Aigerim Serikova", "solder-1")
    settings = settings_for(config, "solder-1", load_secrets(tmp_path / "board-secrets.yaml"))
    board_folder = tmp_path / "board"
    board_folder.mkdir()
    async with (
        ingest_process(site_path, tmp_path / "ingest"),
        recording(mosquitto.port, config.site.id, "lock-recorder") as recorder,
    ):
        # The first list goes out once the tracker has counted from InfluxDB: unlocked.
        await wait_until(lambda: bool(retained_lists(recorder)), "the first list")
        assert last_reason(recorder) is None
        # Before the board is on: the tracker counts states newer than those it has.
        await backfill(mosquitto.port, config.site.id, time.time() - 7 * 24 * HOUR_S)
        await wait_until(lambda: last_reason(recorder) == LOCKED, "the list saying locked")
        assert retained_lists(recorder)[-1]["members"], "the member is still trained"
        async with micropython_board(board_folder, settings, seconds=400) as board:
            await members_locked_out(board, recorder)
            await asyncio.to_thread(
                staff.run, "maintenance", "done", "solder-1", "tip", "--by", "Daulet"
            )
            await wait_until(lambda: last_reason(recorder) is None, "the list cleared")
            await wait_until(
                lambda: last_applied(recorder) == "access enforce: members 1, staff 1",
                "the board open to members again",
            )
            Cards(board).hold(parse_uid(AIGERIM))
            await wait_until(lambda: board.pins().get(RELAY) == 1, "the member's unlock")
    assert results(recorder) == ["refused", "staff", "ended", "allowed"]
    assert recorder.invalid == []


async def members_locked_out(board: Any, recorder: Recorder) -> None:
    """The board applies the retained locked list: the member's card is refused, a staff
    card unlocks and ends its session."""
    await wait_until(
        lambda: last_applied(recorder) == f"access enforce: members 1, staff 1; locked: {LOCKED}",
        "the board locked",
    )
    cards = Cards(board)
    cards.hold(parse_uid(AIGERIM))
    await wait_until(lambda: results(recorder) == ["refused"], "the member refused")
    await wait_until(lambda: board.pins().get(RELAY) == 0, "the machine still locked")
    cards.hold(parse_uid(DAULET))
    await wait_until(lambda: board.pins().get(RELAY) == 1, "staff unlocking")
    cards.hold(parse_uid(DAULET))
    await wait_until(lambda: board.pins().get(RELAY) == 0, "the staff session ended")
