"""The board's access list and what a card does with it (firmware/core/access.py)."""

import json
import os

from firmware.core import access
from tests.firmware.core.expect import raises
from tests.firmware.core.test_update import in_own_folder

SECRET = "a-site-card-secret-of-32-chars-or-more"
MEMBER, STAFF, STRANGER = b"\x04\xa3\x2b\x1c\x5d\x6e\x80", b"\xde\xad\xbe\xef", b"\x01\x02\x03\x04"


def settings(mode="enforce", idle_s=60):
    return {"card_secret": SECRET, "access_mode": mode, "session_idle_s": idle_s}


def key(uid):
    return access.card_key(SECRET, uid)


def access_list(mode="enforce", members=(MEMBER,), staff=(STAFF,), locked=None, updated=1):
    return json.dumps({"v": 1, "mode": mode, "members": [key(u) for u in members],
                       "staff": [key(u) for u in staff], "locked_reason": locked,
                       "updated_ms": updated})  # fmt: skip


def taps(cards):
    return [json.loads(t) for t in cards.taps.peek(100)]


def test_a_card_key_is_the_first_16_bytes_of_the_uids_hmac():
    """Test the key against the HMAC computed from RFC 2104 by hand: the site's secret as
    UTF-8, the UID's bytes, 32 hex digits."""
    from firmware.core.update import hex_of, hmac_sha256

    assert key(MEMBER) == hex_of(hmac_sha256(SECRET.encode(), MEMBER))[:32]
    assert len(key(MEMBER)) == 32
    assert key(MEMBER) != key(STAFF)


def test_keys_are_found_by_halves_in_a_sorted_set():
    """Test membership for every key of a few hundred and for keys not in it."""
    keys = [access.card_key(SECRET, bytes((i, i, 7, 9))) for i in range(200)]
    held = access.KeySet(keys[::2])
    assert len(held) == 100
    assert all(k in held for k in keys[::2])
    assert not any(k in held for k in keys[1::2])
    assert key(MEMBER) not in access.KeySet()


def test_in_enforce_a_member_unlocks_and_the_same_card_again_ends_the_session():
    """Test allowed, refused, staff and ended, each queued with its key and mode, never a UID."""

    def test():
        cards = access.CardAccess(settings())
        assert cards.apply(access_list())
        assert cards.tap(STRANGER, None, True) == access.REFUSED
        assert cards.holder is None
        assert cards.tap(MEMBER, 1796543100000, True) == access.ALLOWED
        assert cards.holder == key(MEMBER)
        assert cards.tap(MEMBER, None, True) == access.ENDED
        assert cards.holder is None
        assert cards.tap(STAFF, None, True) == access.STAFF
        sent = taps(cards)
        assert [t["result"] for t in sent] == ["refused", "allowed", "ended", "staff"]
        assert [t["seq"] for t in sent] == [0, 1, 2, 3]
        assert sent[1]["ts"] == 1796543100.0
        assert "ts" not in sent[0]  # the clock was not set: the server stamps it
        assert {t["mode"] for t in sent} == {"enforce"}
        assert sent[1]["key"] == key(MEMBER)

    in_own_folder(test)


def test_a_locked_reason_lets_only_staff_in():
    """Test that a list locked for maintenance refuses members and lets staff in."""

    def test():
        cards = access.CardAccess(settings())
        cards.apply(access_list(locked="laser tube check overdue"))
        assert cards.tap(MEMBER, None, True) == access.REFUSED
        assert cards.tap(STAFF, None, True) == access.STAFF
        assert "locked: laser tube check overdue" in cards.describe()

    in_own_folder(test)


def test_in_log_mode_a_tap_is_recorded_and_nothing_is_held():
    """Test that log mode records who, opens no session, and a board that cannot lock (no
    relay) records its taps as log."""

    def test():
        cards = access.CardAccess(settings())
        cards.apply(access_list(mode="log"))
        assert [cards.tap(u, None, False) for u in (MEMBER, MEMBER, STAFF, STRANGER)] == [
            "allowed", "allowed", "staff", "refused"]  # fmt: skip
        assert cards.holder is None
        relayless = access.CardAccess(settings())
        relayless.apply(access_list(mode="enforce"))
        relayless.tap(MEMBER, None, False)
        assert taps(relayless)[0]["mode"] == "log"

    in_own_folder(test)


def test_with_no_list_yet_enforce_unlocks_nothing():
    """Test the board before its first list: the mode its settings give, no key allowed."""

    def test():
        cards = access.CardAccess(settings())
        assert cards.load() is None
        assert cards.updated_ms is None
        assert cards.tap(MEMBER, None, True) == access.REFUSED
        assert cards.tap(STAFF, None, True) == access.REFUSED

    in_own_folder(test)


def test_the_list_is_kept_in_flash_and_read_at_the_next_boot():
    """Test that a list applied is written to the board's file, read back by a new
    CardAccess (a restart with the network down), and not rewritten when the same retained
    list comes again."""

    def test():
        first = access.CardAccess(settings())
        assert first.apply(access_list(updated=5))
        written = os.stat(access.ACCESS_PATH)
        again = access.CardAccess(settings())
        assert again.load() is None
        assert again.tap(MEMBER, None, True) == access.ALLOWED
        assert not first.apply(access_list(updated=5))
        assert os.stat(access.ACCESS_PATH) == written

    in_own_folder(test)


def test_a_bad_list_is_refused_and_the_one_before_stays():
    """Test each way a list can be wrong: one line naming it, the list before still in force."""

    def test():
        cards = access.CardAccess(settings())
        cards.apply(access_list())
        for payload, says in (
            ("{", "not JSON"),
            ('{"v": 2}', '"v": 1'),
            ('{"v": 1, "mode": "open"}', "mode"),
            ('{"v": 1, "mode": "log", "members": ["04A32B1C"], "updated_ms": 1}', "members"),
            ('{"v": 1, "mode": "log", "staff": "x", "updated_ms": 1}', "staff"),
            ('{"v": 1, "mode": "log", "updated_ms": -1}', "updated_ms"),
            ('{"v": 1, "mode": "log", "locked_reason": 5, "updated_ms": 1}', "locked_reason"),
        ):
            error = raises(ValueError, cards.apply, payload)
            assert says in str(error), (payload, str(error))
        many = ["%032x" % i for i in range(access.MAX_KEYS + 1)]
        body = json.dumps({"v": 1, "mode": "log", "members": many, "updated_ms": 2})
        assert "more than the board holds" in str(raises(ValueError, cards.apply, body))
        assert cards.mode == "enforce"
        assert cards.tap(MEMBER, None, True) == access.ALLOWED
        with open(access.ACCESS_PATH, "w") as f:
            f.write("{")
        assert access.CardAccess(settings()).load() == "access.json: access: not JSON"

    in_own_folder(test)


def test_a_session_ends_after_the_idle_limit_and_activity_holds_it():
    """Test the idle limit on the board's clock: active use holds the session; the limit
    counted from the last activity ends it; no limit (0) never does."""

    def test():
        cards = access.CardAccess(settings(idle_s=60))
        cards.apply(access_list())
        cards.tap(MEMBER, None, True, now_ms=1000)
        assert not cards.session_over(50000, False)
        assert not cards.session_over(60000, True)
        assert not cards.session_over(119999, False)
        assert cards.session_over(120000, False)
        endless = access.CardAccess(settings(idle_s=0))
        endless.apply(access_list())
        endless.tap(MEMBER, None, True)
        assert not endless.session_over(10**9, False)

    in_own_folder(test)


def test_taps_wait_offline_and_are_sent_in_order():
    """Test that a failed publish keeps the taps, and they go later oldest first, bounded."""

    def test():
        cards = access.CardAccess(settings())
        cards.apply(access_list(mode="log"))
        for _ in range(access.MAX_PENDING_TAPS + 5):
            cards.tap(MEMBER, None, False)

        def down(topic, payload, retain):
            raise OSError(104)

        raises(OSError, cards.drain, down, "t")
        sent = []
        cards.drain(lambda topic, payload, retain: sent.append(json.loads(payload)["seq"]), "t")
        assert sent == list(range(5, access.MAX_PENDING_TAPS + 5))
        assert cards.taps.dropped == 5

    in_own_folder(test)


def test_a_refused_card_flashes_and_an_accepted_one_shows_steady():
    """Test the two patterns the LED and buzzer follow: six flashes for a refusal, one steady
    light for an accepted card, each over after its length."""

    def flashes(pattern):
        levels = [access.pattern_level(pattern, ms) for ms in range(0, 2000, 10)]
        return sum(1 for i in range(len(levels)) if levels[i] and not (i and levels[i - 1]))

    assert flashes(access.REFUSED_PATTERN) == 6
    assert flashes(access.ACCEPTED_PATTERN) == 1
    assert all(access.pattern_level(access.ACCEPTED_PATTERN, ms) for ms in range(0, 800, 10))
    assert access.pattern_level(access.ACCEPTED_PATTERN, 800) is None
    assert access.pattern_level(access.REFUSED_PATTERN, 1200) is None
