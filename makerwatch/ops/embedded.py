"""The system's Mosquitto and InfluxDB, run by Makerwatch on its own ports and folders.

Used by `makerwatch up` and by the test fixtures, so tests run the same real
daemons a user runs. Both listen on loopback only and never touch a system-wide
instance that may already be running on the standard ports.
"""

from __future__ import annotations

import contextlib
import getpass
import http.client
import logging
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from firmware.core.backoff import Backoff
from makerwatch.core.errors import MakerwatchError
from makerwatch.ops.broker_tuning import tuning
from makerwatch.ops.system_tools import system_tool

__all__ = [
    "EmbeddedDaemon", "EmbeddedInfluxDB", "EmbeddedMosquitto",
    "ProvisionedMosquitto", "StackError", "Supervisor",
    "bind_error", "free_port",
]  # fmt: skip

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class StackError(MakerwatchError):
    """An embedded daemon could not be started; the message says why."""


LOG_MAX_BYTES = 10 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def bind_error(host: str, port: int) -> OSError | None:
    """Why host:port cannot be listened on (taken, say), or None when it can."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
        return None


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then deliver the first:
    one arriving inside Popen, after the child started and before it is recorded,
    would leave the daemon running with nobody to stop it. (Only the main thread
    handles signals; elsewhere this does nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        held: signal.signal(held, lambda signum, frame: caught.append(signum))
        for held in HELD_SIGNALS
    }
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])


class EmbeddedDaemon:
    """One daemon process with its config and data under `data_dir`."""

    name = "daemon"
    executable = ""
    debian_package = ""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir.resolve()
        self.log_path = self.data_dir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        raise NotImplementedError

    def arguments(self, config_path: Path) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        binary = system_tool(self.executable, self.debian_package, StackError)
        if bind_error(HOST, self.port) is not None:
            raise StackError(
                f"{self.name}: port {self.port} on {HOST} is already in use; choose another port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir / f"{self.name}.conf"
        config_path.write_text(self.config_text(), encoding="utf-8")
        self.rotate_log()
        try:
            with _signals_held(), self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [binary, *self.arguments(config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                )
            self._wait_ready()
        except BaseException:  # interrupted while it starts: no daemon outlives us
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.05)  # polling a condition, with a deadline
        self.stop()
        waited = f"after {READY_TIMEOUT_S:.0f} s"
        raise StackError(f"{self.name} not ready on port {self.port} {waited}:\n{self.log_tail()}")

    def rotate_log(self) -> None:
        """A log past LOG_MAX_BYTES is copied to `.1` (the one before is dropped) and
        emptied, so a site that runs for years keeps at most about twice that. Copy and
        truncate: the running daemon writes on, appending, to the same file."""
        try:
            if self.log_path.stat().st_size <= LOG_MAX_BYTES:
                return
            shutil.copyfile(self.log_path, self.log_path.with_name(self.log_path.name + ".1"))
            with self.log_path.open("r+b") as log:
                log.truncate(0)
        except FileNotFoundError:
            pass

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Stop without warning (SIGKILL), as a power cut would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class EmbeddedMosquitto(EmbeddedDaemon):
    name = "mosquitto"
    executable = "mosquitto"
    debian_package = "mosquitto"

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    def config_text(self) -> str:
        # Anonymous access is allowed only because this listener is on loopback;
        # `up --lan` and Compose run the provisioned broker (per-device passwords).
        # Running as root, Mosquitto would switch to the mosquitto user, which
        # cannot write our data folder: `user` keeps it as whoever runs us.
        return f"listener {self.port} {HOST}\nallow_anonymous true\n{tuning(self.data_dir)}user {getpass.getuser()}\n"

    def arguments(self, config_path: Path) -> list[str]:
        return ["-c", str(config_path)]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False


class ProvisionedMosquitto(EmbeddedMosquitto):
    """The broker of `makerwatch up --lan`: the configuration `broker provision` wrote
    (every interface, a password for each board, ACLs), run as whoever runs us."""

    def __init__(self, port: int, data_dir: Path, conf: Path) -> None:
        super().__init__(port, data_dir)
        self.conf = conf

    def config_text(self) -> str:
        return self.conf.read_text(encoding="utf-8") + f"user {getpass.getuser()}\n"


class EmbeddedInfluxDB(EmbeddedDaemon):
    name = "influxdb"
    executable = "influxd"
    debian_package = "influxdb"

    rpc_port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        # The backup/restore RPC listener: a free loopback port, never the system's
        # 8088; written in the configuration, where `makerwatch backup` finds it.
        self.rpc_port = free_port()
        super().start()

    def config_text(self) -> str:
        return f"""\
reporting-disabled = true
bind-address = "{HOST}:{self.rpc_port}"

[meta]
  dir = "{self.data_dir}/meta"

[data]
  dir = "{self.data_dir}/data"
  wal-dir = "{self.data_dir}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "{HOST}:{self.port}"
  log-enabled = false

[logging]
  level = "warn"
"""

    def arguments(self, config_path: Path) -> list[str]:
        return ["-config", str(config_path)]

    def is_ready(self) -> bool:
        # The standard library's client: `up` runs ingest in this process, which needs
        # no second HTTP library at rest (ingest's own is aiohttp's).
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as answer:
                return bool(answer.status == 204)
        except (OSError, http.client.HTTPException):  # URLError is an OSError
            return False


class Supervisor:
    """Restarts a daemon that dies while `up` runs (with backoff, logged), until stopped."""

    CHECK_S = 1.0
    BACKOFF_FIRST_MS = 1_000
    BACKOFF_MAX_MS = 60_000

    def __init__(self, daemons: list[EmbeddedDaemon]) -> None:
        self._daemons = daemons
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self.restarts = 0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        backoff = {d.name: Backoff(first_ms=self.BACKOFF_FIRST_MS, max_ms=self.BACKOFF_MAX_MS)
                   for d in self._daemons}  # fmt: skip
        while not self._stop.wait(self.CHECK_S):  # a check a second, and the way to stop
            for daemon in self._daemons:
                if daemon.running:
                    daemon.rotate_log()
                    continue
                log.warning("%s stopped unexpectedly:\n%s", daemon.name, daemon.log_tail(5))
                try:
                    daemon.start()
                    self.restarts += 1
                    log.warning("%s restarted", daemon.name)
                    backoff[daemon.name].reset()
                except StackError as exc:
                    delay = backoff[daemon.name].next_s()
                    log.error("%s could not be restarted, trying again in %.0f s: %s",
                              daemon.name, delay, exc)  # fmt: skip
                    if self._stop.wait(delay):
                        return
