"""The record of maintenance done: one SQLite file in the data folder
(`maintenance/maintenance.sqlite`), one row each time a task was done: which task, on
which device, by whom, when. Rows are only ever added; the newest per task is when it
was last done, the rest is its history (the report's staff appendix)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from makerwatch.core.errors import ConfigError

__all__ = ["STORE_FILE", "Done", "MaintenanceStore"]

STORE_FILE = "maintenance.sqlite"

_SCHEMA = """CREATE TABLE IF NOT EXISTS done (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    task TEXT NOT NULL,
    done_by TEXT NOT NULL,
    at_ms INTEGER NOT NULL
)"""


@dataclass(frozen=True)
class Done:
    device: str
    task: str
    by: str
    at_ms: int


class MaintenanceStore:
    """The maintenance record in `folder` (made when missing)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STORE_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.path}: cannot open the maintenance record: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def record(self, done: Done) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO done (device, task, done_by, at_ms) VALUES (?, ?, ?, ?)",
                (done.device, done.task, done.by, done.at_ms),
            )

    def version(self) -> int:
        """Changes with every row added, by this process or another (the CLI)."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT COALESCE(MAX(id), 0) FROM done").fetchone()
        return int(row[0])

    def latest(self) -> dict[tuple[str, str], Done]:
        """When each (device, task) was last done."""
        return {(d.device, d.task): d for d in self.history()}

    def history(self, since_ms: int = 0, until_ms: int | None = None) -> list[Done]:
        """Everything done in [since_ms, until_ms), oldest first."""
        end = until_ms if until_ms is not None else 2**62
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT device, task, done_by, at_ms FROM done WHERE at_ms >= ? AND at_ms < ? "
                "ORDER BY at_ms, id",
                (since_ms, end),
            ).fetchall()
        return [Done(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
