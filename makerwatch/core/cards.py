"""A member's card as Makerwatch knows it: its key, never its UID (docs/protocol.md,
"Cards"). The board keys a UID as it reads it; the server keys one only when staff
type or import it (`makerwatch members`), with the same site card secret, so the
same card gives the same key on both sides. A raw UID is never stored, sent or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from makerwatch.core.errors import ConfigError

__all__ = ["MIN_SECRET_CHARS", "card_key", "parse_uid"]

# ISO 14443 UIDs are 4, 7 or 10 bytes; readers print them as hex, with or without
# separators ("04:A3:2B:1C", "04 a3 2b 1c", "04A32B1C").
UID_BYTES = (4, 7, 10)
_SEPARATORS = re.compile(r"[\s:\-]")
# The card secret (board-secrets.yaml `card_secret`): long enough that keys cannot be
# reversed by trying every UID of a card batch.
MIN_SECRET_CHARS = 32


def parse_uid(text: str) -> bytes:
    """A card UID as its reader prints it, as bytes; ValueError says why not (and never
    repeats the UID: the message may reach a log)."""
    digits = _SEPARATORS.sub("", text)
    if not re.fullmatch(r"[0-9A-Fa-f]*", digits) or len(digits) % 2:
        raise ValueError("a card UID is hex digits, two a byte (e.g. 04:A1:B2:C3)")
    uid = bytes.fromhex(digits)
    if len(uid) not in UID_BYTES:
        raise ValueError(f"a card UID is 4, 7 or 10 bytes, not {len(uid)}")
    return uid


def card_key(secret: str, uid: bytes) -> str:
    """HMAC-SHA256 of the UID under the site's card secret, the first 16 bytes in hex:
    what the board sends and the members store keeps."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"card_secret: at least {MIN_SECRET_CHARS} characters")
    return hmac.new(secret.encode("utf-8"), uid, hashlib.sha256).digest()[:16].hex()
