# Member cards at the machine (docs/members.md, "Wiring the reader"; docs/protocol.md,
# "Cards"): the board's access list, what a tap does, the card's session and the taps
# waiting to be sent. Pure logic: the runtime reads the reader and drives the relay.
#
# A UID is keyed here the moment it is read (HMAC-SHA256 under the site's card secret,
# the first 16 bytes in hex) and goes no further: only keys are compared, kept, queued
# and sent. The list lives in flash (ACCESS_PATH) so the board decides with the network
# down; until a first list arrives the board has only the mode its settings give, and in
# `enforce` nothing unlocks (no key is known to be allowed: the safe side).
import json
import os

from firmware.core import encoder
from firmware.core.ring import RingBuffer
from firmware.core.update import hex_of, hmac_sha256

ACCESS_PATH = "access.json"
OFF, LOG, ENFORCE = "off", "log", "enforce"
MODES = (OFF, LOG, ENFORCE)
ALLOWED, STAFF, REFUSED, ENDED = "allowed", "staff", "refused", "ended"
KEY_BYTES = 16
HEX = "0123456789abcdef"
# Keys a list may hold (members and staff together): an access message of this many is
# about 16 KB, the MQTT client's limit (firmware/core/mqtt.py MAX_PACKET_BYTES).
MAX_KEYS = 400
# Taps kept while offline (about 120 bytes each); beyond it the oldest are dropped and
# counted (`taps_dropped` in the birth message).
MAX_PENDING_TAPS = 100


# What the LED (and a buzzer) show after a card, as (length ms, half period ms): accepted
# (allowed, staff, ended), steady on; refused or unknown, six quick flashes. Distinct at
# a glance and by ear.
ACCEPTED_PATTERN = (800, 800)
REFUSED_PATTERN = (1200, 100)


def pattern_level(pattern, elapsed_ms):
    """On or off `elapsed_ms` into a card's pattern; None once it is over."""
    length_ms, half_ms = pattern
    if not 0 <= elapsed_ms < length_ms:
        return None
    return elapsed_ms // half_ms % 2 == 0


def card_key(secret, uid):
    """A card's key: HMAC-SHA256 of its UID under the site's card secret, 16 bytes in hex."""
    return hex_of(hmac_sha256(secret.encode(), bytes(uid))[:KEY_BYTES])


class KeySet:
    """Card keys, 16 bytes each, sorted in one bytes object and searched by halves: 400
    keys take 6.4 KB, a quarter of what as many strings in a set would."""

    def __init__(self, keys=()):
        self.data = b"".join(sorted(bytes.fromhex(k) for k in keys))

    def __len__(self):
        return len(self.data) // KEY_BYTES

    def __contains__(self, key):
        wanted = bytes.fromhex(key)
        low, high = 0, len(self)
        while low < high:
            middle = (low + high) // 2
            here = self.data[middle * KEY_BYTES : (middle + 1) * KEY_BYTES]
            if here == wanted:
                return True
            if here < wanted:
                low = middle + 1
            else:
                high = middle
        return False


def _is_key(value):
    return isinstance(value, str) and len(value) == 2 * KEY_BYTES and all(c in HEX for c in value)


def _keys(body, name):
    keys = body.get(name, [])
    if not isinstance(keys, list) or not all(_is_key(k) for k in keys):
        raise ValueError("access: %s must be a list of card keys (32 hex digits)" % name)
    return keys


def parse_list(payload):
    """An `access` message: {"mode", "members", "staff", "locked_reason", "updated_ms"},
    the keys as KeySets; ValueError says what is wrong (never a key)."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise ValueError("access: not JSON") from None
    if not isinstance(body, dict) or body.get("v") != 1:
        raise ValueError('access: expected an object with "v": 1')
    if body.get("mode") not in MODES:
        raise ValueError("access: mode must be one of " + ", ".join(MODES))
    members, staff = _keys(body, "members"), _keys(body, "staff")
    if len(members) + len(staff) > MAX_KEYS:
        raise ValueError("access: %d keys, more than the board holds (%d)"
                         % (len(members) + len(staff), MAX_KEYS))  # fmt: skip
    reason = body.get("locked_reason")
    if reason is not None and not (isinstance(reason, str) and len(reason) <= 64):
        raise ValueError("access: locked_reason must be text of at most 64 characters")
    updated = body.get("updated_ms")
    if not isinstance(updated, int) or isinstance(updated, bool) or updated < 0:
        raise ValueError("access: updated_ms must be a whole number")
    return {"mode": body["mode"], "members": KeySet(members), "staff": KeySet(staff),
            "locked_reason": reason, "updated_ms": updated}  # fmt: skip


class CardAccess:
    def __init__(self, settings, path=ACCESS_PATH):
        self.secret = settings["card_secret"]
        self.path = path
        self.mode = settings["access_mode"]  # until a list says otherwise
        self.members = KeySet()
        self.staff = KeySet()
        self.locked_reason = None
        self.updated_ms = None  # None: no list yet
        self.holder = None  # the key whose session holds the machine on (enforce)
        self.idle_limit_ms = settings["session_idle_s"] * 1000
        self._quiet_since_ms = None
        self.taps = RingBuffer(MAX_PENDING_TAPS)
        self.seq = 0

    # The list ---------------------------------------------------------------

    def load(self):
        """The list kept in flash, if any; a problem with it as one line, or None."""
        try:
            with open(self.path) as f:
                payload = f.read()
        except OSError:
            return None  # none yet
        try:
            self._take(parse_list(payload))
        except ValueError as exc:
            return "%s: %s" % (self.path, exc)
        return None

    def apply(self, payload):
        """A list from the server: True when it is new (then kept in flash); ValueError
        leaves the one before in force."""
        parsed = parse_list(payload)
        if parsed["updated_ms"] == self.updated_ms and parsed["mode"] == self.mode:
            return False  # the retained list again, at a reconnect: no flash write
        self._take(parsed)
        with open(self.path + ".new", "w") as f:
            f.write(payload if isinstance(payload, str) else payload.decode())
        os.rename(self.path + ".new", self.path)  # a power cut leaves the old list or the new
        return True

    def _take(self, parsed):
        self.mode = parsed["mode"]
        self.members, self.staff = parsed["members"], parsed["staff"]
        self.locked_reason = parsed["locked_reason"]
        self.updated_ms = parsed["updated_ms"]
        if self.mode != ENFORCE:
            self.holder = None  # nothing is locked any more; the relay is left as it is

    def describe(self):
        """The list in force, for an event: the mode and counts, never a key."""
        text = "access %s: members %d, staff %d" % (self.mode, len(self.members), len(self.staff))
        return text + ("; locked: " + self.locked_reason if self.locked_reason else "")

    # Taps -------------------------------------------------------------------

    def tap(self, uid, epoch_ms, enforcing, now_ms=0):
        """A card read: its result (queued to be sent); `enforcing`: the board locks its
        machine (enforce mode with a relay), so the result opens or ends a session."""
        key = card_key(self.secret, uid)
        if not enforcing:
            result = STAFF if key in self.staff else ALLOWED if key in self.members else REFUSED
        elif key == self.holder:
            result = ENDED
        elif key in self.staff:
            result = STAFF
        elif key in self.members and not self.locked_reason:
            result = ALLOWED
        else:
            result = REFUSED
        if enforcing and result in (ALLOWED, STAFF):
            self.holder, self._quiet_since_ms = key, now_ms
        elif result == ENDED:
            self.holder = None
        mode = self.mode if enforcing or self.mode != ENFORCE else LOG
        self.taps.append(encoder.tap(key, result, mode, self.seq, encoder.valid_epoch_ms(epoch_ms)))
        self.seq += 1
        return result

    def session_over(self, now_ms, active):
        """True when the session must end: the machine not active for the idle limit."""
        if self.holder is None or not self.idle_limit_ms or active:
            self._quiet_since_ms = now_ms
            return False
        return now_ms - self._quiet_since_ms >= self.idle_limit_ms

    def drain(self, publish, topic):
        """Send the taps waiting, oldest first; stop at the first OSError (kept for later)."""
        while len(self.taps):
            publish(topic, self.taps.peek(1)[0], False)
            self.taps.drop(1)

    def end_session(self):
        """The machine was switched off (a card, the button, a command, a limit)."""
        self.holder = None
