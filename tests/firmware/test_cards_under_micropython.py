"""Member cards at the whole board program under real MicroPython 1.27 (the WebAssembly port
on Node), its MFRC522 a register-level model of the chip (tests/firmware/core/mfrc522_chip.py)
behind machine.SoftSPI, against the real Mosquitto, ingest and InfluxDB: the access list
arrives retained, an allowed card unlocks and a refused one does not, the network down still
unlocks, the taps queued offline arrive later with their times, and no raw UID is anywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from makerwatch.ingest.influx import InfluxClient
from tests.firmware.board import Recorder, recording
from tests.firmware.conftest import Site
from tests.firmware.test_board_under_micropython import (
    MicroPythonBoard,
    micropython_board,
    micropython_settings,
)
from tests.firmware.test_day_under_micropython import ESP32_HEAP_BYTES
from tests.support import publish, stored, wait_until

SECRET = "the-test-site-card-secret-0123456789abcdef"
MEMBER = bytes.fromhex("04a32b1c5d6e80")  # a 7-byte UID (NTAG, DESFire): two cascade levels
STAFF = bytes.fromhex("c4e9a17b")  # a 4-byte UID (MIFARE Classic)
STRANGER = bytes.fromhex("9d3f52e6")
RELAY = "26"  # tests/firmware/board.py's relay_pin


def key(uid: bytes) -> str:
    """The card's key as the server computes it (docs/protocol.md, "Cards")."""
    return hmac.new(SECRET.encode(), uid, hashlib.sha256).digest()[:16].hex()


def access_list(mode: str = "enforce", others: int = 0) -> str:
    """The board's list: the member and the staff card, and `others` members' keys besides."""
    members = [key(MEMBER)] + [key(bytes((7, i // 256, i % 256, 1))) for i in range(others)]
    return json.dumps({"v": 1, "mode": mode, "members": members, "staff": [key(STAFF)],
                       "locked_reason": None, "updated_ms": int(time.time() * 1000)})  # fmt: skip


class Cards:
    """Cards held to the board's reader, one presentation at a time."""

    def __init__(self, board: MicroPythonBoard) -> None:
        self.board = board
        self.presented = 0

    def hold(self, uid: bytes) -> None:
        self.presented += 1
        self.board.world(card={"uid": uid.hex(), "n": self.presented})


def results(recorder: Recorder) -> list[tuple[str, str]]:
    return [(tap["key"], tap["result"]) for tap in recorder.of("tap")]


def spellings(uid: bytes) -> list[bytes]:
    """Ways a UID could be written down: hex (either case, with separators), decimal (either
    byte order), and its bytes."""
    texts = [uid.hex(), uid.hex().upper(), uid.hex(":"), uid.hex(":").upper(), uid.hex(" "),
             str(int.from_bytes(uid, "big")), str(int.from_bytes(uid, "little"))]  # fmt: skip
    return [t.encode() for t in texts] + [uid]


async def everything_stored(influx: InfluxClient) -> str:
    rows = []
    for measurement in await stored(influx, "SHOW MEASUREMENTS"):
        rows += await stored(influx, f'SELECT * FROM "{measurement["name"]}"')
    return json.dumps(rows)


async def test_an_allowed_card_unlocks_a_refused_one_does_not_and_offline_still_works(
    tmp_path: Path, site: Site
) -> None:
    """Test the board in enforce mode: a stranger's card refused (relay off, the refusal
    recorded), a member's unlocks and the same card again ends the session; with the network
    down a member's card still unlocks, and those taps reach InfluxDB later with the times
    they happened; a full list (400 keys) arrives and is kept; nowhere (MQTT, InfluxDB, the board's files and console) holds a raw UID;
    and what the board keeps live fits an ESP32's heap."""
    port = site.mosquitto.port
    access_topic = f"makerspace/{site.id}/solder-1/access"
    # As many keys as a board holds (firmware/core/access.py MAX_KEYS), so the heap measured
    # is a full list's.
    await publish(port, [(access_topic, access_list(others=398))], retain=True)
    settings = micropython_settings(site, card_reader="mfrc522", card_secret=SECRET,
                                    access_mode="enforce")  # fmt: skip
    async with recording(port, site.id, "mp-recorder") as recorder:
        async with micropython_board(tmp_path, settings, seconds=240) as board:
            cards = Cards(board)
            await wait_until(
                lambda: any("access enforce: members 399, staff 1" in e.get("detail", "")
                            for e in recorder.of("event")), "the access list applied", within_s=60,
            )  # fmt: skip
            cards.hold(STRANGER)
            await wait_until(lambda: results(recorder) == [(key(STRANGER), "refused")],
                             "the stranger's refusal")  # fmt: skip
            assert board.pins().get(RELAY) == 0, "a refused card leaves the machine locked"
            cards.hold(MEMBER)
            await wait_until(lambda: board.pins().get(RELAY) == 1, "the member's unlock")
            cards.hold(MEMBER)
            await wait_until(lambda: board.pins().get(RELAY) == 0, "the session ended")
            await wait_until(lambda: len(recorder.of("tap")) == 3, "three taps sent")

            board.world(wifi_up=False)
            offline_from = time.time()
            cards.hold(MEMBER)
            await wait_until(lambda: board.pins().get(RELAY) == 1, "an unlock offline")
            cards.hold(STAFF)
            await wait_until(lambda: board.agent().get("taps_waiting") == 2, "taps queued")
            cards.hold(MEMBER)  # the staff card took the session over: the member is let in again
            await wait_until(lambda: board.agent().get("taps_waiting") == 3, "a third queued")
            assert len(recorder.of("tap")) == 3, "nothing sent while offline"
            offline_until = time.time()
            board.world(wifi_up=True)
            await wait_until(lambda: len(recorder.of("tap")) == 6, "the queued taps sent")
        await wait_until(lambda: recorder.of("status")[-1]["online"] is False, "the last will")

        assert "mfrc522" in recorder.of("status")[0]["sensors"]
        assert recorder.of("status")[0]["taps_dropped"] == 0, "a reader's board counts its queue"
        sent = recorder.of("tap")
        assert [t["result"] for t in sent] == [
            "refused", "allowed", "ended", "allowed", "staff", "allowed"]  # fmt: skip
        assert [t["seq"] for t in sent] == list(range(6))
        assert {t["mode"] for t in sent} == {"enforce"}
        assert all(offline_from - 0.001 <= t["ts"] <= offline_until for t in sent[3:]), sent[3:]
        rows = []

        async def all_stored() -> bool:
            rows[:] = await stored(site.influx, "SELECT * FROM tap ORDER BY time")
            return len(rows) == 6

        await wait_until(all_stored, "every tap stored", within_s=30)
        assert [r["time"] for r in rows[3:]] == [round(t["ts"] * 1000) for t in sent[3:]]
        assert [r["result"] for r in rows] == [t["result"] for t in sent]
        relay = [
            (e["relay_on"], e["reason"]) for e in recorder.of("event") if e["event"] == "relay"
        ]
        assert relay == [(True, "card"), (False, "card"), (True, "card")]
        assert recorder.invalid == []
        influx_text = await everything_stored(site.influx)

    assert board.result is not None
    assert board.result["peak_live_bytes"] < ESP32_HEAP_BYTES // 2, board.result
    files: dict[str, str] = json.loads((tmp_path / "files.json").read_text())
    assert "/repo/access.json" in files, "the list kept in flash"
    places: dict[str, bytes] = {
        "MQTT": "\n".join(f"{topic} {json.dumps(body)}" for topic, body, _ in recorder.messages
                          ).encode(),
        "InfluxDB": influx_text.encode(),
        "console": board.output.encode(),
        **{f"file {path}": bytes.fromhex(data) for path, data in files.items()},
    }  # fmt: skip
    assert key(MEMBER).encode() in places["MQTT"], "the search finds what is there"
    for uid in (MEMBER, STAFF, STRANGER):
        for spelling in spellings(uid):
            for place, text in places.items():
                assert spelling not in text, f"{place} holds the UID {uid.hex()} as {spelling!r}"


async def test_in_log_mode_a_tap_is_recorded_and_nothing_is_locked(
    tmp_path: Path, site: Site
) -> None:
    """Test that a list in log mode records who tapped (allowed, staff, refused) and leaves
    the relay alone; and that a list too big for the board is refused without dropping its
    connection, the list before staying in force."""
    port = site.mosquitto.port
    access_topic = f"makerspace/{site.id}/solder-1/access"
    await publish(port, [(access_topic, access_list("log"))], retain=True)
    settings = micropython_settings(site, card_reader="mfrc522", card_secret=SECRET,
                                    access_mode="enforce")  # fmt: skip
    async with (
        recording(port, site.id, "mp-recorder") as recorder,
        micropython_board(tmp_path, settings) as board,
    ):
        cards = Cards(board)
        await wait_until(
            lambda: any("access log" in e.get("detail", "") for e in recorder.of("event")),
            "the access list applied", within_s=60,
        )  # fmt: skip
        for uid in (MEMBER, STAFF, STRANGER):
            cards.hold(uid)
            await wait_until(lambda: len(recorder.of("tap")) == cards.presented, "the tap")
        # A list too big for the board (600 keys, over its 16 KB packets), retained: refused
        # once, the connection kept, the list before still in force.
        await publish(port, [(access_topic, access_list("enforce", others=600))], retain=True)
        await wait_until(
            lambda: any(e.get("detail") == f"{access_topic}: too big for the board"
                        for e in recorder.of("event")), "the big list refused",
        )  # fmt: skip
        cards.hold(MEMBER)
        await wait_until(lambda: len(recorder.of("tap")) == 4, "a tap after it")
    taps: list[dict[str, Any]] = recorder.of("tap")
    assert [(t["result"], t["mode"]) for t in taps] == [
        ("allowed", "log"), ("staff", "log"), ("refused", "log"), ("allowed", "log")]  # fmt: skip
    assert [s["online"] for s in recorder.of("status")] == [True, False], "one connection"
    assert not any(e["event"] == "relay" for e in recorder.of("event"))
    assert board.pins().get(RELAY) == 0


async def test_a_session_ends_at_the_idle_limit_and_the_button_only_switches_off(
    tmp_path: Path, site: Site
) -> None:
    """Test the board in enforce mode: the button cannot unlock; a member's session ends on
    its own once the machine has not been active for session_idle_s; the button may end a
    session, after which the same card opens a new one (not `ended`)."""
    port = site.mosquitto.port
    await publish(port, [(f"makerspace/{site.id}/solder-1/access", access_list())], retain=True)
    settings = micropython_settings(site, card_reader="mfrc522", card_secret=SECRET,
                                    access_mode="enforce", session_idle_s=2)  # fmt: skip
    async with (
        recording(port, site.id, "mp-recorder") as recorder,
        micropython_board(tmp_path, settings) as board,
    ):
        cards = Cards(board)

        async def press() -> None:
            presses = len([e for e in recorder.of("event") if e["event"] == "button"])
            board.world(button_down=True)
            await wait_until(
                lambda: len([e for e in recorder.of("event") if e["event"] == "button"]) > presses,
                "the button seen",
            )  # fmt: skip
            board.world(button_down=False)

        await wait_until(
            lambda: any("access enforce" in e.get("detail", "") for e in recorder.of("event")),
            "the access list applied", within_s=60,
        )  # fmt: skip
        await press()
        cards.hold(MEMBER)
        await wait_until(lambda: board.pins().get(RELAY) == 1, "the member's unlock")
        await wait_until(lambda: board.pins().get(RELAY) == 0, "the session's idle end")
        board.world(current_a=0.2)  # 44 W: in use, so the idle limit will not end the next one
        await wait_until(lambda: recorder.of("state")[-1]["state"] == "active", "in use")
        cards.hold(MEMBER)
        await wait_until(lambda: board.pins().get(RELAY) == 1, "a second unlock")
        await press()
        await wait_until(lambda: board.pins().get(RELAY) == 0, "switched off by the button")
        cards.hold(MEMBER)
        await wait_until(lambda: len(recorder.of("tap")) == 3, "a third tap")
        await wait_until(lambda: board.pins().get(RELAY) == 1, "a new session")
    relay = [(e["relay_on"], e["reason"]) for e in recorder.of("event") if e["event"] == "relay"]
    assert relay == [(True, "card"), (False, "session_idle"), (True, "card"), (False, "button"),
                     (True, "card")]  # fmt: skip
    assert [t["result"] for t in recorder.of("tap")] == ["allowed", "allowed", "allowed"]


async def test_a_reader_missing_at_start_is_a_sensor_fault_and_found_again(
    tmp_path: Path, site: Site
) -> None:
    """Test that a reader not answering on its bus is a sensor fault naming it, the board
    runs on (readings go on), and once the reader is plugged in it is found again and reads;
    and that one unplugged while the board runs is found out and found again."""
    port = site.mosquitto.port
    await publish(port, [(f"makerspace/{site.id}/solder-1/access", access_list())], retain=True)
    settings = micropython_settings(site, card_reader="mfrc522", card_secret=SECRET,
                                    access_mode="enforce")  # fmt: skip
    (tmp_path / "world.json").write_text(json.dumps({"reader_absent": True}))
    async with (
        recording(port, site.id, "mp-recorder") as recorder,
        micropython_board(tmp_path, settings) as board,
    ):

        def said(kind: str, detail: str) -> bool:
            return any(e["event"] == kind and e.get("detail") == detail
                       for e in recorder.of("event"))  # fmt: skip

        def count(kind: str) -> int:
            return len([e for e in recorder.of("event")
                        if e["event"] == kind and "card_reader" in e.get("detail", "")])  # fmt: skip

        await wait_until(
            lambda: said("sensor_fault", "card_reader: no reader on the SPI bus (version 0xff)"),
            "the missing reader said", within_s=60,
        )  # fmt: skip
        seen = len(recorder.readings())
        await wait_until(lambda: len(recorder.readings()) >= seen + 2, "readings go on")
        board.world(reader_absent=False)
        await wait_until(lambda: said("sensor_ok", "card_reader"), "the reader found", within_s=30)
        Cards(board).hold(MEMBER)
        await wait_until(lambda: board.pins().get(RELAY) == 1, "the member's unlock")
        board.world(reader_absent=True)  # unplugged while the board runs: found out too
        await wait_until(lambda: count("sensor_fault") == 2, "the reader lost", within_s=30)
        board.world(reader_absent=False)
        await wait_until(lambda: count("sensor_ok") == 2, "the reader back", within_s=30)
