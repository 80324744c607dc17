"""The one owner of SIGINT, SIGTERM and SIGHUP for the `makerwatch` commands.

Ctrl-C at any moment ends a command quietly with `INTERRUPTED` (the shell's 128 + 2),
never a traceback. A command that runs until it is stopped (`ingest`, `up`, a
simulated scenario) stops cleanly on the signals a person or a service manager sends.
Nothing else in the command line installs a signal handler.
"""

from __future__ import annotations

import os
import signal

# Not even `typing`: this module loads, and Ctrl-C is handled, before anything slower.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    import threading
    from collections.abc import Awaitable, Callable, Coroutine
    from typing import Any

__all__ = [
    "INTERRUPTED",
    "interrupt_on_ctrl_c",
    "interrupt_on_stop_signals",
    "leave_quietly_while_importing",
    "run_until_signalled",
    "stop_thread_event_on_signals",
]

INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C: 128 + SIGINT
# What stops a long-running command: Ctrl-C, a service manager, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _leave_now(signum: int, frame: object) -> None:
    # os._exit, not sys.exit: an exception raised here can land in one of importlib's
    # callbacks, which prints it as "Exception ignored" and goes on importing. Nothing
    # has started yet (no daemon, no file written), so there is nothing to unwind.
    os._exit(INTERRUPTED)


def leave_quietly_while_importing() -> None:
    """Ctrl-C while Python is still importing (a second or two on a small board computer):
    leave quietly, as after start-up, not with a traceback. `interrupt_on_ctrl_c`
    restores Python's own handler once the command line is loaded."""
    signal.signal(signal.SIGINT, _leave_now)


def interrupt_on_ctrl_c() -> None:
    """Ctrl-C raises KeyboardInterrupt again, which `main` turns into `INTERRUPTED`."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def interrupt_on_stop_signals() -> None:
    """A SIGTERM, or a SIGHUP from a closed terminal, unwinds like Ctrl-C: `up` starting
    its daemons leaves none of them running."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


def run_until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `run(stop)` in a new event loop, where any stop signal sets `stop`: ingest
    shuts down in order (writing what it holds), not interrupted wherever it was. Once
    it has, the signals act as before it ran: `up` stopping its daemons is still
    interrupted by a second Ctrl-C.

    The loop is uvloop's (libuv under asyncio's own interface) where it has a wheel:
    ingest's socket reads, timers and task steps cost about 5 % less CPU a reading
    than on asyncio's selector loop (docs/benchmarks.md). Elsewhere (32-bit ARM), it
    is asyncio's own."""
    import asyncio

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        try:
            await run(stop)
        finally:
            # asyncio's loop gives the signals back when it closes; uvloop's keeps them.
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    main = until_signalled()
    try:
        _event_loop_runner()(main)
    finally:
        main.close()  # Ctrl-C before the loop ran it: closed, not "never awaited" at exit


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop
    except ImportError:  # no wheel for this machine (pyproject.toml): asyncio's own loop
        import asyncio

        return asyncio.run
    return uvloop.run


def stop_thread_event_on_signals() -> threading.Event:
    """An event that Ctrl-C or SIGTERM sets, for a command that polls it: a simulated
    scenario stops at its next step, clears its marker and prints what it ran."""
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
