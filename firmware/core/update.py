# Firmware updates over MQTT (docs/firmware.md, "Updating boards from the server").
#
# The server sends a manifest signed for this board (HMAC-SHA256 with the board's own
# update key from provisioning), then each file in chunks. Each chunk goes straight to
# flash and into the file's running SHA-256, so no file is ever held whole in RAM. The
# files go into the slot beside the running version (ota/a or ota/b); only when every
# file matched its hash is boot.json switched to the new slot, by writing a new file and
# renaming it over the old one (a rename is atomic on the board's LittleFS), as a trial.
# /main.py runs a trial once: a version that does not connect and report within
# `update_trial_s`, or that crashes or hangs (the watchdog), is rolled back at the next
# boot. The board never runs a file it has not checked.
import hashlib
import json
import os

BOOT_PATH = "boot.json"
SLOTS = ("ota/a", "ota/b")
# A chunk's data, in bytes: with its header and topic, under the MQTT client's 4 KB limit.
CHUNK_BYTES = 2048
# What an update may write: the firmware package, nothing else (not main.py, which
# chooses the version, nor settings.json, which the board keeps).
PACKAGE = "firmware/"
MAX_FILES = 64
MAX_FILE_BYTES = 256 * 1024


class UpdateError(Exception):
    """An update refused or abandoned; the message says why, for the `update` event."""


def hmac_sha256(key, message):
    """HMAC-SHA256 (RFC 2104): MicroPython has hashlib.sha256 but no hmac module."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def hex_of(data):
    return "".join("%02x" % b for b in data)


def same(a, b):
    """Compare two strings in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= ord(a[i]) ^ ord(b[i])
    return diff == 0


def read_boot(path=BOOT_PATH):
    """The boot state: {"slot": running slot or "", "trial": bool, ...}; {} when none."""
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_boot(state, path=BOOT_PATH):
    """Replace boot.json in one step: a power cut leaves the old file or the new one."""
    with open(path + ".new", "w") as f:
        json.dump(state, f)
    os.rename(path + ".new", path)


def choose_slot(path=BOOT_PATH):
    """At boot: the folder to run the firmware from ("" for the deployed one).

    A trial that already had its boot and never confirmed is rolled back: the board
    goes back to the version it ran before, and says so once it is connected."""
    state = read_boot(path)
    if state.get("trial"):
        if state.get("tried"):
            state = {
                "slot": state.get("previous", ""),
                "rolled_back": state.get("version", "?"),
                "id": state.get("id", ""),
            }
        else:
            state["tried"] = True
        write_boot(state, path)
    slot = state.get("slot", "")
    return slot if slot in SLOTS else ""


def enter_slot(path=BOOT_PATH):
    """At boot, from /main.py: make `import firmware` find the version chosen to run.

    /main.py imports this module from the deployed /firmware, which no update replaces,
    so the choice (and the rollback) never depends on a version that may not work."""
    import sys

    slot = choose_slot(path)
    sys.path[:] = [p for p in sys.path if p not in SLOTS]
    if slot:
        for name in list(sys.modules):
            if name == "firmware" or name.startswith("firmware."):
                del sys.modules[name]
        sys.path.insert(0, slot)
    return slot


def _remove(path):
    if not _is_dir(path):
        return
    try:
        entries = list(os.ilistdir(path))  # type: ignore[attr-defined]
    except AttributeError:  # CPython (host runs and tests)
        entries = [(n, 0x4000 if _is_dir(path + "/" + n) else 0x8000) for n in os.listdir(path)]
    for entry in entries:
        child = path + "/" + entry[0]
        if entry[1] == 0x4000:
            _remove(child)
        else:
            os.remove(child)
    os.rmdir(path)


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _makedirs(path):
    built = ""
    for part in path.split("/"):
        built = part if not built else built + "/" + part
        if not _is_dir(built):
            os.mkdir(built)


def _valid_path(path):
    return (
        isinstance(path, str)
        and path.startswith(PACKAGE)
        and len(path) <= 128
        and ".." not in path
        and "//" not in path
        and (path.endswith(".py") or path.endswith(".mpy"))
    )


class Updater:
    """Receives one update at a time for the board `site`/`device` signed with `key`."""

    def __init__(self, site, device, key_hex, running_slot=""):
        self.site = site
        self.device = device
        self.key = bytes.fromhex(key_hex) if key_hex else b""
        self.running_slot = running_slot
        self.manifest = None  # type: dict | None
        self._file = 0
        self._offset = 0
        self._hash = None  # type: object

    @property
    def slot(self):
        return SLOTS[1] if self.running_slot == SLOTS[0] else SLOTS[0]

    def start(self, payload):
        """A manifest: check its signature and contents, clear the slot beside the
        running one. Returns the manifest; raises UpdateError."""
        self.manifest = None
        try:
            body = json.loads(payload)
            text, signature = body["manifest"], body["sig"]
            manifest = json.loads(text)
        except (ValueError, KeyError, TypeError):
            raise UpdateError("manifest: not a signed manifest") from None
        if not self.key:
            raise UpdateError("no update key on this board: deploy it from a provisioned broker")
        expected = hex_of(hmac_sha256(self.key, text.encode()))
        if not isinstance(signature, str) or not same(signature, expected):
            raise UpdateError("manifest: not signed for this board")
        if not isinstance(manifest, dict) or (manifest.get("site"), manifest.get("device")) != (
            self.site,
            self.device,
        ):
            raise UpdateError("manifest: for another board")
        if not all(isinstance(manifest.get(k), str) and 0 < len(manifest[k]) <= 32
                   for k in ("id", "version")):  # fmt: skip
            raise UpdateError("manifest: no id or version")
        files = manifest.get("files")
        if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
            raise UpdateError("manifest: no files, or more than %d" % MAX_FILES)
        for entry in files:
            if not (
                isinstance(entry, dict)
                and _valid_path(entry.get("path"))
                and isinstance(entry.get("size"), int)
                and 0 <= entry["size"] <= MAX_FILE_BYTES
                and isinstance(entry.get("sha256"), str)
                and len(entry["sha256"]) == 64
            ):
                raise UpdateError("manifest: a file entry is malformed")
        _remove(self.slot)
        self.manifest = manifest
        self._open(0)
        return manifest

    def _open(self, index):
        self._file, self._offset, self._hash = index, 0, hashlib.sha256()
        path = self.slot + "/" + self.manifest["files"][index]["path"]  # type: ignore[index]
        _makedirs(path.rsplit("/", 1)[0])
        open(path, "wb").close()

    def chunk(self, payload):
        """One chunk: a JSON header line, then the data. Returns the index of a file just
        completed and checked, or None; raises UpdateError (the update is abandoned)."""
        manifest = self.manifest
        if manifest is None:
            return None  # a chunk of an update already refused or finished: ignored
        split = payload.find(b"\n")
        try:
            header = json.loads(payload[:split]) if split > 0 else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("id") != manifest.get("id"):
            return None  # another update's: not ours to judge
        entry = manifest["files"][self._file]
        data = memoryview(payload)[split + 1 :]
        if header.get("file") != self._file or header.get("offset") != self._offset:
            self.manifest = None
            raise UpdateError("%s: chunk out of order" % entry["path"])
        if self._offset + len(data) > entry["size"]:
            self.manifest = None
            raise UpdateError("%s: more data than its size" % entry["path"])
        with open(self.slot + "/" + entry["path"], "ab") as f:
            f.write(data)
        self._hash.update(data)  # type: ignore[attr-defined]
        self._offset += len(data)
        if self._offset < entry["size"]:
            return None
        if hex_of(self._hash.digest()) != entry["sha256"]:  # type: ignore[attr-defined]
            self.manifest = None
            raise UpdateError("%s: SHA-256 does not match the manifest" % entry["path"])
        done = self._file
        if done + 1 < len(manifest["files"]):
            self._open(done + 1)
        return done

    def complete(self):
        return (
            self.manifest is not None
            and self._file == len(self.manifest["files"]) - 1
            and (self._offset == self.manifest["files"][-1]["size"])
        )

    def switch(self, path=BOOT_PATH):
        """Every file checked: boot the new slot next, on trial."""
        manifest = self.manifest or {}
        write_boot(
            {
                "slot": self.slot,
                "trial": True,
                "tried": False,
                "previous": self.running_slot,
                "version": manifest.get("version", "?"),
                "id": manifest.get("id", ""),
            },
            path,
        )
        self.manifest = None
