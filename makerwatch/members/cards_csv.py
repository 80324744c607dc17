"""A makerspace's member list (CSV) into the members store (docs/members.md, "Enrolling").

Columns by header, any order, case ignored: `name` (required), `card` or `uid` (the
card's UID as the reader prints it; keyed at once, never stored), `short`, `email`,
`staff` (yes/no), and one column per machine kind or device id a member is trained
on: empty for not trained, `yes` for no expiry, or the date it runs out
(YYYY-MM-DD). Every row is checked before anything is written; a mistake is one line
naming the row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from makerwatch.core.cards import card_key, parse_uid
from makerwatch.members.store import MembersError, MembersStore

__all__ = ["Row", "expiry_ms", "import_members", "read_rows"]

_YES = {"yes", "y", "1", "true", "да", "иә"}
_NO = {"", "no", "n", "0", "false", "нет", "жоқ"}
_COLUMNS = {"name", "card", "uid", "short", "email", "staff"}
# A spreadsheet runs a cell starting with one of these as a formula: a name that does is
# an attack on whoever opens an export of the list, never a person's name.
_FORMULA_STARTS = ("=", "+", "-", "@")
# A makerspace's list is a few thousand rows, well under this; a bigger file is the
# wrong file, refused before it is read whole into memory.
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    short: str | None
    email: str | None
    staff: bool
    key: str | None
    training: dict[str, int | None]  # machine -> expires_ms


def expiry_ms(text: str, local_midnight_ms: Callable[[date], int]) -> int | None:
    """`yes` -> no expiry; `2027-06-30` -> the end of that day (site time)."""
    if text.lower() in _YES:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither yes nor a date (YYYY-MM-DD)") from None
    return local_midnight_ms(day) + 24 * 3600 * 1000


def _text(column: str, fields: dict[str, str]) -> str:
    """A cell people read (name, short name, e-mail), stripped; ValueError for a
    spreadsheet formula or a control character (a line break inside quotes)."""
    value = fields.get(column, "").strip()
    if value.startswith(_FORMULA_STARTS):
        raise ValueError(
            f"{column} {value[:24]!r} starts with {value[0]!r}, as a spreadsheet formula does"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{column} {value[:24]!r} holds a control character (a line break?)")
    return value


def _row(
    line: int,
    fields: dict[str, str],
    secret: str | None,
    machines: Iterable[str],
    local_midnight_ms: Callable[[date], int],
) -> Row:
    name = _text("name", fields)
    if not name:
        raise ValueError("no name")
    uid = (fields.get("card") or fields.get("uid") or "").strip()
    key = None
    if uid:
        if secret is None:
            raise ValueError(
                "a card UID, but no card secret to key it with "
                "(board-secrets.yaml's card_secret, or --secrets FILE)"
            )
        key = card_key(secret, parse_uid(uid))
    staff = fields.get("staff", "").strip().lower()
    if staff not in _YES | _NO:
        raise ValueError(f"staff: {staff!r} is neither yes nor no")
    training = {}
    for machine in machines:
        value = fields.get(machine, "").strip()
        if value.lower() not in _NO:
            training[machine] = expiry_ms(value, local_midnight_ms)
    return Row(line, name, _text("short", fields) or None,
               _text("email", fields) or None, staff in _YES, key, training)  # fmt: skip


def read_rows(
    path: Path,
    secret: str | None,
    known_machines: set[str],
    local_midnight_ms: Callable[[date], int],
) -> list[Row]:
    """Every row of the file, checked; MembersError names the file and row of a mistake."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise MembersError(
                    f"{path}: {size / 1024 / 1024:.0f} MB is not a member list "
                    f"(at most {MAX_FILE_BYTES // 1024 // 1024} MB)"
                )
            reader = csv.DictReader(file)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            if "name" not in header:
                raise MembersError(f"{path}: no 'name' column in the first line")
            machines = [h for h in header if h not in _COLUMNS]
            unknown = [m for m in machines if m not in known_machines]
            if unknown:
                raise MembersError(
                    f"{path}: column {unknown[0]!r} is not a machine kind or device of the site file"
                )
            rows: list[Row] = []
            seen: set[str] = set()
            for raw in reader:
                fields = {k.strip().lower(): (v or "") for k, v in raw.items() if k is not None}
                try:
                    rows.append(_row(reader.line_num, fields, secret, machines, local_midnight_ms))
                except ValueError as exc:
                    raise MembersError(f"{path}, row {reader.line_num}: {exc}") from None
                key = rows[-1].key
                if key is not None and key in seen:
                    raise MembersError(
                        f"{path}, row {reader.line_num}: the same card is on another row"
                    )
                seen.add(key or "")
            return rows
    except OSError as exc:
        raise MembersError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        # Excel saves "CSV" in the computer's code page (Windows-1251 for Cyrillic) unless
        # told "CSV UTF-8".
        raise MembersError(
            f'{path}: not UTF-8 text (byte {exc.start}); save it as "CSV UTF-8"'
        ) from None
    except csv.Error as exc:
        raise MembersError(f"{path}: cannot read as CSV: {exc}") from None


def import_members(
    store: MembersStore, rows: list[Row], now_ms: int, path: Path
) -> tuple[int, int]:
    """Add each row of the file at `path` as a member (with their card and training),
    but a row whose name and e-mail a member already has, which is left as it is (the
    same list imported twice adds nobody twice); (added, already there)."""
    known = store.short_names()
    for row in rows:
        if (
            row.key is not None
            and row.key in known
            and store.member_of(row.key) != store.same(row.name, row.email)
        ):
            raise MembersError(
                f"{path}, row {row.line}: that card is already {known[row.key]}'s (members list)"
            )
    added = 0
    for row in rows:
        if store.same(row.name, row.email) is not None:
            continue
        member = store.add(row.name, now_ms, short=row.short, email=row.email, staff=row.staff,
                           keys=(row.key,) if row.key else ())  # fmt: skip
        for machine, expires_ms in row.training.items():
            store.train(member, machine, expires_ms)
        added += 1
    return added, len(rows) - added
