"""The server stamps given to readings without `ts`, remembered by (device, measurement,
seq) so a redelivered reading gets its first stamp and overwrites its own point.

A reading is stamped before it is written and acknowledged; the broker redelivers it
when ingest stops in between (`kill -9`, a crash). So each stamp is appended to a file
in the spool folder as it is given, before the write: a restarted ingest reads the file
back and gives the redelivery the same stamp. The append is a plain write (in the
kernel's cache the moment it returns, so it survives the process, not a power cut;
an fsync per reading would cost more than the duplicate it prevents). A torn last line
is skipped; the file is rewritten from memory when it holds twice what is remembered.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

__all__ = ["Stamps"]

log = logging.getLogger(__name__)

REMEMBERED = 100_000  # stamps kept, oldest forgotten first
Key = tuple[str, str, int]  # device, measurement, seq


class Stamps:
    def __init__(self, path: Path | None, remembered: int = REMEMBERED) -> None:
        self._path = path
        self._remembered = remembered
        self._stamps: OrderedDict[Key, int] = OrderedDict()
        self._lines = 0
        self._fd: int | None = None
        self.latest_ns = 0
        if path is not None:
            self._load(path)

    def get(self, key: Key) -> int | None:
        return self._stamps.get(key)

    def put(self, key: Key, stamp_ns: int) -> None:
        self._stamps[key] = stamp_ns
        self.latest_ns = max(self.latest_ns, stamp_ns)
        if len(self._stamps) > self._remembered:
            self._stamps.popitem(last=False)
        self._append(f"S\t{key[0]}\t{key[1]}\t{key[2]}\t{stamp_ns}\n")

    def forget(self, device: str) -> None:
        """A board booted again: its seq starts again, so its stamps mean nothing now."""
        keys = [key for key in self._stamps if key[0] == device]
        for key in keys:
            del self._stamps[key]
        if keys:
            self._append(f"F\t{device}\n")

    def _load(self, path: Path) -> None:
        try:
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    self._lines += 1
                    fields = line.rstrip("\n").split("\t")
                    if line.endswith("\n") and fields[0] == "S" and len(fields) == 5:
                        if fields[3].isdigit() and fields[4].isdigit():
                            key = (fields[1], fields[2], int(fields[3]))
                            self._stamps[key] = int(fields[4])
                            self._stamps.move_to_end(key)
                            self.latest_ns = max(self.latest_ns, int(fields[4]))
                    elif line.endswith("\n") and fields[0] == "F" and len(fields) == 2:
                        for key in [k for k in self._stamps if k[0] == fields[1]]:
                            del self._stamps[key]
            while len(self._stamps) > self._remembered:
                self._stamps.popitem(last=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s: %s; stamps of this run are kept in memory only", path, exc.strerror)
            self._path = None

    def _append(self, line: str) -> None:
        if self._path is None:
            return
        try:
            if self._lines > 2 * self._remembered:
                self._rewrite(self._path)
            if self._fd is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line.encode("utf-8"))
            self._lines += 1
        except OSError as exc:
            log.warning(
                "%s: %s; stamps of this run are kept in memory only", self._path, exc.strerror
            )
            self._path = None

    def _rewrite(self, path: Path) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        fresh = path.with_name(path.name + ".new")
        fresh.write_text(
            "".join(f"S\t{d}\t{m}\t{seq}\t{ns}\n" for (d, m, seq), ns in self._stamps.items()),
            encoding="utf-8",
        )
        os.replace(fresh, path)
        self._lines = len(self._stamps)
