"""`makerwatch firmware update`: send built firmware to boards over MQTT.

For each board: a manifest (every file's path, size and SHA-256, and the version)
signed with that board's own update key from provisioning, then each file in chunks of
firmware/core/update.py's CHUNK_BYTES, one file at a time, waiting for the board to
say it wrote and checked the file (an `update` event). Once every file is checked the
board restarts into the new version on trial, and keeps it only if it connects and
reports (docs/firmware.md, "Updating boards from the server"). A few boards at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from firmware.core.update import CHUNK_BYTES, PACKAGE
from makerwatch.core.errors import ConfigError, ToolError
from makerwatch.core.protocol import Event, EventKind, UpdateStep, message_kind

__all__ = [
    "BoardFile",
    "Outcome",
    "UpdateFailed",
    "built_files",
    "chunk_messages",
    "signed_manifest",
    "update_board",
    "update_boards",
    "update_key",
]

# How long a board may take to answer one step (a manifest, a file) before it is
# taken as gone; and how long, after it restarts, before its new version must be
# heard (its own trial limit, update_trial_s, plus the rollback's restart).
STEP_TIMEOUT_S = 60.0


class UpdateFailed(ToolError):
    """A board refused or abandoned the update, or stopped answering; it runs its old version."""


@dataclass(frozen=True)
class BoardFile:
    path: str  # below the board's root, e.g. firmware/core/agent.mpy
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Outcome:
    device: str
    ok: bool
    detail: str  # the board's own words (its last `update` event)


def built_files(build: Path) -> list[BoardFile]:
    """The firmware package `firmware deploy` built under `build` (not main.py, the
    loader, nor settings.json, which each board keeps)."""
    root = build / PACKAGE.rstrip("/")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".mpy", ".py"))
    if not files:
        raise ConfigError(
            f"{root}: no built firmware; run `makerwatch firmware deploy --dry-run` first"
        )
    return [BoardFile(p.relative_to(build).as_posix(), p.read_bytes()) for p in files]


def update_key(credentials: Path, user: str) -> str:
    """A board's update key from its credentials file (`makerwatch broker provision`)."""
    path = credentials / f"{user}.json"
    try:
        key = json.loads(path.read_text(encoding="utf-8"))["update_key"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: no update key ({type(exc).__name__}); run `makerwatch broker provision` "
            "and deploy the board once over USB"
        ) from None
    return str(key)


def signed_manifest(
    site: str, device: str, key_hex: str, version: str, files: Sequence[BoardFile], update_id: str
) -> bytes:
    """The `update/manifest` payload: the manifest as text, and its HMAC-SHA256."""
    text = json.dumps(
        {
            "site": site, "device": device, "id": update_id, "version": version,
            "files": [{"path": f.path, "size": len(f.data), "sha256": f.sha256} for f in files],
        },
        separators=(",", ":"),
    )  # fmt: skip
    sig = hmac.new(bytes.fromhex(key_hex), text.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"v": 1, "manifest": text, "sig": sig}).encode()


def chunk_messages(update_id: str, index: int, file: BoardFile) -> list[bytes]:
    """A file's `update/chunk` payloads: a header line, a newline, its bytes; an empty
    file is one empty chunk."""
    offsets = range(0, max(len(file.data), 1), CHUNK_BYTES)
    return [
        json.dumps(
            {"id": update_id, "file": index, "offset": offset}, separators=(",", ":")
        ).encode()
        + b"\n"
        + file.data[offset : offset + CHUNK_BYTES]
        for offset in offsets
    ]


Progress = Callable[[str, str], None]


async def update_board(
    client: aiomqtt.Client,
    site: str,
    device: str,
    key_hex: str,
    version: str,
    files: Sequence[BoardFile],
    progress: Progress,
    *,
    restart_timeout_s: float,
    corrupt: Callable[[int, int, bytes], bytes] | None = None,
) -> Outcome:
    """Update one board through `client` (subscribed to its events and status, see
    update_boards). `corrupt` lets a test damage a chunk (file, chunk, payload) in flight."""
    update_id = secrets.token_hex(8)
    steps: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    _listeners[(site, device)] = steps
    try:
        topic = message_kind("update/manifest").topic(site, device)
        await client.publish(
            topic, signed_manifest(site, device, key_hex, version, files, update_id), qos=1
        )
        await _expect(steps, UpdateStep.ACCEPTED, STEP_TIMEOUT_S, device)
        total = sum(len(f.data) for f in files)
        sent = 0
        chunk_topic = message_kind("update/chunk").topic(site, device)
        for index, file in enumerate(files):
            for n, payload in enumerate(chunk_messages(update_id, index, file)):
                if corrupt is not None:
                    payload = corrupt(index, n, payload)
                await client.publish(chunk_topic, payload, qos=1)
            await _expect(steps, UpdateStep.FILE, STEP_TIMEOUT_S, device)
            sent += len(file.data)
            progress(
                device,
                f"file {index + 1} of {len(files)} checked ({sent // 1024} of {total // 1024} KB)",
            )
        await _expect(steps, UpdateStep.SWITCHING, STEP_TIMEOUT_S, device)
        progress(device, f"restarting into firmware {version}")
        step, detail = await _expect(
            steps, (UpdateStep.CONFIRMED, UpdateStep.ROLLED_BACK), restart_timeout_s, device
        )
        if step == UpdateStep.ROLLED_BACK:
            raise UpdateFailed(f"{device}: {detail}")
        return Outcome(device, True, detail)
    except UpdateFailed as exc:
        return Outcome(device, False, str(exc).removeprefix(f"{device}: "))
    finally:
        del _listeners[(site, device)]


# The `update` events each board is waiting on, by (site, device); fed by update_boards.
_listeners: dict[tuple[str, str], asyncio.Queue[tuple[str, str]]] = {}


async def _expect(
    steps: asyncio.Queue[tuple[str, str]],
    wanted: str | tuple[str, ...],
    timeout_s: float,
    device: str,
) -> tuple[str, str]:
    wanted = (wanted,) if isinstance(wanted, str) else wanted
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                step, detail = await steps.get()
                if step == UpdateStep.FAILED:
                    raise UpdateFailed(f"{device}: {detail}")
                if step in wanted:
                    return step, detail
    except TimeoutError:
        raise UpdateFailed(
            f"{device}: no answer within {timeout_s:.0f} s (waiting for {' or '.join(wanted)}); "
            "is it online?"
        ) from None


async def _listen(client: aiomqtt.Client) -> None:
    """Hand each board's `update` events to the update waiting on it."""
    async for message in client.messages:
        _, site, device, kind = str(message.topic).split("/", 3)
        queue = _listeners.get((site, device))
        if queue is None or kind != "event":
            continue
        try:
            event = Event.model_validate_json(bytes(message.payload))
        except ValueError:
            continue
        if event.event is EventKind.UPDATE and event.reason:
            queue.put_nowait((event.reason, event.detail or ""))


async def update_boards(
    host: str,
    port: int,
    site: str,
    boards: Sequence[tuple[str, str]],
    version: str,
    files: Sequence[BoardFile],
    progress: Progress,
    *,
    at_once: int = 1,
    username: str | None = None,
    password: str | None = None,
    restart_timeout_s: float = 300.0,
    corrupt: Callable[[int, int, bytes], bytes] | None = None,
) -> list[Outcome]:
    """Update `boards` ((device, update key) pairs), `at_once` at a time."""
    limit = asyncio.Semaphore(at_once)
    try:
        async with aiomqtt.Client(
            host, port, username=username, password=password, identifier=username or None
        ) as client:
            await client.subscribe(f"makerspace/{site}/+/event", qos=1)
            listener = asyncio.create_task(_listen(client))

            async def one(device: str, key: str) -> Outcome:
                async with limit:
                    progress(device, f"sending firmware {version} ({len(files)} files)")
                    outcome = await update_board(
                        client, site, device, key, version, files, progress,
                        restart_timeout_s=restart_timeout_s, corrupt=corrupt,
                    )  # fmt: skip
                    progress(
                        device, ("updated: " if outcome.ok else "not updated: ") + outcome.detail
                    )
                    return outcome

            try:
                return list(await asyncio.gather(*(one(d, k) for d, k in boards)))
            finally:
                listener.cancel()
    except aiomqtt.MqttError as exc:
        raise ToolError(f"MQTT {host}:{port}: {exc}") from exc
