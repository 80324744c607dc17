"""The member-card chain end to end, each part real and in its own process: a site file whose
soldering station enforces cards, `makerwatch members` at the command line keying
UIDs with board-secrets.yaml's card_secret, `makerwatch ingest` publishing the board's access
list from the members store, and the board program deployed from the same site file and
secrets (`firmware deploy`'s settings) under real MicroPython with the MFRC522 chip model,
over the real Mosquitto into InfluxDB. A trained member's card unlocks, an untrained member's
and a stranger's do not (and ingest tells the two apart), the session carries the member's
key, staff see the member's short name; untraining reaches the board within seconds; forgetting
leaves the counts and no name; and no raw UID is anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from makerwatch.core.cards import card_key, parse_uid
from makerwatch.core.site_config import load_site_config
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.ops.firmware_deploy import load_secrets, settings_for
from tests.firmware.board import Recorder, recording
from tests.firmware.test_board_under_micropython import micropython_board
from tests.firmware.test_cards_under_micropython import Cards, everything_stored, spellings
from tests.support import ROOT, ingest_process, stored, wait_until

SECRET = "the-chain-site-card-secret-0123456789abcdef"
AIGERIM = "04:A3:2B:1C:5D:6E:80"  # trained on solder-1 (a 7-byte UID)
DMITRY = "C4:E9:A1:7B"  # a member, trained on nothing
STRANGER = "9D:3F:52:E6"  # a card nobody has
RELAY = "26"
STAFF_TOKEN = "front-desk-token-for-the-card-chain-test"  # names on the floor are for staff


def key(uid: str) -> str:
    return card_key(SECRET, parse_uid(uid))


def write_site(folder: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB) -> Path:
    """A site file as staff write it: solder-1 reads cards and enforces them, names shown."""
    port = free_port()
    site = {
        "site": {"id": f"chain-{port}", "name": "Test space"},
        "devices": [{
            "id": "solder-1", "name": "Soldering station 1", "kind": "soldering_station",
            "access": "enforce", "telemetry_period_s": 1,
            "thresholds": {"idle_above_w": 12, "active_above_w": 20},
            "board": {"card_reader": "mfrc522", "power_sensor": "ct", "ct_model": "sct013-005",
                      "temp_sensor": "none", "relay_pin": 26, "relay_active_high": True,
                      "button_pin": 27, "led_pin": 2, "sample_period_s": 0.25, "min_dwell_s": 0},
        }],
        "mqtt": {"port": mosquitto.port, "client_id": f"ingest-chain-{port}"},
        "influxdb": {"url": influxdb.url, "database": f"chain_{port}"},
        "ingest": {"batch_max_age_s": 0.05, "http_port": port, "spool_dir": None},
        "alerts": {"language": "en"},
        "members": {"show_names": True, "store": str(folder / "var" / "members.sqlite")},
        "staff": [{"name": "Front desk", "token": STAFF_TOKEN}],
    }  # fmt: skip
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    secrets = {"wifi_ssid": "makerspace", "wifi_password": "secret", "mqtt_host": "127.0.0.1",
               "mqtt_port": mosquitto.port, "card_secret": SECRET}  # fmt: skip
    (folder / "board-secrets.yaml").write_text(yaml.safe_dump(secrets), encoding="utf-8")
    return path


class Staff:
    """The command line, as staff run it beside the site file, with what it printed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.printed: list[str] = []

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "makerwatch.cli", *args, "--config", "site.yaml"],
            capture_output=True, text=True, timeout=120, cwd=self.folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self.printed += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stderr
        return done.stdout

    async def members(self, *args: str) -> str:
        return await asyncio.to_thread(self.run, "members", *args, "--data", "var")

    async def status(self) -> str:
        return await asyncio.to_thread(self.run, "status", "--token", STAFF_TOKEN)


def data_files(folder: Path) -> dict[Path, bytes]:
    """Every file the test's site left (the board's own are in its files.json; its folder
    holds the test's world, which names the cards held)."""
    return {p: p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.relative_to(folder).parts[0] != "board"}  # fmt: skip


def results(recorder: Recorder) -> list[str]:
    return [tap["result"] for tap in recorder.of("tap")]


def applied(recorder: Recorder, counts: str) -> bool:
    return any(e.get("detail") == f"access enforce: {counts}" for e in recorder.of("event"))


async def machine(http: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        # Names are for staff: the floor's public answer never carries them.
        headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        floor = (await client.get(f"http://{http}/machines", headers=headers)).json()
    tile: dict[str, Any] = floor["machines"][0]
    return tile


async def test_a_member_trained_at_the_command_line_unlocks_the_board_and_no_one_else(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test the chain: members added and trained at the command line reach the board as its
    access list; the trained member unlocks, an untrained member and a stranger are refused
    (ingest says which was which), the session carries the member's key and staff see the
    short name; untrain refuses the same card within seconds; forget leaves the counts and
    no name; and no raw UID is in MQTT, InfluxDB, the logs, the board or the data folder."""
    site_path = write_site(tmp_path, mosquitto, influxdb)
    config = load_site_config(site_path)
    http = f"127.0.0.1:{config.ingest.http_port}"
    staff = Staff(tmp_path)
    await staff.members("add", "Aigerim Serikova", "--card", AIGERIM)
    await staff.members("add", "Dmitry Ivanov", "--card", DMITRY)
    await staff.members("train", "Aigerim Serikova", "solder-1")
    settings = settings_for(config, "solder-1", load_secrets(tmp_path / "board-secrets.yaml"))
    board_folder = tmp_path / "board"
    board_folder.mkdir()
    async with (
        ingest_process(site_path, tmp_path / "ingest") as ingest,
        recording(mosquitto.port, config.site.id, "chain-recorder") as recorder,
        InfluxClient(config.influxdb) as influx,
        micropython_board(board_folder, settings, seconds=400) as board,
    ):

        def said(line: str) -> int:
            return ingest.log.read_text().count(line)

        cards = Cards(board)
        await wait_until(lambda: applied(recorder, "members 1, staff 0"), "the list", within_s=60)
        cards.hold(parse_uid(STRANGER))
        await wait_until(lambda: results(recorder) == ["refused"], "the stranger refused")
        cards.hold(parse_uid(DMITRY))
        await wait_until(lambda: results(recorder) == ["refused"] * 2, "two refusals")
        await wait_until(lambda: said("solder-1 refused member 2's card: not trained") == 1
                         and said("solder-1 refused a card no member has") == 1,
                         "ingest telling the refusals apart")  # fmt: skip
        # (pins.json is rewritten as the board runs: waited for, not read once mid-write)
        await wait_until(lambda: board.pins().get(RELAY) == 0, "the machine still locked")

        cards.hold(parse_uid(AIGERIM))
        await wait_until(lambda: board.pins().get(RELAY) == 1, "the member's unlock")
        board.world(current_a=0.2)  # 44 W: soldering

        async def named() -> bool:
            return bool((await machine(http))["in_use_by"] == "Aigerim S.")

        await wait_until(named, "the tile naming the member")
        assert "In use by Aigerim S. since" in await staff.status()
        cards.hold(parse_uid(AIGERIM))  # the same card again: the session ends
        await wait_until(lambda: board.pins().get(RELAY) == 0, "the session ended")
        board.world(current_a=0.0)

        async def sessions() -> list[dict[str, Any]]:
            return await stored(influx, "SELECT member FROM session")

        async def one_session() -> bool:
            return len(await sessions()) == 1

        await wait_until(one_session, "the session stored")
        assert [s["member"] for s in await sessions()] == [key(AIGERIM)]

        await staff.members("untrain", "Aigerim Serikova", "solder-1")
        await wait_until(lambda: applied(recorder, "members 0, staff 0"), "the list without her")
        cards.hold(parse_uid(AIGERIM))
        await wait_until(lambda: said("refused member 1's card") == 1, "her card refused")
        await staff.members("forget", "Aigerim Serikova")
        cards.hold(parse_uid(AIGERIM))
        await wait_until(lambda: said("refused a card no member has") == 2, "a card nobody has")
        await wait_until(lambda: board.pins().get(RELAY) == 0, "the machine locked")
        every_tap = ["refused", "refused", "allowed", "ended", "refused", "refused"]
        # Ingest's log can be ahead of the recorder's copy of the last result.
        await wait_until(lambda: results(recorder) == every_tap, "every tap's result recorded")

        async def taps_stored() -> bool:
            return len(await stored(influx, 'SELECT "key" FROM tap')) == 6

        await wait_until(taps_stored, "every tap stored")
        assert [s["member"] for s in await sessions()] == [key(AIGERIM)], "the count stays"
        assert "Aigerim" not in json.dumps(await machine(http))
        assert "Aigerim" not in await staff.status()
        listed = await staff.members("list")
        assert "Dmitry I." in listed
        assert "Aigerim" not in listed
        influx_text = await everything_stored(influx)
    assert recorder.invalid == []
    files = data_files(tmp_path)
    board_files: dict[str, str] = json.loads((board_folder / "files.json").read_text())
    places: dict[str, bytes] = {
        "MQTT": "\n".join(f"{t} {json.dumps(b)}" for t, b, _ in recorder.messages).encode(),
        "InfluxDB": influx_text.encode(),
        "ingest's log": ingest.log.read_bytes(),
        "the board's console": board.output.encode(),
        "the command line": "\n".join(staff.printed).encode(),
        **{f"board file {p}": bytes.fromhex(data) for p, data in board_files.items()},
        **{f"file {p}": data for p, data in files.items()},
    }  # fmt: skip
    assert key(AIGERIM).encode() in places["MQTT"], "the search finds what is there"
    assert b"Aigerim" not in places[f"file {tmp_path / 'var' / 'members.sqlite'}"]
    for place in ("MQTT", "InfluxDB", "ingest's log", "the board's console"):
        assert b"Aigerim" not in places[place], f"a name in {place}: names stay in the store"
    for uid in (AIGERIM, DMITRY, STRANGER):
        for spelling in spellings(parse_uid(uid)):
            for place, text in places.items():
                assert spelling not in text, f"{place} holds the UID {uid} as {spelling!r}"
