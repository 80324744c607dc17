"""The server's side of firmware updates and calibration: per-board update keys and the
fleet login from provisioning (enforced by a real Mosquitto running the generated files),
manifests and chunks as the board's own update code takes them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from firmware.core import update as board_update
from makerwatch.core.errors import ConfigError
from makerwatch.ops.board_calibrate import parse_quantity
from makerwatch.ops.firmware_deploy import BoardSecrets, settings_for, with_credentials
from makerwatch.ops.firmware_update import (
    BoardFile,
    built_files,
    chunk_messages,
    signed_manifest,
    update_key,
)
from makerwatch.ops.provision import provision
from tests.ops.test_provision import (
    CONFIG,
    SOLDER_1,
    ProvisionedMosquitto,
    broker,  # noqa: F401  (the fixture)
    client_as,
    next_topics,
)
from tests.support import ROOT

FILES = [
    BoardFile("firmware/__init__.py", b""),
    BoardFile("firmware/core/big.py", bytes(range(256)) * 20),  # 5,120 bytes: three chunks
]


def test_each_board_gets_its_own_update_key_kept_across_provisioning(tmp_path: Path) -> None:
    """Test that provisioning gives every board a key of its own, keeps it on a second run,
    and deploy writes it into the board's settings."""
    files = provision(CONFIG, tmp_path, 1883)
    key = update_key(files.credentials, SOLDER_1)
    assert len(key) == 64
    assert set(key) <= set("0123456789abcdef")
    assert key != update_key(files.credentials, "aktobe.solder-2")
    provision(CONFIG, tmp_path, 1883)
    assert update_key(files.credentials, SOLDER_1) == key
    secrets = BoardSecrets(wifi_ssid="w", wifi_password="p", mqtt_host="10.0.0.2")
    merged = with_credentials(secrets, files.credentials, "aktobe", "solder-1")
    assert settings_for(CONFIG, "solder-1", merged)["update_key"] == key


def test_a_board_without_credentials_is_named(tmp_path: Path) -> None:
    """Test that a missing key says which file and what to run."""
    with pytest.raises(
        ConfigError, match=r"aktobe.solder-1.json: no update key .*broker provision"
    ):
        update_key(tmp_path, SOLDER_1)
    with pytest.raises(ConfigError, match="no built firmware"):
        built_files(tmp_path)


async def test_only_the_fleet_login_and_ingest_send_a_board_an_update(
    broker: ProvisionedMosquitto,  # noqa: F811
) -> None:
    """Test that the floor board's login and another board cannot send solder-1 an update,
    and the fleet login can."""
    topic = "makerspace/aktobe/solder-1/update/manifest"
    async with client_as(broker, SOLDER_1) as board:
        await board.subscribe("makerspace/aktobe/solder-1/update/+", qos=1)
        async with (
            client_as(broker, "floor") as floor,
            client_as(broker, "aktobe.solder-2") as other,
        ):
            await floor.publish(topic, b"from the floor", qos=1)
            await other.publish(topic, b"from another board", qos=1)
        async with client_as(broker, "fleet") as fleet:
            await fleet.publish(topic, b"from the fleet login", qos=1)
        async with client_as(broker, "ingest") as ingest:
            await ingest.publish("makerspace/aktobe/solder-1/update/chunk", b"ingest", qos=1)
        topics = await next_topics(board, "makerspace/aktobe/solder-1/update/chunk")
    assert topics == [topic, "makerspace/aktobe/solder-1/update/chunk"]


def test_the_boards_own_code_takes_a_signed_update_and_checks_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that the board's update code (on CPython here; under MicroPython in
    tests/firmware/test_update_under_micropython.py) verifies the server's HMAC, writes the
    chunks into the slot beside the running version, checks each hash and switches."""
    monkeypatch.chdir(tmp_path)
    key = os.urandom(32).hex()
    manifest = signed_manifest("aktobe", "solder-1", key, "9.9.9", FILES, "u1")
    refusing = board_update.Updater("aktobe", "solder-1", os.urandom(32).hex())
    with pytest.raises(board_update.UpdateError, match="not signed for this board"):
        refusing.start(manifest)
    other_board = board_update.Updater("aktobe", "solder-2", key)
    with pytest.raises(board_update.UpdateError, match="for another board"):
        other_board.start(manifest)
    updater = board_update.Updater("aktobe", "solder-1", key)
    updater.start(manifest)
    done = []
    for index, file in enumerate(FILES):
        chunks = chunk_messages("u1", index, file)
        assert len(chunks) == max(1, -(-len(file.data) // board_update.CHUNK_BYTES))
        done += [updater.chunk(c) for c in chunks]
    assert [d for d in done if d is not None] == [0, 1]
    assert updater.complete()
    updater.switch()
    assert (tmp_path / "ota/a/firmware/core/big.py").read_bytes() == FILES[1].data
    assert json.loads((tmp_path / "boot.json").read_text())["slot"] == "ota/a"
    assert board_update.choose_slot() == "ota/a", "the trial's boot"
    assert board_update.choose_slot() == "", "never confirmed: back to the deployed version"
    assert json.loads((tmp_path / "boot.json").read_text())["rolled_back"] == "9.9.9"


def test_quantities_take_their_unit_or_none() -> None:
    """Test that 60W, 60, 60.5 w and 25,5C are read, and anything else named in one line."""
    assert parse_quantity("60W", "W", "--known-load") == 60.0
    assert parse_quantity("60", "W", "--known-load") == 60.0
    assert parse_quantity("60.5 w", "W", "--known-load") == 60.5
    assert parse_quantity("25,5C", "C", "--reference-temp") == 25.5
    with pytest.raises(
        ConfigError, match=r"^--known-load '60kW': expected a number of W, e.g. 60W$"
    ):
        parse_quantity("60kW", "W", "--known-load")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["firmware", "update", "--device", "nope"], "device 'nope' is not in site 'aktobe'"),
        (["firmware", "update", "--all"], "aktobe.solder-1.json: no update key"),
        (["firmware", "update", "--all", "--at-once", "0"], "--at-once 0: must be 1 or more"),
        (["board", "calibrate", "nope", "--known-load", "60W"], "device 'nope' is not in site"),
        (["board", "calibrate", "solder-1", "--known-load", "sixty"],
         "--known-load 'sixty': expected a number of W, e.g. 60W"),
        (["board", "calibrate", "solder-1", "--reference-temp", "hot"],
         "--reference-temp 'hot': expected a number of C, e.g. 25C"),
    ],
)  # fmt: skip
def test_a_wrong_command_line_is_one_line_naming_what(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that bad input to `firmware update` and `board calibrate` ends in one line."""
    from makerwatch.cli import main

    site = str(ROOT / "makerspace.example.yaml")
    code = main([*argv, "--config", site, "--credentials", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert says in err
