"""The HTTP API under attack from the Wi-Fi, against the real ingest service, broker and
InfluxDB: floor-board streams that are held and never read, and staff tokens guessed
as fast as the network allows. Staff, health checks and `makerwatch status` must still
be answered; every refusal is counted in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import select
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from makerwatch.api.confirmations import ANSWER_WITHIN_S
from makerwatch.api.guards import STREAMS_PER_ADDRESS, STREAMS_TOTAL, GuessBudget
from makerwatch.core.site_config import SiteConfig, StaffMember
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.api.test_observability import metrics
from tests.support import RunningIngest, make_config, publish, start_ingest, wait_until

pytestmark = pytest.mark.stack

TOKEN = "aigerim-board-token-0123456789"
STAFF = "Айгерім Сейітова"
STREAM_REQUEST = (
    b"GET /board-events HTTP/1.1\r\nHost: makerwatch\r\nAccept: text/event-stream\r\n\r\n"
)
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def guarded_config(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, devices: int = 2
) -> SiteConfig:
    config = make_config(mosquitto.port, influxdb.url, http_port=free_port())
    data = config.model_dump(mode="json", exclude_none=True)
    if devices > len(config.devices):
        # Long names in three languages make each tile event large, so a page that
        # stops reading falls behind quickly.
        data["devices"] = [
            {"id": f"m-{i:02d}", "kind": "printer_3d",
             "name": {lang: f"{lang} machine {i:02d} " + "x" * 60 for lang in ("en", "ru", "kk")}}
            for i in range(devices)
        ]  # fmt: skip
    return SiteConfig.model_validate(data).model_copy(
        update={"staff": [StaffMember(name=STAFF, token=TOKEN)]}
    )


@contextlib.asynccontextmanager
async def running(config: SiteConfig) -> AsyncIterator[RunningIngest]:
    ingest = await start_ingest(config)
    try:
        yield ingest
    finally:
        await ingest.shutdown()


def client(config: SiteConfig, source: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(
        transport=transport, base_url=f"http://127.0.0.1:{config.ingest.http_port}"
    )


async def open_stream(port: int, source: str) -> Stream:
    """A connection asking for the board's stream, from `source` (127.0.0.x)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(STREAM_REQUEST)
    await writer.drain()
    return reader, writer


async def status_of(stream: Stream) -> tuple[int, bytes]:
    """The stream's HTTP status and, for a refusal, its body (read to the end)."""
    reader, _ = stream
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, b"" if status == 200 else await reader.read()


async def open_sleeping_stream(port: int, source: str) -> socket.socket:
    """A board stream from a page that reads its first bytes and never reads again: a
    bare socket with a small receive buffer, which nothing reads on this side."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, STREAM_REQUEST)
    assert (await loop.sock_recv(sock, 12)).startswith(b"HTTP/1.1 200")
    return sock


def hung_up(sock: socket.socket) -> bool:
    """Has the server ended this connection? (asked of the kernel, nothing read)"""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)
               for _, events in poller.poll(0))  # fmt: skip


async def test_held_unread_board_streams_leave_the_api_to_staff(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that 32 board streams from each of 9 addresses, never read after their first
    bytes, are capped per address (429) and in total (503) with a reason, and that
    /healthz, a staff action and `GET /machines` from another address are answered while
    they are held; the refusals are in /metrics."""
    config = guarded_config(mosquitto, influxdb)
    port = config.ingest.http_port
    async with running(config):
        held: list[Stream] = []
        statuses: dict[str, list[int]] = {}
        reasons: set[str] = set()
        for address in (f"127.0.0.{10 + n}" for n in range(9)):
            for _ in range(32):
                stream = await open_stream(port, address)
                status, body = await status_of(stream)
                statuses.setdefault(address, []).append(status)
                if status == 200:
                    held.append(stream)
                else:
                    reasons.add(f"{status} {json.loads(body)['error']}")
                    stream[1].close()
        assert len(held) == STREAMS_TOTAL
        for address, seen in statuses.items():
            assert seen.count(200) <= STREAMS_PER_ADDRESS, address
            assert set(seen) <= {200, 429, 503}, (address, seen)
        assert any(r.startswith("429 too many floor-board streams from 127.0.0.") for r in reasons)
        assert any(
            r.startswith("503 the server holds its most floor-board streams") for r in reasons
        )

        async with client(config, "127.0.0.200") as http:
            assert (await http.get("/healthz")).status_code == 200
            machines = (await http.get("/machines")).json()["machines"]
            assert [m["device"] for m in machines] == [d.id for d in config.devices]
            action = await http.post(  # sent; no board answers here, so after the wait: 202
                "/devices/solder-1/identify",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=ANSWER_WITHIN_S + 10,
            )
            assert action.status_code == 202, action.text
            got = metrics((await http.get("/metrics")).text)
        site = config.site.id
        refused_address = got[
            f'makerwatch_board_streams_refused_total{{cap="address",site="{site}"}}'
        ]
        refused_total = got[f'makerwatch_board_streams_refused_total{{cap="total",site="{site}"}}']
        assert refused_address + refused_total == 9 * 32 - STREAMS_TOTAL
        assert refused_total >= STREAMS_PER_ADDRESS, "the ninth address found the total cap"
        assert got[f'makerwatch_board_streams{{site="{site}"}}'] == STREAMS_TOTAL
        for _, writer in held:
            writer.close()


async def test_a_page_that_stops_reading_is_dropped_and_its_place_freed(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that a board stream whose client stops reading is ended once the floor's
    updates pile up for it, while a page that reads is kept; the drop is counted."""
    config = guarded_config(mosquitto, influxdb, devices=30)
    port, site = config.ingest.http_port, config.site.id
    async with running(config), client(config, "127.0.0.3") as http:
        asleep = await open_sleeping_stream(port, "127.0.0.2")
        awake = await open_stream(port, "127.0.0.3")
        assert (await status_of(awake))[0] == 200
        received = 0

        async def read_awake() -> None:
            nonlocal received
            while chunk := await awake[0].read(65536):
                received += len(chunk)

        reading = asyncio.create_task(read_awake())
        rounds = 0

        async def dropped() -> bool:
            nonlocal rounds
            if hung_up(asleep):
                return True
            rounds += 1  # every machine's power changes: one tile event each per push
            await publish(mosquitto.port, [
                (f"makerspace/{site}/m-{i:02d}/telemetry",
                 json.dumps({"v": 1, "ts": time.time(), "seq": rounds, "power_w": float(rounds)}))
                for i in range(30)
            ])  # fmt: skip
            return False

        await wait_until(dropped, "the unread stream dropped", within_s=60)
        got = metrics((await http.get("/metrics")).text)
        assert got[f'makerwatch_board_streams_dropped_total{{site="{site}"}}'] == 1
        assert got[f'makerwatch_board_streams{{site="{site}"}}'] == 1, "the reading page kept"
        assert not reading.done(), "the reading page's stream goes on"
        assert received > 0
        reading.cancel()
        asleep.close()
        awake[1].close()


async def test_wrong_staff_tokens_are_limited_per_address_logged_and_counted(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that an address guessing tokens is answered 429 with Retry-After after a
    few tries, that its right token is then not even checked, that another address
    still signs in, and that every wrong token is logged with its address and counted."""
    config = guarded_config(mosquitto, influxdb)
    site = config.site.id
    caplog.set_level(logging.WARNING, logger="makerwatch.api.http")
    budget = GuessBudget()
    async with running(config), client(config, "127.0.0.7") as guesser:
        started = time.monotonic()
        answers: list[httpx.Response] = []
        for guess in range(200):
            answers.append(await guesser.post(
                "/alerts/over_temperature-solder-1/ack",
                headers={"Authorization": f"Bearer guess-{guess:06d}"},
            ))  # fmt: skip
            if answers[-1].status_code != 401:
                break
        elapsed_s = time.monotonic() - started
        refused = answers[-1]
        assert refused.status_code == 429, "200 wrong tokens and no pause"
        wrong = len(answers) - 1
        # The budget refills while the test runs: at least the burst, never much more.
        assert budget.burst <= wrong <= budget.burst + math.ceil(elapsed_s / budget.refill_s)
        assert 1 <= int(refused.headers["Retry-After"]) <= math.ceil(budget.refill_s)
        assert refused.json()["error"].startswith("too many wrong staff tokens from 127.0.0.7")

        right = await guesser.get("/staff/me", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 429, "a right token from a guessing address is not checked"
        async with client(config, "127.0.0.8") as staff:
            me = await staff.get("/staff/me", headers={"Authorization": f"Bearer {TOKEN}"})
            assert me.json() == {"name": STAFF}
            got = metrics((await staff.get("/metrics")).text)
        assert got[f'makerwatch_staff_token_failures_total{{site="{site}"}}'] == wrong
        assert got[f'makerwatch_staff_token_refusals_total{{site="{site}"}}'] == 2
        logged = [r.getMessage() for r in caplog.records if "wrong staff token" in r.getMessage()]
        assert len(logged) == wrong
        assert all(
            re.match(r"HTTP: wrong staff token from 127\.0\.0\.7 \(POST ", m) for m in logged
        )
        assert not any("guess-" in m for m in logged), "the guesses themselves are not logged"

        caplog.clear()
        async with client(config, "127.0.0.9") as forger:
            forged_path = "/devices/x%0A2026-12-07 INFO all is well%0D/identify"
            answer = await forger.post(forged_path, headers={"Authorization": "Bearer nope"})
            assert answer.status_code == 401
        [line] = [r.getMessage() for r in caplog.records if "wrong staff token" in r.getMessage()]
        assert "\n" not in line
        assert "\r" not in line, "one log line, whatever the path holds"


def test_the_guess_budget_refills_one_try_at_a_time() -> None:
    """Test the token bucket: a burst, then one try per refill period, per address."""
    now = [0.0]
    budget = GuessBudget(burst=3, refill_s=10.0, clock=lambda: now[0])
    for left in (2, 1, 0):
        assert budget.wait_s("a") == 0
        assert budget.failed("a") == left
    assert budget.wait_s("a") == 10
    assert budget.wait_s("b") == 0, "another address has its own budget"
    now[0] = 4.0
    assert budget.wait_s("a") == 6
    now[0] = 10.0
    assert budget.wait_s("a") == 0
    budget.failed("a")
    assert budget.wait_s("a") == 10, "one try back, spent again"
    now[0] = 40.0
    assert [budget.failed("a") for _ in range(3)] == [2, 1, 0], "fully refilled"
