"""A background task that runs for good: a fault is logged and the task started again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["supervised"]

log = logging.getLogger(__name__)

RESTART_AFTER_S = 1.0


async def supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await run()
            return
        except Exception:
            log.exception("%s failed; restarting it in %.0f s", name, RESTART_AFTER_S)
            await asyncio.sleep(RESTART_AFTER_S)  # not a hot loop on a persistent fault
