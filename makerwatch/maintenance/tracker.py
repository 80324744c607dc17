"""Use since each maintenance task was last done, per device: counted from InfluxDB's
`state` points at start (so it is right after a restart, a backfill or a restore), then
from each state point ingest stores; told to the alert engine as `maintenance` points.

"Done" is recorded here (the phone page, the chat) or by `makerwatch maintenance done`
in another process, which this notices in the store within POLL_S.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from makerwatch.core.errors import MakerwatchError
from makerwatch.core.maintenance import Progress, maintenance_point
from makerwatch.core.points import Point, device_tags
from makerwatch.core.protocol import STATE_MEASUREMENT
from makerwatch.core.site_config import LANGUAGES, MaintenanceTask, SiteConfig
from makerwatch.core.statistics import quoted
from makerwatch.maintenance.store import Done, MaintenanceStore

__all__ = ["POLL_S", "MaintenanceTracker", "UnknownTask", "task_of"]

log = logging.getLogger(__name__)

POLL_S = 2.0
PAGE_ROWS = 10_000  # states asked of InfluxDB at a time
MAX_EARLY_STATES = 100_000  # held while InfluxDB is first asked (a state is ~200 bytes)

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]
Tell = Callable[[list[Point]], Awaitable[None]]


class UnknownTask(MakerwatchError, KeyError):
    """No such device, or no such task for it; the message says which."""

    def __str__(self) -> str:
        return str(self.args[0])


def task_of(config: SiteConfig, device_id: str, task_id: str) -> MaintenanceTask:
    """The device's task; UnknownTask naming the device or the task."""
    device = config.device(device_id)
    if device is None:
        raise UnknownTask(f"no device {device_id!r} in the site file")
    tasks = config.tasks_for(device)
    for task in tasks:
        if task.id == task_id:
            return task
    known = ", ".join(t.id for t in tasks) or "none"
    raise UnknownTask(
        f"device {device_id!r} has no maintenance task {task_id!r} (its tasks: {known})"
    )


class MaintenanceTracker:
    def __init__(
        self,
        config: SiteConfig,
        store: MaintenanceStore,
        query: Query,
        tell: Tell | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._query = query
        self._tell = tell
        self.tasks = {d.id: config.tasks_for(d) for d in config.devices if config.tasks_for(d)}
        self._progress: dict[tuple[str, str], Progress] = {}
        self._last: dict[tuple[str, str], Done] = {}
        self._newest: dict[str, int] = {}  # each device's newest state counted
        self._version = -1
        self.loaded = False  # counted from InfluxDB: until then nothing is told
        # States stored before the first count: counted after it (a state counted is never
        # counted twice), so none written while InfluxDB was being asked is lost.
        self._early: list[Point] = []
        # Awaited with a device's id when its tasks change (counted, due, done): the
        # access list's publisher sets it to lock or unlock by `blocking_overdue`.
        self.on_change: Callable[[str], Awaitable[None]] | None = None

    def task(self, device_id: str, task_id: str) -> MaintenanceTask:
        return task_of(self.config, device_id, task_id)

    # Counting -------------------------------------------------------------------

    async def load(self) -> None:
        """Count every task from the store and InfluxDB (at start, and after another
        process recorded a task done); tell the engine each device's tasks."""
        version = self.store.version()
        latest = self.store.latest()
        for device_id, tasks in self.tasks.items():
            for task in tasks:
                done = latest.get((device_id, task.id))
                key = (device_id, task.id)
                known = self._progress.get(key)
                if known is None or known.since_ms != (done.at_ms if done else None):
                    self._progress[key] = await self._counted(device_id, task, done)
                if done is not None:
                    self._last[key] = done
        self._version, self.loaded = version, True
        early, self._early = self._early, []
        for point in early:
            self._count(point)
        for device_id in self.tasks:
            await self._tell_device(device_id)

    async def _counted(self, device_id: str, task: MaintenanceTask, done: Done | None) -> Progress:
        """The task's use since it was done, from the device's stored states, a page at a
        time (an InfluxDB may cap the rows of one answer)."""
        progress = Progress(done.at_ms if done else None)
        after_ms = done.at_ms if done else None
        while True:
            after = "" if after_ms is None else f" AND time > {after_ms}ms"
            rows = await self._query(
                "SELECT previous, previous_duration_s FROM state "
                f"WHERE site = {quoted(self.config.site.id)} "
                f"AND device = {quoted(device_id)}{after} ORDER BY time LIMIT {PAGE_ROWS}"
            )
            values = [row for series in rows for row in series["values"]]
            for at_ms, previous, duration_s in values:
                progress.count(task, previous, duration_s, int(at_ms))
            if len(values) < PAGE_ROWS:
                break
            after_ms = int(values[-1][0])
        progress.judge(task, progress.newest_ms or 0)
        if progress.newest_ms is not None:
            self._newest[device_id] = max(self._newest.get(device_id, 0), progress.newest_ms)
        return progress

    async def observe(self, points: list[Point]) -> None:
        """Points ingest stored: a state closing a period counts towards its tasks."""
        for point in points:
            device_id = point.tags.get("device", "")
            if point.measurement != STATE_MEASUREMENT or device_id not in self.tasks:
                continue
            if not self.loaded:
                if len(self._early) < MAX_EARLY_STATES:
                    self._early.append(point)
                continue
            before = self._due(device_id)
            self._count(point)
            if self._due(device_id) != before:
                await self._tell_device(device_id)

    def _count(self, point: Point) -> None:
        device_id, fields = point.tags["device"], point.fields
        for task in self.tasks[device_id]:
            self._progress[(device_id, task.id)].count(
                task, fields.get("previous"), fields.get("previous_duration_s"), point.time_ms
            )
        self._newest[device_id] = max(self._newest.get(device_id, 0), point.time_ms)

    async def done(self, device_id: str, task_id: str, by: str, at_ms: int) -> Done:
        """Record the task done now: its count starts again."""
        task = self.task(device_id, task_id)
        done = Done(device_id, task.id, by, at_ms)
        self.store.record(done)
        if not self.loaded:
            return done  # counted with the rest once InfluxDB answers
        self._version = self.store.version()
        progress = Progress(at_ms, newest_ms=self._newest.get(device_id))
        progress.judge(task, at_ms)
        self._progress[(device_id, task.id)] = progress
        self._last[(device_id, task.id)] = done
        await self._tell_device(device_id)
        return done

    async def run(self) -> None:
        """Count from InfluxDB (again while it is away), then notice tasks recorded done
        by another process (`makerwatch maintenance done`)."""
        while True:
            if not self.loaded or self.store.version() != self._version:
                try:
                    await self.load()
                except MakerwatchError as exc:  # InfluxDB away: counted once it is back
                    log.warning("maintenance: cannot count use yet: %s", exc)
            await asyncio.sleep(POLL_S)

    def _due(self, device_id: str) -> dict[str, int | None]:
        return {t.id: self._progress[(device_id, t.id)].due_ms for t in self.tasks[device_id]}

    async def _tell_device(self, device_id: str) -> None:
        """The device's tasks to the engine, at the time of its newest state (the
        engine's clock for it): a record of the past does not move its time."""
        if self.on_change is not None:
            await self.on_change(device_id)
        at_ms = self._newest.get(device_id)
        if self._tell is None or at_ms is None:
            return  # nothing stored of it yet: nothing can be due by use
        device = self.config.device(device_id)
        assert device is not None
        tags = device_tags(self.config.site.id, device)
        await self._tell([maintenance_point(tags, self._due(device_id), at_ms)])

    # What staff read ------------------------------------------------------------

    def status(self, device_id: str, now_ms: int) -> list[dict[str, Any]]:
        """Each task of the device: its name in every language, interval, use since it
        was last done, whether it is due, and who did it last and when."""
        result = []
        for task in self.tasks.get(device_id, []):
            progress = self._progress.get((device_id, task.id)) or Progress(None)
            key, every = task.interval
            last = self._last.get((device_id, task.id))
            result.append({
                "task": task.id,
                "names": {language: task.name_in(language) for language in LANGUAGES},
                "interval": key,
                "every": every,
                "used": round(progress.used(task, now_ms), 2),
                "due": progress.due_ms is not None and progress.due_ms <= now_ms,
                "due_ms": progress.due_ms,
                "blocking": task.blocking,
                "last_done_by": last.by if last else None,
                "last_done_ms": last.at_ms if last else None,
            })  # fmt: skip
        return result

    def blocking_overdue(self, device_id: str, now_ms: int) -> str | None:
        """Why the device must be locked (a blocking task overdue), or None: for the
        access list's `locked_reason` of a device in the `enforce` access mode."""
        for task in self.tasks.get(device_id, []):
            progress = self._progress.get((device_id, task.id))
            due_ms = progress.due_ms if progress else None
            if task.blocking and due_ms is not None and due_ms <= now_ms:
                return f"maintenance due: {task.id}"
        return None
