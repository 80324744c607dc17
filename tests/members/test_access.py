"""Members at the machines against the real broker, ingest and InfluxDB: each board's
access list follows the members store within seconds (a change by the command line in
another process, training running out, an enrolment), a tap opens a session that
carries the member's key, staff see the member's short name, and no raw UID is
anywhere: not in an MQTT message, an InfluxDB point, a log line or a file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from makerwatch.core.cards import card_key, parse_uid
from makerwatch.core.protocol import AccessMode
from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.members.store import FILE_NAME, MembersStore
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto
from tests.members.readers import with_reader
from tests.support import ROOT, make_config, mqtt_client, publish, start_ingest, stored, wait_until

SECRET = "test-card-secret-0123456789abcdef-0123"
UIDS = {"aigerim": "04:A3:2B:1C", "staff": "04:11:22:33:44:55:66", "new": "DE:AD:BE:EF"}
KEYS = {who: card_key(SECRET, parse_uid(uid)) for who, uid in UIDS.items()}


def member_config(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, data: Path
) -> SiteConfig:
    config = make_config(mosquitto.port, influxdb.url)
    devices = [
        with_reader(config.devices[0], AccessMode.ENFORCE),
        config.devices[1],
    ]
    members = config.members.model_copy(update={"show_names": True, "store": str(data / FILE_NAME)})
    return config.model_copy(update={"devices": devices, "members": members})


class Messages:
    """Every message on the broker, as a subscriber sees it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    def access(self, device: str) -> dict[str, Any] | None:
        lists = [json.loads(p) for t, p in self.seen if t.endswith(f"/{device}/access")]
        return lists[-1] if lists else None

    def members(self, device: str) -> list[str]:
        """The keys on the device's latest list (none yet: [])."""
        return list((self.access(device) or {}).get("members", []))


@pytest.fixture
async def messages(mosquitto: EmbeddedMosquitto) -> AsyncIterator[Messages]:
    found = Messages()
    ready = asyncio.Event()

    async def listen() -> None:
        async with mqtt_client(mosquitto.port) as client:
            await client.subscribe("#", qos=1)
            ready.set()
            async for message in client.messages:
                found.seen.append((str(message.topic), bytes(message.payload)))

    task = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 30)
    yield found
    task.cancel()


def cli(data: Path, *args: str) -> None:
    secrets = data.parent / "board-secrets.yaml"
    secrets.write_text(f"card_secret: {SECRET}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "members", *args, "--data", str(data)],
        capture_output=True, text=True, timeout=60, cwd=data.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def test_access_lists_sessions_names_and_no_raw_uid_anywhere(
    tmp_path: Path,
    mosquitto: EmbeddedMosquitto,
    influxdb: EmbeddedInfluxDB,
    messages: Messages,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that access lists follow the store, a tap names the session and the tile, and no UID leaks."""
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "var"
    config = member_config(mosquitto, influxdb, data)
    site = config.site.id
    store = MembersStore(data / FILE_NAME)
    now_ms = int(time.time() * 1000)
    aigerim = store.add("Aigerim Serikova", now_ms, keys=(KEYS["aigerim"],))
    store.train(aigerim, "soldering_station", None)
    store.add("Staff Person", now_ms, staff=True, keys=(KEYS["staff"],))
    ingest = await start_ingest(config)
    try:
        await wait_until(
            lambda: None not in (messages.access("solder-1"), messages.access("printer-1")),
            "both boards' access lists",
        )
        first = messages.access("solder-1")
        assert first is not None
        assert (first["mode"], first["members"], first["staff"]) == (
            "enforce", [KEYS["aigerim"]], [KEYS["staff"]])  # fmt: skip
        printer = messages.access("printer-1") or {}
        assert (printer.get("mode"), printer.get("members")) == ("off", [])

        # Another process (the command line) adds a member trained on this device.
        await asyncio.to_thread(cli, data, "add", "Dmitry Ivanov", "--card", UIDS["new"])
        await asyncio.to_thread(cli, data, "train", "Dmitry Ivanov", "soldering_station")
        await wait_until(
            lambda: KEYS["new"] in messages.members("solder-1"),
            "the new member on solder-1's list",
        )
        # Training that runs out drops out at its expiry.
        store.train(aigerim, "solder-1", None)
        store.untrain(aigerim, "solder-1")
        expiring = store.add("Short Lived", now_ms, keys=("0" * 32,))
        store.train(expiring, "solder-1", int(time.time() * 1000) + 2000)
        await wait_until(
            lambda: "0" * 32 in messages.members("solder-1"), "the expiring member listed"
        )
        await wait_until(
            lambda: "0" * 32 not in messages.members("solder-1"),
            "the expired member gone",
        )

        # A tap opens the machine: the tile names the member, the session carries the key.
        t0 = time.time() - 600
        base = f"makerspace/{site}/solder-1"
        await publish(mosquitto.port, [
            (f"{base}/tap", json.dumps({"v": 1, "ts": t0, "seq": 1, "key": KEYS["aigerim"], "result": "allowed", "mode": "enforce"})),
            (f"{base}/state", json.dumps({"v": 1, "ts": t0 + 5, "state": "active", "previous": "off"})),
            (f"{base}/telemetry", json.dumps({"v": 1, "ts": t0 + 6, "seq": 1, "power_w": 40.0})),
        ])  # fmt: skip

        def shown_by() -> object:
            tiles = ingest.service.floor.machines(int(time.time() * 1000), named=True)
            return next(t for t in tiles if t["device"] == "solder-1")["in_use_by"]

        await wait_until(lambda: shown_by() == "Aigerim S.", "the tile naming the member")
        assert ingest.service.alerts is not None  # the chat's /status says the same
        [line] = ingest.service.alerts.machines_on("en")
        assert "in use by Aigerim S. since" in line, line
        await publish(mosquitto.port, [
            (f"{base}/state", json.dumps({"v": 1, "ts": t0 + 300, "state": "off", "previous": "active", "previous_duration_s": 295})),
            (f"{base}/telemetry", json.dumps({"v": 1, "ts": t0 + 310, "seq": 2, "power_w": 0.0})),
        ])  # fmt: skip
        async with InfluxClient(config.influxdb) as influx:

            async def session() -> list[dict[str, object]]:
                return await stored(influx, "SELECT member, duration_s FROM session")

            async def written() -> bool:
                return bool(await session())

            await wait_until(written, "the session written")
            assert [(s["member"], s["duration_s"]) for s in await session()] == [
                (KEYS["aigerim"], 295.0)
            ]

            # Enrol: the next unknown card at solder-1 becomes a member's, and is listed.
            other = store.add("Asel Nurlanovna", now_ms)
            store.train(other, "solder-1", None)
            store.enrol_next("solder-1", other, int(time.time() * 1000) + 60_000)
            unknown = card_key(SECRET, bytes.fromhex("0102030405060708090a"))
            await publish(mosquitto.port, [(f"{base}/tap", json.dumps(
                {"v": 1, "ts": time.time(), "seq": 2, "key": unknown, "result": "refused", "mode": "enforce"}))])  # fmt: skip
            await wait_until(
                lambda: unknown in messages.members("solder-1"),
                "the enrolled card listed",
            )
            assert store.short_name(unknown) == "Asel N."

            # Forgotten: the name is gone at once, the session's key stays (a count).
            store.forget(aigerim)
            assert (
                ingest.service.floor.tiles["solder-1"].machine.in_use_by(store.short_name) is None
            )
            points = []
            for measurement in await stored(influx, "SHOW MEASUREMENTS"):
                points += await stored(influx, f'SELECT * FROM "{measurement["name"]}"')
    finally:
        await ingest.shutdown()
    store.close()

    raw = [uid.replace(":", "") for uid in UIDS.values()]
    spellings = {s for uid, spaced in zip(raw, UIDS.values(), strict=True)
                 for s in (uid, uid.lower(), spaced, spaced.lower())}  # fmt: skip
    everything = {
        "MQTT": b"\n".join(t.encode() + b" " + p for t, p in messages.seen).decode(
            "utf-8", "replace"
        ),
        "InfluxDB": json.dumps(points),
        "logs": caplog.text,
        "files": "\n".join(
            p.read_bytes().decode("latin-1") for p in data.rglob("*") if p.is_file()
        ),
        "files (as bytes)": "\n".join(p.read_bytes().hex() for p in data.rglob("*") if p.is_file()),
    }
    assert points
    assert messages.seen
    assert caplog.text
    for where, text in everything.items():
        for uid in spellings:
            assert uid not in text, f"a raw UID in {where}"
    assert "Aigerim" not in everything["files"]
