"""Round three of attacks on the running daemons: members' cards, staff invites, the
machine page and the actions that wait for a board, each against the real broker,
ingest, InfluxDB and Chromium. Each test is one attack and what stops it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from makerwatch.api.invites import StaffDevices
from makerwatch.app import IngestService
from makerwatch.core.cards import card_key, parse_uid
from makerwatch.core.protocol import AccessMode
from makerwatch.core.site_config import SiteConfig
from makerwatch.members.store import FILE_NAME, MembersStore
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from makerwatch.ops.provision import provision
from tests.api.test_board import STAFF, TOKEN, Board, board_config, board_running, state, tile
from tests.members.test_access import member_config
from tests.ops.test_provision import (
    CONFIG,
    SOLDER_1,
    ProvisionedMosquitto,
    client_as,
    next_topics,
)
from tests.support import (
    WAIT_TIMEOUT_S,
    ingest_process,
    mqtt_client,
    publish,
    start_ingest,
    wait_until,
)

pytestmark = pytest.mark.stack

SECRET = "test-card-secret-0123456789abcdef-0123"
AIGERIM = card_key(SECRET, parse_uid("04:A3:2B:1C"))


@pytest.fixture
async def named_board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> AsyncIterator[Board]:
    """The board of a site that shows members' names, with a staff token; solder-1
    reads cards and Aigerim is trained on it."""
    config = board_config(mosquitto, influxdb)
    devices = [config.devices[0].model_copy(update={"access": AccessMode.ENFORCE}),
               config.devices[1]]  # fmt: skip
    members = config.members.model_copy(
        update={"show_names": True, "store": str(tmp_path / FILE_NAME)}
    )
    config = config.model_copy(update={"devices": devices, "members": members})
    store = MembersStore(tmp_path / FILE_NAME)
    store.train(store.add("Aigerim Serikova", 0, keys=(AIGERIM,)), "solder-1", None)
    store.close()
    async with board_running(config) as board:
        yield board


async def first_event(http: httpx.AsyncClient) -> str:
    """The stream's first event (the snapshot), as any screen on the wall gets it."""
    async with http.stream("GET", "/board-events") as events:
        text = ""
        async for chunk in events.aiter_text():
            text += chunk
            if "\n\n" in text.split("event: snapshot", 1)[-1]:
                return text
    return text


async def status(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`makerwatch status` in a process of its own, as staff run it on the server (in a
    thread: the server it asks runs in this event loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "makerwatch.cli", "status", "--http", address, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_a_members_name_is_shown_to_staff_only(named_board: Board) -> None:
    """Test that with show_names on, a visitor at the wall screen (the page, its stream,
    /machines, a machine's page, the members' page) sees that solder-1 is in use but
    never by whom, a wrong token is refused rather than answered without names, and a
    signed-in staff phone names the member."""
    board = named_board
    await publish(board.config.mqtt.port, [
        (board.topic("solder-1", "tap"), json.dumps({"v": 1, "ts": time.time(), "seq": 1,
                                                      "key": AIGERIM, "result": "allowed", "mode": "enforce"})),
        (board.topic("solder-1", "state"), state("active", "off")),
    ])  # fmt: skip
    staff = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=board.url) as http:

        async def named() -> object:
            machines = (await http.get("/machines", headers=staff)).json()["machines"]
            return next(m for m in machines if m["device"] == "solder-1")["in_use_by"]

        await wait_until(lambda: named(), "staff see who is at solder-1")
        assert await named() == "Aigerim S."
        public = [
            (await http.get("/machines")).text,
            (await http.get("/machines/solder-1")).text,
            (await http.get("/members")).text,
            (await http.get("/")).text,
            await first_event(http),
        ]
        assert '"active"' in public[0], "the machine is in use, that much is public"
        for answer in public:
            assert "Aigerim" not in answer, answer[:300]
        wrong = await http.get("/machines", headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401
        page = (await http.get("/machines/solder-1", headers=staff)).json()
        assert page["tile"]["in_use_by"] == "Aigerim S."
    address = board.url.removeprefix("http://")
    assert "Aigerim S." in (await status(address, "--token", TOKEN)).stdout
    assert "Aigerim" not in (await status(address)).stdout
    refused = await status(address, "--token", "not-a-token")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr

    kiosk = await board.page("/?kiosk=1&lang=en")
    await expect(tile(kiosk, "solder-1")).to_contain_text("on since")
    phone = await board.page("/?lang=en")
    await phone.locator("#staff-button").click()
    await phone.locator("#token").fill(TOKEN)
    await phone.locator("#sign-in").click()
    await expect(tile(phone, "solder-1")).to_contain_text("Aigerim S.")
    await expect(tile(kiosk, "solder-1")).not_to_contain_text("Aigerim")
    assert phone.errors == []  # type: ignore[attr-defined]
    assert kiosk.errors == []  # type: ignore[attr-defined]


# With one board's password: the broker's ACL, as `makerwatch broker provision` writes it.

HA_CONFIG = CONFIG.model_copy(
    update={"home_assistant": CONFIG.home_assistant.model_copy(update={"discovery": True})}
)
SITE = "makerspace/aktobe"


@pytest.fixture
def ha_broker(tmp_path: Path) -> Iterator[ProvisionedMosquitto]:
    """The example site's provisioned broker, Home Assistant's discovery on."""
    port = free_port()
    files = provision(HA_CONFIG, tmp_path / "broker", port)
    with ProvisionedMosquitto(files, port) as daemon:
        yield daemon


def tap(key: str) -> str:
    return json.dumps({"v": 1, "ts": time.time(), "seq": 1, "key": key, "result": "staff",
                       "mode": "enforce"})  # fmt: skip


async def test_a_board_login_cannot_tap_as_another_or_touch_access_lists(
    ha_broker: ProvisionedMosquitto,
) -> None:
    """Test that solder-1's login cannot tap as solder-2, cannot publish any access
    list (its own included: a list is the server's to send) and cannot write Home
    Assistant's topics, while its own tap goes through."""
    async with client_as(ha_broker, "ingest") as ingest, client_as(ha_broker, SOLDER_1) as board:
        await ingest.subscribe("makerspace/#", qos=1)
        await ingest.subscribe("homeassistant/#", qos=1)
        forged = [
            (f"{SITE}/solder-2/tap", tap(AIGERIM)),
            (f"{SITE}/solder-1/access", json.dumps({"v": 1, "mode": "off", "members": []})),
            (f"{SITE}/laser-1/access", json.dumps({"v": 1, "mode": "off", "members": []})),
            (f"{SITE}/_ha/solder-1/state", '{"state": "off"}'),
            ("homeassistant/switch/makerwatch_aktobe/solder-1/config", "{}"),
            ("homeassistant/status", "online"),
        ]
        for topic, payload in forged:
            await board.publish(topic, payload, qos=1)
        await board.publish(f"{SITE}/solder-1/tap", tap(AIGERIM), qos=1)
        topics = await next_topics(ingest, f"{SITE}/solder-1/tap")
    assert topics == [f"{SITE}/solder-1/tap"]


async def test_a_board_login_reads_only_its_own_access_list(
    ha_broker: ProvisionedMosquitto,
) -> None:
    """Test that solder-1's login subscribed to every access list and to Home
    Assistant's topics receives only its own list: no other board's card keys."""
    async with client_as(ha_broker, SOLDER_1) as board, client_as(ha_broker, "ingest") as ingest:
        await board.subscribe(f"{SITE}/+/access", qos=1)
        await board.subscribe(f"{SITE}/_ha/#", qos=1)
        await board.subscribe("homeassistant/#", qos=1)
        await ingest.publish(f"{SITE}/laser-1/access", '{"v":1,"mode":"enforce"}', qos=1)
        await ingest.publish(f"{SITE}/_ha/laser-1/state", '{"state":"off"}', qos=1)
        await ingest.publish(f"{SITE}/solder-1/access", '{"v":1,"mode":"enforce"}', qos=1)
        topics = await next_topics(board, f"{SITE}/solder-1/access")
    assert topics == [f"{SITE}/solder-1/access"]


# The members store, from the command line in a process of its own.


def members_command(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "members", *args, "--data", str(data)],
        capture_output=True, text=True, timeout=120, check=False, cwd=data.parent,
    )  # fmt: skip


class Reader:
    """Another process holding a read of the store open (a backup, `members list`)."""

    def __init__(self, path: Path, begin: str = "BEGIN") -> None:
        code = (f"import sqlite3, sys\ndb = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                f"db.execute('{begin}'); db.execute('SELECT * FROM members').fetchall()\n"
                "print('reading', flush=True); sys.stdin.read()")  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "reading\n"

    def done(self) -> None:
        self.process.communicate(timeout=60)  # closes its input and output


def test_forget_says_when_a_reader_kept_the_name_and_wipes_it_when_run_again(
    tmp_path: Path,
) -> None:
    """Test that `members forget` while another process reads the store does not claim
    the name is gone (the old pages stay until the write-ahead log is checkpointed): it
    says so in one line, and run again once the reader is done, the name is gone from
    every file of the data folder."""
    data = tmp_path / "var"
    store = MembersStore(data / FILE_NAME)
    member = store.add("Zhanargul Qwertyova", 0, email="zq@example.kz", keys=(AIGERIM,))
    store.add("Dmitry Ivanov", 0)
    store.close()
    reader = Reader(data / FILE_NAME)
    try:
        held = members_command(data, "forget", str(member))
    finally:
        reader.done()
    assert held.returncode != 0
    assert held.stderr.count("\n") == 1, held.stderr
    assert f"forget {member}` again" in held.stderr
    again = members_command(data, "forget", str(member))
    assert f"no member {member}" in again.stderr
    raw = b"".join(p.read_bytes() for p in data.iterdir())
    for gone in (b"Zhanargul", b"zq@example.kz", AIGERIM.encode()):
        assert gone not in raw
    assert b"Dmitry" in raw


def test_taps_while_the_command_line_writes_the_store_neither_wait_nor_fail(
    tmp_path: Path,
) -> None:
    """Test that a board's refused taps (a flood of unknown cards) while another process
    holds the store's write lock (`members import` of a long file) are answered at once
    by a read, not queued behind the lock on ingest's loop and failed after its timeout."""
    store = MembersStore(tmp_path / FILE_NAME)
    store.add("Aigerim Serikova", 0, keys=(AIGERIM,))
    writer = Reader(tmp_path / FILE_NAME, "BEGIN IMMEDIATE")
    try:
        for n in range(50):
            assert store.tapped("solder-1", f"{n:032x}", 1_000) is None
    finally:
        writer.done()
    store.close()


def test_a_command_while_another_writes_the_store_is_one_line(tmp_path: Path) -> None:
    """Test that `members add` while another process holds the store's write lock for
    longer than the wait says so in one line naming the file, no traceback."""
    data = tmp_path / "var"
    MembersStore(data / FILE_NAME).close()
    writer = Reader(data / FILE_NAME, "BEGIN IMMEDIATE")
    try:
        refused = members_command(data, "add", "Asel Nurlanovna")
    finally:
        writer.done()
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert f"{data / FILE_NAME}: cannot write the members store" in refused.stderr


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            b"name,email\n=cmd|'/c calc'!A1,a@example.kz\n",
            "row 2: name \"=cmd|'/c calc'!A1\" starts with '='",
        ),
        (b"name,email\nAigerim Serikova,@SUM(1+1)\n", "row 2: email '@SUM(1+1)' starts with '@'"),
        (b'name\n"Aigerim\nSerikova"\n', "holds a control character"),
        ("name\nАйгерім Серікова\n".encode("cp1251"), "not UTF-8 text"),
        (None, "100 MB is not a member list (at most 5 MB)"),
    ],
    ids=["formula", "formula-email", "line-break", "cp1251", "100MB"],
)
def test_a_hostile_or_wrong_member_list_is_one_line(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    """Test that `members import` of a spreadsheet formula, a name broken over lines, a
    list saved in Windows-1251 or a 100 MB file is refused in one line naming the file
    (and the row), and nobody is added."""
    data, csv_file = tmp_path / "var", tmp_path / "members.csv"
    if content is None:
        with csv_file.open("wb") as file:
            file.write(b"name\n")
            file.truncate(100 * 1024 * 1024)
    else:
        csv_file.write_bytes(content)
    refused = members_command(data, "import", str(csv_file))
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert f"{csv_file}" in refused.stderr
    assert said in refused.stderr, refused.stderr
    assert MembersStore(data / FILE_NAME).members() == []


# The HTTP API, as a visitor with curl and a member with a phone.


@pytest.fixture
async def plain_board(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> AsyncIterator[Board]:
    """The floor board's site (a staff token, solder-1 with a relay, a 3D printer)."""
    config = board_config(mosquitto, influxdb)
    running = await start_ingest(config)
    yield Board(config, running, f"http://127.0.0.1:{config.ingest.http_port}", None)  # type: ignore[arg-type]
    await running.shutdown()


def one_line_error(response: httpx.Response) -> str:
    """The answer's reason: JSON {"error": one line}, whatever was wrong."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    error = response.json()["error"]
    assert isinstance(error, str)
    assert "\n" not in error
    assert "Traceback" not in error
    return error


async def test_hostile_requests_get_one_line_refusals(plain_board: Board) -> None:
    """Test that absurd calibrations, an oversize body, path tricks in a machine's id, a
    printer's switch-off, enrolment without a token and guessed invite codes are each
    refused with a status and a one-line JSON reason, and the API still answers."""
    staff = {"Authorization": f"Bearer {TOKEN}"}
    calibrate = "/devices/solder-1/calibrate"
    async with httpx.AsyncClient(base_url=plain_board.url, timeout=60) as http:
        for body in (b'{"known_w": NaN}', b'{"known_w": 1e999}', b'{"known_w": -5}',
                     b'{"reference_c": 1e6}', b"[1]", b'{"known_w": 60, "v": 2}',
                     b'{"known_w": 60, "relay": false}', b"{", "\xff".encode("latin-1")):  # fmt: skip
            answer = await http.post(calibrate, content=body, headers=staff)
            assert answer.status_code == 400, (body, answer.text)
            one_line_error(answer)
        huge = await http.post(calibrate, content=b" " * (3 * 1024 * 1024), headers=staff)
        assert huge.status_code == 413
        one_line_error(huge)
        for device in ("..%2F..%2Fetc%2Fpasswd", "%3Cscript%3E", "solder-1%00", "x" * 2000):
            answer = await http.get(f"/machines/{device}")
            assert answer.status_code == 404, (device, answer.text[:200])
            one_line_error(answer)
        printer = await http.post("/devices/printer-1/off", headers=staff)
        assert printer.status_code == 409
        assert "printer-1" in one_line_error(printer)
        assert (
            await http.post("/members/enrol", json={"device": "solder-1", "member": 1})
        ).status_code == 401
        for n in range(12):
            guess = await http.post("/staff/sign-in", json={"code": f"guess-{n}"})
        assert guess.status_code == 429
        one_line_error(guess)
        assert guess.json()["retry_after_s"] == int(guess.headers["Retry-After"]) > 0
        assert (await http.get("/healthz")).status_code in (200, 503)


# A killed ingest, and the list a board gets.


async def retained_access(port: int, topic: str) -> dict[str, Any]:
    """The retained list a board gets when it subscribes (at boot, after a reconnect)."""
    async with mqtt_client(port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(WAIT_TIMEOUT_S):
            async for message in client.messages:
                return dict(json.loads(bytes(message.payload)))
    raise AssertionError("no retained list")


async def test_a_killed_ingest_sends_the_changed_list_when_it_starts_again(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that ingest killed (SIGKILL) just as the command line changes training, and
    changed again while it is down, gives the board the list as the store has it once
    it is back: the retained list is never left stale."""
    site = member_config(mosquitto, influxdb, tmp_path).model_dump(mode="json")
    site["devices"][0]["board"] = {"card_reader": "mfrc522", "relay_pin": 26,
                                   "relay_active_high": True}  # fmt: skip
    config = SiteConfig.model_validate(site)  # as `makerwatch ingest` reads its site file
    topic = f"makerspace/{config.site.id}/solder-1/access"
    store = MembersStore(tmp_path / FILE_NAME)
    aigerim = store.add("Aigerim Serikova", 0, keys=(AIGERIM,))
    store.train(aigerim, "solder-1", None)
    dmitry, other = store.add("Dmitry Ivanov", 0, keys=("b" * 32,)), "c" * 32
    async with ingest_process(config, tmp_path / "ingest") as ingest:

        async def listed() -> list[str]:
            return list((await retained_access(mosquitto.port, topic))["members"])

        await wait_until(lambda: listed(), "the first list")
        assert await listed() == [AIGERIM]
        store.untrain(aigerim, "solder-1")  # and killed at once: sent or not, who knows
        ingest.kill()
        store.train(dmitry, "solder-1", None)
        store.add("Asel Nurlanovna", 0, keys=(other,))
        ingest.start()
        await wait_until(lambda: _equal(listed(), ["b" * 32]), "the list as the store has it")
    store.close()


async def _equal(value: Awaitable[list[str]], wanted: list[str]) -> bool:
    return await value == wanted


async def test_a_clock_stepped_forward_and_back_gives_the_training_back(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that a wall clock stepped two days ahead (a bad time server) ends a
    training due tomorrow, as it must while the clock says so, and stepped back to the
    true time puts the member on the board's list again without any change to the
    store: a member is not locked out for good by a clock that was wrong for a minute."""
    config = member_config(mosquitto, influxdb, tmp_path)
    topic = f"makerspace/{config.site.id}/solder-1/access"
    store = MembersStore(tmp_path / FILE_NAME)
    aigerim = store.add("Aigerim Serikova", 0, keys=(AIGERIM,))
    store.train(aigerim, "solder-1", int((time.time() + 86_400) * 1000))
    store.close()
    step = {"s": 0.0}
    service = IngestService(config, clock=lambda: time.time() + step["s"])
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:

        async def listed(wanted: list[str]) -> bool:
            return list((await retained_access(mosquitto.port, topic))["members"]) == wanted

        await wait_until(lambda: listed([AIGERIM]), "the member listed")
        step["s"] = 2 * 86_400.0
        await wait_until(lambda: listed([]), "the training ended by the clock")
        step["s"] = 0.0
        await wait_until(lambda: listed([AIGERIM]), "the member listed again")
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_TIMEOUT_S)


async def test_a_sign_in_the_server_cannot_write_is_refused_in_a_line_and_the_link_kept(
    mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that a phone opening its invite while the phones' file cannot be written
    (a full disk; here a folder where its new copy goes) gets a 503 with a one-line
    reason, not a server error, and the link still signs it in once the file can be
    written."""
    config = board_config(mosquitto, influxdb)
    config = config.model_copy(update={
        "ingest": config.ingest.model_copy(update={"spool_dir": str(tmp_path / "spool")}),
    })  # fmt: skip
    code = StaffDevices(tmp_path).invite(STAFF, int(time.time() * 1000))
    blocker = tmp_path / "spool" / "staff-devices.json.partial"
    blocker.mkdir()
    running = await start_ingest(config)
    try:
        url = f"http://127.0.0.1:{config.ingest.http_port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            refused = await http.post("/staff/sign-in", json={"code": code})
            assert refused.status_code == 503
            assert "try it again later" in one_line_error(refused)
            blocker.rmdir()
            signed = await http.post("/staff/sign-in", json={"code": code})
            assert signed.status_code == 200
            assert signed.json()["name"] == STAFF
    finally:
        await running.shutdown()


async def test_concurrent_actions_on_an_offline_board_each_end_unconfirmed(
    plain_board: Board,
) -> None:
    """Test that ten staff actions at once on a machine whose board is offline are each
    answered 202 (sent, not confirmed) once the wait for an answer is over, the API
    answering others meanwhile."""
    staff = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=plain_board.url, timeout=60) as http:
        actions = [
            asyncio.create_task(http.post("/devices/printer-1/identify", headers=staff))
            for _ in range(10)
        ]
        assert (await http.get("/machines")).status_code == 200  # served while they wait
        answers = await asyncio.gather(*actions)
    assert [a.status_code for a in answers] == [202] * 10
    assert all(a.json()["confirmed"] is False for a in answers)
