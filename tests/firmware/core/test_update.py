"""The board's update code: HMAC, manifests, chunks to flash, the boot slot and its rollback.

Each test works in a folder of its own, made the current one, as the board's root is."""

import json
import os

from firmware.core import update
from tests.firmware.core.expect import raises

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def in_own_folder(test):
    """Run `test` with a fresh folder as the current one (the board's root)."""
    before = os.getcwd()
    try:
        import tempfile

        folder = tempfile.mkdtemp()
    except ImportError:  # MicroPython
        folder = "/update-test-%d" % len(os.listdir("/"))
        os.mkdir(folder)
    os.chdir(folder)
    try:
        test()
    finally:
        os.chdir(before)


def signed(manifest, key=KEY):
    text = json.dumps(manifest)
    sig = update.hex_of(update.hmac_sha256(bytes.fromhex(key), text.encode()))
    return json.dumps({"v": 1, "manifest": text, "sig": sig}).encode()


def manifest_for(files, device="solder-1"):
    import hashlib

    entries = [
        {"path": path, "size": len(data), "sha256": update.hex_of(hashlib.sha256(data).digest())}
        for path, data in files
    ]
    return {"site": "s", "device": device, "id": "u1", "version": "9.9.9", "files": entries}


def chunk(index, offset, data):
    return json.dumps({"id": "u1", "file": index, "offset": offset}).encode() + b"\n" + data


def test_hmac_sha256_is_rfc_4231s():
    """Test the HMAC against RFC 4231's test case 2."""
    digest = update.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert update.hex_of(digest) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_a_new_update_clears_the_slot_beside_the_running_one():
    """Test that what an earlier update left in the other slot is removed first, and the
    running slot is never touched."""

    def test():
        for path in ("ota/b/firmware/core/stale.py", "ota/a/firmware/runtime.py"):
            update._makedirs(path.rsplit("/", 1)[0])  # noqa: SLF001 (the firmware's own helper, no public one)
            with open(path, "w") as f:
                f.write("# old")
        updater = update.Updater("s", "solder-1", KEY, running_slot="ota/a")
        files = [("firmware/runtime.py", b"new")]
        updater.start(signed(manifest_for(files)))
        assert updater.slot == "ota/b"
        assert os.listdir("ota/b/firmware") == ["runtime.py"]
        assert updater.chunk(chunk(0, 0, b"new")) == 0
        assert updater.complete()
        with open("ota/a/firmware/runtime.py") as f:
            assert f.read() == "# old"

    in_own_folder(test)


def test_a_chunk_out_of_order_abandons_the_update():
    """Test that a chunk at the wrong offset ends the update, and later ones are ignored."""

    def test():
        updater = update.Updater("s", "solder-1", KEY)
        updater.start(signed(manifest_for([("firmware/a.py", b"0123456789")])))
        updater.chunk(chunk(0, 0, b"01234"))
        error = raises(update.UpdateError, updater.chunk, chunk(0, 7, b"789"))
        assert str(error) == "firmware/a.py: chunk out of order"
        assert updater.chunk(chunk(0, 5, b"56789")) is None
        assert not updater.complete()

    in_own_folder(test)


def test_a_manifest_may_write_only_the_firmware_package():
    """Test that main.py, settings.json and paths climbing out are refused, signed or not."""

    def test():
        updater = update.Updater("s", "solder-1", KEY)
        for path in ("main.py", "settings.json", "firmware/../main.py", "/firmware/a.py"):
            error = raises(update.UpdateError, updater.start, signed(manifest_for([(path, b"")])))
            assert str(error) == "manifest: a file entry is malformed", path

    in_own_folder(test)


def test_a_board_without_a_key_refuses_every_update():
    """Test that a board deployed without provisioning refuses, saying why."""
    error = raises(update.UpdateError, update.Updater("s", "solder-1", "").start, signed({}))
    assert "no update key" in str(error)


def test_a_trial_runs_once_then_goes_back():
    """Test that a switched slot boots once on trial, and unconfirmed, the next boot goes
    back to the slot before and records which version failed."""

    def test():
        assert update.choose_slot() == "", "no boot.json: the deployed version"
        update.write_boot({"slot": "ota/b", "trial": True, "tried": False, "previous": "ota/a",
                           "version": "9.9.9", "id": "u1"})  # fmt: skip
        assert update.choose_slot() == "ota/b"
        assert update.choose_slot() == "ota/a"
        assert update.read_boot() == {"slot": "ota/a", "rolled_back": "9.9.9", "id": "u1"}
        assert update.choose_slot() == "ota/a", "and stays there"

    in_own_folder(test)
