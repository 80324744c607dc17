"""The members store: one SQLite file in the data folder (docs/members.md).

Members (a name, the short name staff see, an optional e-mail, a staff flag), their
cards by key only (core/cards.py: the UID is keyed before it gets here), their
training per machine kind or device with an optional expiry, and enrolments waiting
for a card. The command line and ingest open the same file: SQLite serialises their
writes, and `changes()` (SQLite's data_version) tells ingest another process wrote.

Forgetting a member deletes their row, cards and training with SQLite's secure
delete on (the freed pages are zeroed) and the write-ahead log truncated, so the
name and the key mapping are gone from the file, not just unlinked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from makerwatch.core.errors import MakerwatchError

__all__ = ["Member", "MembersError", "MembersStore", "Training", "short_name"]

FILE_NAME = "members.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    short TEXT NOT NULL,
    email TEXT,
    staff INTEGER NOT NULL DEFAULT 0,
    added_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    key TEXT PRIMARY KEY,
    member INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS training (
    member INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    machine TEXT NOT NULL,   -- a machine kind (laser_cutter) or a device id (laser-1)
    expires_ms INTEGER,      -- NULL: does not expire
    PRIMARY KEY (member, machine)
);
CREATE TABLE IF NOT EXISTS numbers (  -- the last member number given: never given again
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS enrolments (
    device TEXT PRIMARY KEY, -- the next unknown card tapped here...
    member INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE, -- ...is theirs
    until_ms INTEGER NOT NULL
);
"""


class MembersError(MakerwatchError):
    """A members store that cannot be opened, or a member or card that is not there."""


@dataclass(frozen=True)
class Training:
    machine: str
    expires_ms: int | None


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    short: str
    email: str | None
    staff: bool
    keys: tuple[str, ...]
    training: tuple[Training, ...]


def short_name(name: str) -> str:
    """What staff see: the first name and the last name's initial ("Aigerim S.")."""
    words = name.split()
    if len(words) < 2:
        return name.strip()
    return f"{words[0]} {words[-1][0]}."


class MembersStore:
    """The store at `path` (created with its folder on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Names and e-mail addresses: the owner only, before anything is written
            # (SQLite gives its -wal and -shm files the database file's permissions).
            path.touch(mode=0o600, exist_ok=True)
            path.chmod(0o600)
            self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise MembersError(f"{path}: cannot open the members store: {exc}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")  # waits the busy timeout for another writer
        except sqlite3.OperationalError as exc:
            raise MembersError(
                f"{self.path}: cannot write the members store ({exc}): another process holds "
                "it for writing; try again when it is done"
            ) from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def changes(self) -> int:
        """A number that changes whenever another connection commits (SQLite's
        data_version): ingest polls it to republish access lists."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # --- members -------------------------------------------------------------------

    def add(
        self,
        name: str,
        now_ms: int,
        *,
        short: str | None = None,
        email: str | None = None,
        staff: bool = False,
        keys: tuple[str, ...] = (),
    ) -> int:
        """A new member with their cards; their id."""
        with self._writing() as db:
            member = self._next_number(db)
            db.execute(
                "INSERT INTO members (id, name, short, email, staff, added_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (member, name, short or short_name(name), email, int(staff), now_ms),
            )
            for key in keys:
                self._attach(db, member, key)
        return member

    @staticmethod
    def _next_number(db: sqlite3.Connection) -> int:
        """A number no member had: a forgotten member's is never given again (staff may
        still hold it in notes, logs name members by number). A store from before the
        `numbers` table starts from its highest member."""
        (last,) = db.execute(
            "SELECT max(coalesce((SELECT max(last) FROM numbers), 0), "
            "coalesce((SELECT max(id) FROM members), 0))"
        ).fetchone()
        db.execute("DELETE FROM numbers")
        db.execute("INSERT INTO numbers (last) VALUES (?)", (last + 1,))
        return int(last) + 1

    def same(self, name: str, email: str | None) -> int | None:
        """The member with this name and e-mail (case ignored; no e-mail matches no
        e-mail), or None: how `members import` knows a row it has added before."""
        row = self._db.execute(
            "SELECT id FROM members WHERE name = ? AND lower(coalesce(email, '')) = lower(?) "
            "ORDER BY id LIMIT 1",
            (name, email or ""),
        ).fetchone()
        return None if row is None else int(row[0])

    def _attach(self, db: sqlite3.Connection, member: int, key: str) -> None:
        owner = db.execute("SELECT member FROM cards WHERE key = ?", (key,)).fetchone()
        if owner is not None and owner[0] != member:
            raise MembersError(f"that card is already member {owner[0]}'s")
        db.execute("INSERT OR IGNORE INTO cards (key, member) VALUES (?, ?)", (key, member))

    def attach(self, member: int, key: str) -> None:
        """Give a member one more card."""
        with self._writing() as db:
            self._existing(db, member)
            self._attach(db, member, key)

    def detach(self, member: int, key: str) -> bool:
        """Take one card off a member (lost, or handed back); False: not theirs."""
        with self._writing() as db:
            self._existing(db, member)
            gone = db.execute("DELETE FROM cards WHERE key = ? AND member = ?", (key, member))
            return gone.rowcount > 0

    def find(self, who: str) -> int:
        """A member by id, or by exact name when only one has it."""
        if who.isdigit():
            return self._existing(self._db, int(who))
        rows = self._db.execute("SELECT id FROM members WHERE name = ?", (who,)).fetchall()
        if len(rows) != 1:
            what = "no member" if not rows else f"{len(rows)} members"
            raise MembersError(f"{what} named {who!r}: give the member's number (members list)")
        return int(rows[0][0])

    @staticmethod
    def _existing(db: sqlite3.Connection, member: int) -> int:
        if db.execute("SELECT 1 FROM members WHERE id = ?", (member,)).fetchone() is None:
            raise MembersError(f"no member {member}")
        return member

    def forget(self, member: int) -> str:
        """Remove a member, their cards and training for good; the name they had. A
        member already deleted is wiped again (what a reader held up the first time)
        before "no member" is said."""
        try:
            with self._writing() as db:
                self._existing(db, member)
                (name,) = db.execute("SELECT name FROM members WHERE id = ?", (member,)).fetchone()
                db.execute("DELETE FROM members WHERE id = ?", (member,))
        finally:
            self._wipe(member)
        return str(name)

    def _wipe(self, member: int) -> None:
        """Overwrite what deleted rows left in the files. The database file keeps the old
        pages until the write-ahead log is checkpointed into it, which waits (the busy
        timeout) for another process's read; one still reading then is said, not hidden."""
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise MembersError(
                f"{self.path}: member {member} is deleted, but another process was reading "
                "the store (a backup, `members list`?), so the name is still in its files; "
                f"when it is done, run `makerwatch members forget {member}` again to wipe it"
            )
        self._db.execute("VACUUM")

    def members(self) -> list[Member]:
        rows = self._db.execute("SELECT id, name, short, email, staff FROM members ORDER BY id")
        return [self._member(*row) for row in rows.fetchall()]

    def _member(self, member: int, name: str, short: str, email: str | None, staff: int) -> Member:
        keys = self._db.execute("SELECT key FROM cards WHERE member = ? ORDER BY key", (member,))
        trained = self._db.execute(
            "SELECT machine, expires_ms FROM training WHERE member = ? ORDER BY machine", (member,)
        )
        return Member(
            member, name, short, email, bool(staff),
            tuple(k for (k,) in keys.fetchall()),
            tuple(Training(m, e) for m, e in trained.fetchall()),
        )  # fmt: skip

    def keys_of(self, member: int) -> frozenset[str]:
        """A member's card keys (none for a member forgotten)."""
        rows = self._db.execute("SELECT key FROM cards WHERE member = ?", (member,))
        return frozenset(k for (k,) in rows.fetchall())

    def short_name(self, key: str) -> str | None:
        """The short name of a card's member (for staff screens), or None."""
        row = self._db.execute(
            "SELECT members.short FROM cards JOIN members ON members.id = cards.member WHERE cards.key = ?",
            (key,),
        ).fetchone()
        return None if row is None else str(row[0])

    def member_of(self, key: str) -> int | None:
        """The number of a card's member, or None for a card nobody has."""
        row = self._db.execute("SELECT member FROM cards WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def short_names(self) -> dict[str, str]:
        """Card key -> the short name of its member (for staff screens)."""
        rows = self._db.execute("SELECT cards.key, members.short FROM cards JOIN members ON members.id = cards.member")  # fmt: skip
        return dict(rows.fetchall())

    # --- training --------------------------------------------------------------------

    def train(self, member: int, machine: str, expires_ms: int | None) -> None:
        """Trained on a machine kind or a device, until `expires_ms` (None: for good)."""
        with self._writing() as db:
            self._existing(db, member)
            db.execute(
                "INSERT OR REPLACE INTO training (member, machine, expires_ms) VALUES (?, ?, ?)",
                (member, machine, expires_ms),
            )

    def untrain(self, member: int, machine: str) -> bool:
        with self._writing() as db:
            self._existing(db, member)
            gone = db.execute(
                "DELETE FROM training WHERE member = ? AND machine = ?", (member, machine)
            )
            return gone.rowcount > 0

    def allowed(self, device: str, kind: str, now_ms: int) -> tuple[list[str], list[str]]:
        """The card keys allowed on this device now: (trained members', staff's)."""
        members = self._db.execute(
            "SELECT DISTINCT cards.key FROM cards JOIN training ON training.member = cards.member "
            "WHERE training.machine IN (?, ?) AND (training.expires_ms IS NULL OR training.expires_ms > ?) "
            "ORDER BY cards.key",
            (device, kind, now_ms),
        ).fetchall()
        staff = self._db.execute(
            "SELECT cards.key FROM cards JOIN members ON members.id = cards.member "
            "WHERE members.staff = 1 ORDER BY cards.key"
        ).fetchall()
        return [k for (k,) in members], [k for (k,) in staff]

    def next_expiry_ms(self, now_ms: int) -> int | None:
        """When the next training runs out (an access list changes then)."""
        row = self._db.execute(
            "SELECT min(expires_ms) FROM training WHERE expires_ms > ?", (now_ms,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # --- enrolment -------------------------------------------------------------------

    def enrol_next(self, device: str, member: int, until_ms: int) -> None:
        """The next unknown card tapped at `device` before `until_ms` is `member`'s."""
        with self._writing() as db:
            self._existing(db, member)
            db.execute(
                "INSERT OR REPLACE INTO enrolments (device, member, until_ms) VALUES (?, ?, ?)",
                (device, member, until_ms),
            )

    def tapped(self, device: str, key: str, now_ms: int) -> int | None:
        """A card was tapped at `device`: when it is unknown and an enrolment waits
        there, it becomes that member's; the member it was attached to, or None.
        Nearly every tap finds no enrolment waiting: a plain read answers it, which never
        waits for a writer (WAL), so a board tapping fast while `members import` holds
        the write lock neither stalls ingest nor fails."""
        waiting = "SELECT 1 FROM enrolments WHERE device = ? AND until_ms > ?"
        if self._db.execute(waiting, (device, now_ms)).fetchone() is None:
            return None
        with self._writing() as db:
            if db.execute("SELECT 1 FROM cards WHERE key = ?", (key,)).fetchone() is not None:
                return None
            row = db.execute(
                "SELECT member FROM enrolments WHERE device = ? AND until_ms > ?", (device, now_ms)
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM enrolments WHERE device = ?", (device,))
            db.execute("INSERT INTO cards (key, member) VALUES (?, ?)", (key, row[0]))
            return int(row[0])
