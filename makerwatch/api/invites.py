"""Staff phones signed in by invite: `makerwatch staff invite NAME` makes a one-time
link; the phone that opens it first gets a device token of its own, good for a limited
time, until `makerwatch staff revoke NAME`.

Only SHA-256 digests of the link's code and of each device token are kept (a copy of
the file signs nobody in); the codes and tokens are 128 random bits, so a plain digest
is as good as a slow one. The file is in the data folder, written whole under a lock
by both the command (invites, revocations) and the running ingest (a phone signing in),
and re-read by ingest when it changes. The site file's `staff:` tokens keep working
beside these, for scripts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import SiteConfig

__all__ = [
    "DEVICE_DAYS",
    "FILE_NAME",
    "INVITE_HOURS",
    "InviteRefused",
    "SignedIn",
    "StaffDevices",
    "data_folder",
    "invite_link",
]

FILE_NAME = "staff-devices.json"
INVITE_HOURS = 24.0  # a link not opened within a day is void: ask for a new one
DEVICE_DAYS = 90.0  # a phone signs in again after a season
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class InviteRefused(Exception):
    """The link cannot sign a phone in (used, expired, revoked or never made)."""


SPOOL = "spool"  # the file is kept in ingest's spool folder, DATA/spool


def data_folder(config: SiteConfig) -> Path:
    """Ingest's data folder: the one holding its spool (`makerwatch up --data`), else var/.
    The file goes in the spool folder itself, the one place ingest surely may write and
    keeps across restarts (under Compose, the /spool volume: data folder /)."""
    spool = config.ingest.spool_dir
    return Path(spool).parent if spool else Path("var")


def invite_link(base_url: str, code: str) -> str:
    """The link to print and show as a QR code. The code travels after `#`, which a
    browser never sends: it stays out of server and proxy logs; the page posts it."""
    return f"{base_url.rstrip('/')}/#invite={code}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Invite:
    name: str
    code_sha256: str
    made_ms: int
    expires_ms: int


@dataclass
class SignedIn:
    """One phone signed in for a staff member."""

    name: str
    device_id: str  # short, shown by `staff list`; not a secret
    token_sha256: str
    signed_in_ms: int
    expires_ms: int
    agent: str  # the browser's own description, so staff can tell their phones apart


@dataclass
class _Contents:
    invites: list[Invite] = field(default_factory=list)
    devices: list[SignedIn] = field(default_factory=list)


class StaffDevices:
    """The invites and signed-in phones of one data folder (in its spool folder)."""

    def __init__(self, data: Path) -> None:
        self.path = data / SPOOL / FILE_NAME
        self._seen: tuple[int, int] | None = None  # (mtime ns, size) of what `_cached` holds
        self._cached = _Contents()

    # The command's side ---------------------------------------------------------------

    def invite(self, name: str, now_ms: int, hours: float = INVITE_HOURS) -> str:
        """A new one-time code for `name` (earlier unused links of theirs stay valid)."""
        code = secrets.token_urlsafe(16)
        with self._changing(now_ms) as contents:
            contents.invites.append(
                Invite(name, _digest(code), now_ms, now_ms + int(hours * HOUR_MS))
            )
        return code

    def revoke(self, name: str) -> int:
        """Sign out every phone of `name` and void their open links; how many phones."""
        with self._changing() as contents:
            phones = [d for d in contents.devices if d.name == name]
            contents.devices = [d for d in contents.devices if d.name != name]
            contents.invites = [i for i in contents.invites if i.name != name]
        return len(phones)

    def listed(self, now_ms: int) -> tuple[list[SignedIn], list[Invite]]:
        """The phones signed in and the links not yet used, both still valid."""
        contents = self._read()
        return (
            [d for d in contents.devices if d.expires_ms > now_ms],
            [i for i in contents.invites if i.expires_ms > now_ms],
        )

    # The running ingest's side --------------------------------------------------------

    def redeem(
        self, code: str, agent: str, now_ms: int, days: float = DEVICE_DAYS
    ) -> tuple[str, str]:
        """Sign a phone in with a link's code: (staff name, the phone's token). The code
        is spent: a second phone opening the same link is refused (InviteRefused)."""
        wanted = _digest(code)
        token = secrets.token_urlsafe(24)
        with self._changing(now_ms) as contents:
            invite = next((i for i in contents.invites if i.code_sha256 == wanted), None)
            if invite is None or invite.expires_ms <= now_ms:
                raise InviteRefused("this invite link was used already, has expired or was revoked")
            contents.invites.remove(invite)
            contents.devices.append(SignedIn(
                invite.name, secrets.token_hex(3), _digest(token), now_ms,
                now_ms + int(days * DAY_MS), agent[:120],
            ))  # fmt: skip
        return invite.name, token

    def named_by(self, token: str, now_ms: int) -> str | None:
        """The staff member whose phone holds this token, while it is valid, or None."""
        wanted = _digest(token)
        for device in self._read().devices:
            if device.token_sha256 == wanted and device.expires_ms > now_ms:
                return device.name
        return None

    # The file -------------------------------------------------------------------------

    def _read(self) -> _Contents:
        """What the file holds, re-read only when it changed (each request checks)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return _Contents()
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._cached, self._seen = self._parse(), seen
        return self._cached

    def _parse(self) -> _Contents:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return _Contents(
                [Invite(**item) for item in raw["invites"]],
                [SignedIn(**item) for item in raw["devices"]],
            )
        except FileNotFoundError:
            return _Contents()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a staff devices file ({exc})") from exc

    @contextlib.contextmanager
    def _changing(self, now_ms: int | None = None) -> Iterator[_Contents]:
        """Read, change and write the file whole, under a lock: the command and ingest
        may both write it at once. What expired before `now_ms` is left out."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / f".{FILE_NAME}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            contents = self._parse()
            if now_ms is not None:
                contents.invites = [i for i in contents.invites if i.expires_ms > now_ms]
                contents.devices = [d for d in contents.devices if d.expires_ms > now_ms]
            yield contents
            text = json.dumps(asdict(contents), indent=1, ensure_ascii=False) + "\n"
            partial = self.path.with_name(FILE_NAME + ".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            partial.replace(self.path)
