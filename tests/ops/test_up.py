"""`makerwatch up` as a user runs it: real daemons, mosquitto_pub in, the influx CLI out."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from makerwatch.cli.status_texts import STATUS_TEXTS
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.embedded import EmbeddedInfluxDB, EmbeddedMosquitto, free_port
from tests.support import KAZAKH_NAME, ROOT, WAIT_TIMEOUT_S

EXAMPLE = ROOT / "makerspace.example.yaml"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)  # poll interval of a condition wait


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    output: Path
    mqtt_port: int
    influx_port: int

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def spawn(output: Path, *args: str) -> subprocess.Popen[bytes]:
    """Run `makerwatch ARGS` as a process, its output going to `output`."""
    with output.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "makerwatch.cli", *args], stdout=sink, stderr=subprocess.STDOUT
        )


def run_up(tmp_path: Path, mqtt_port: int, influx_port: int, *extra: str) -> Stack:
    output = tmp_path / "up.out"
    process = spawn(
        output, "up", "--config", str(EXAMPLE), "--data", str(tmp_path / "var"),
        "--mqtt", f"127.0.0.1:{mqtt_port}", "--influx", f"http://127.0.0.1:{influx_port}",
        "--http", f"127.0.0.1:{free_port()}", *extra,
    )  # fmt: skip
    return Stack(process, output, mqtt_port, influx_port)


@pytest.fixture(params=[["--no-sim"]], ids=["no-sim"])
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    running = run_up(tmp_path, free_port(), free_port(), *request.param)
    wait_for(
        lambda: "subscribed to" in running.text() or running.process.poll() is not None,
        "makerwatch up to subscribe",
    )
    assert running.process.poll() is None, running.text()
    yield running
    if running.process.poll() is None:
        # As a user stops it: SIGTERM, so it stops its daemons (SIGKILL would leave
        # them running, in their own sessions, after the test).
        running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(WAIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


def influx_cli(stack: Stack, query: str) -> list[list[object]]:
    result = subprocess.run(
        [
            "influx",
            "-port",
            str(stack.influx_port),
            "-database",
            "makerwatch",
            "-format",
            "json",
            "-execute",
            query,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    series = json.loads(result.stdout)["results"][0].get("series", [])
    return series[0]["values"] if series else []


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_mosquitto_pub_reading_is_queryable_with_influx_cli(stack: Stack, stop_signal: int) -> None:
    """Test the README walk-through: mosquitto_pub in, influx CLI out, clean stop."""
    assert f"mqtt://127.0.0.1:{stack.mqtt_port}" in stack.text()
    assert f"http://127.0.0.1:{stack.influx_port}" in stack.text()
    subprocess.run(
        [
            "mosquitto_pub",
            "-p",
            str(stack.mqtt_port),
            "-q",
            "1",
            "-t",
            "makerspace/aktobe/solder-1/telemetry",
            "-m",
            '{"v":1,"seq":1,"power_w":42.5}',
        ],
        check=True,
    )
    query = 'SELECT power_w, seq, "name" FROM telemetry'
    wait_for(lambda: bool(influx_cli(stack, query)), "the reading in InfluxDB")
    [[_, power_w, seq, name]] = influx_cli(stack, query)
    assert (power_w, seq, name) == (42.5, 1, KAZAKH_NAME)

    stack.process.send_signal(stop_signal)
    assert stack.process.wait(WAIT_TIMEOUT_S) == 0, stack.text()
    assert "ingest stopped" in stack.text()
    assert port_is_free(stack.mqtt_port), "mosquitto left running"
    assert port_is_free(stack.influx_port), "influxd left running"


@pytest.mark.parametrize("stack", [[]], ids=["with-sim"], indirect=True)
def test_up_shows_a_living_makerspace(stack: Stack) -> None:
    """Test that plain `up` starts simulated machines whose readings and state changes reach InfluxDB."""
    wait_for(lambda: "Simulating the 12 machines" in stack.text(), "the simulation to start")
    devices = "SELECT count(power_w) FROM telemetry GROUP BY device"  # a plug has no seq

    def reporting() -> int:
        result = subprocess.run(
            ["influx", "-port", str(stack.influx_port), "-database", "makerwatch", "-format", "json", "-execute", devices],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        # The influx CLI prints each group of a GROUP BY as a results entry of its own.
        return sum(len(r.get("series", [])) for r in json.loads(result.stdout)["results"])

    wait_for(lambda: reporting() == 12, "readings from all 12 machines")
    wait_for(lambda: bool(influx_cli(stack, "SELECT state FROM state")), "a state change")
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(WAIT_TIMEOUT_S) == 0, stack.text()
    assert '"dead_lettered": {}' in stack.text(), "every simulated message was valid"


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """Test that a taken MQTT port stops `up` with a message naming the port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = run_up(tmp_path, port, free_port())
        assert stack.process.wait(WAIT_TIMEOUT_S) == 1
    assert f"port {port} on 127.0.0.1 is already in use" in stack.text()


def test_ingest_command_uses_endpoint_flags(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, influxdb: EmbeddedInfluxDB
) -> None:
    """Test that `makerwatch ingest --mqtt --influx` uses those daemons and stops on SIGTERM."""
    output = tmp_path / "ingest.out"
    process = spawn(
        output, "ingest", "--config", str(EXAMPLE),
        "--mqtt", f"127.0.0.1:{mosquitto.port}", "--influx", influxdb.url,
        "--http", f"127.0.0.1:{free_port()}", "--spool", str(tmp_path / "spool"),
    )  # fmt: skip
    try:
        wait_for(lambda: "subscribed to" in output.read_text(), "ingest to subscribe")
        subprocess.run(
            [
                "mosquitto_pub",
                "-p",
                str(mosquitto.port),
                "-q",
                "1",
                "-t",
                "makerspace/aktobe/laser-1/telemetry",
                "-m",
                '{"v":1,"seq":9,"power_w":600}',
            ],
            check=True,
        )
        url = f"{influxdb.url}/query"
        params = {"db": "makerwatch", "q": "SELECT power_w FROM telemetry WHERE device = 'laser-1'"}

        def stored_rows() -> list[list[object]]:
            series = httpx.get(url, params=params).json()["results"][0].get("series", [])
            return series[0]["values"] if series else []

        wait_for(lambda: bool(stored_rows()), "the laser reading in InfluxDB")
        assert [row[1] for row in stored_rows()] == [600.0]
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT_TIMEOUT_S) == 0, output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_up_on_the_same_data_folder_is_refused(tmp_path: Path, stack: Stack) -> None:
    """Test that another `up` on a data folder in use says so in one line and leaves the first
    running."""
    second = tmp_path / "second.out"
    process = spawn(second, "up", "--config", str(EXAMPLE), "--data", str(tmp_path / "var"),
                    "--mqtt", f"127.0.0.1:{free_port()}", "--influx", f"http://127.0.0.1:{free_port()}",
                    "--http", f"127.0.0.1:{free_port()}", "--no-sim")  # fmt: skip
    assert process.wait(WAIT_TIMEOUT_S) == 1
    output = second.read_text()
    assert output.strip().endswith("is in use by another makerwatch up"), output
    assert "Traceback" not in output
    assert stack.process.poll() is None, "the first one runs on"


def test_a_taken_http_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """Test that a taken HTTP port is refused before the banner, with no daemon left behind."""
    mqtt_port, influx_port = free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        output = tmp_path / "up.out"
        process = spawn(output, "up", "--config", str(EXAMPLE), "--data", str(tmp_path / "var"),
                        "--mqtt", f"127.0.0.1:{mqtt_port}", "--influx", f"http://127.0.0.1:{influx_port}",
                        "--http", f"127.0.0.1:{http_port}", "--no-sim")  # fmt: skip
        assert process.wait(WAIT_TIMEOUT_S) == 1
    text = output.read_text()
    assert f"--http 127.0.0.1:{http_port}: Address already in use; choose another port" in text
    assert "Makerwatch is up" not in text
    assert "Traceback" not in text
    assert port_is_free(mqtt_port)
    assert port_is_free(influx_port)


def test_influxdb_killed_while_up_runs_comes_back_and_nothing_is_lost(
    tmp_path: Path, stack: Stack
) -> None:
    """Test that `up` restarts an InfluxDB killed with SIGKILL, and that readings sent while it
    was gone are stored once it is back."""
    config = str(tmp_path / "var" / "influxdb")
    found = subprocess.run(["pgrep", "-f", config], capture_output=True, text=True, check=True)
    [pid] = [int(p) for p in found.stdout.split()]
    os.kill(pid, signal.SIGKILL)
    for seq in range(1, 6):
        subprocess.run(["mosquitto_pub", "-p", str(stack.mqtt_port), "-q", "1", "-t",
                        "makerspace/aktobe/solder-1/telemetry", "-m",
                        json.dumps({"v": 1, "ts": time.time(), "seq": seq, "power_w": 40.0})],
                       check=True)  # fmt: skip

    def all_stored() -> bool:
        try:
            return len(influx_cli(stack, "SELECT seq FROM telemetry")) == 5
        except subprocess.CalledProcessError:
            return False  # InfluxDB not back yet

    wait_for(all_stored, "InfluxDB restarted and the five readings stored")
    # Logged once the restart returns, which can be a moment after InfluxDB answers.
    wait_for(lambda: "influxdb restarted" in stack.text(), "the restart logged")
    again = subprocess.run(["pgrep", "-f", config], capture_output=True, text=True, check=True)
    assert [int(p) for p in again.stdout.split()] != [pid]


def listening_on_every_interface(port: int) -> bool:
    """Is something listening on 0.0.0.0:port? (/proc/net/tcp: state 0A is LISTEN)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(
        f"00000000:{port:04X}" == line.split()[1] and line.split()[3] == "0A" for line in lines
    )


def test_up_lan_runs_the_provisioned_broker_for_real_boards(tmp_path: Path) -> None:
    """Test that `up --lan` listens on every interface, refuses anonymous clients, admits a
    board with its provisioned password, stores its reading, and runs no simulation."""
    mqtt_port, http_port, influx_port = free_port(), free_port(), free_port()
    output = tmp_path / "up.out"
    process = spawn(
        output, "up", "--lan", "--config", str(EXAMPLE), "--data", str(tmp_path / "var"),
        "--mqtt", f"0.0.0.0:{mqtt_port}", "--http", f"0.0.0.0:{http_port}",
        "--influx", f"http://127.0.0.1:{influx_port}",
    )  # fmt: skip
    stack = Stack(process, output, mqtt_port, influx_port)
    try:
        wait_for(lambda: "subscribed to" in stack.text() or process.poll() is not None, "up --lan")
        assert process.poll() is None, stack.text()
        assert listening_on_every_interface(mqtt_port)
        assert listening_on_every_interface(http_port)
        assert not listening_on_every_interface(influx_port), "InfluxDB stays on this machine"
        anonymous = subprocess.run(
            ["mosquitto_pub", "-p", str(mqtt_port), "-q", "1", "-t", "makerspace/aktobe/solder-1/telemetry", "-m", "{}"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        assert anonymous.returncode != 0
        assert "not authori" in anonymous.stderr.lower()
        credentials = json.loads(
            (tmp_path / "var/broker/credentials/aktobe.solder-1.json").read_text()
        )
        reading = json.dumps({"v": 1, "ts": time.time(), "seq": 1, "power_w": 41.5})
        subprocess.run(
            ["mosquitto_pub", "-p", str(mqtt_port), "-q", "1", "-u", credentials["mqtt_user"],
             "-P", credentials["mqtt_password"], "-i", credentials["mqtt_user"],
             "-t", "makerspace/aktobe/solder-1/telemetry", "-m", reading],
            check=True, timeout=10,
        )  # fmt: skip
        wait_for(
            lambda: len(influx_cli(stack, "SELECT power_w FROM telemetry")) == 1,
            "the reading stored",
        )
        assert "simulat" not in stack.text().lower()
        assert "anonymous clients are refused" in stack.text()
        _answers_https_only(tmp_path / "var/broker/tls/ca.crt", http_port)
        assert f"Floor board  https://127.0.0.1:{http_port}/" in stack.text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT_TIMEOUT_S)


def _answers_https_only(ca: Path, port: int) -> None:
    """The API answers HTTPS with a certificate the site's CA signed, for 127.0.0.1 and this
    machine's own address; plain HTTP gets no answer; a client without the CA refuses it."""
    site = ssl.create_default_context(cafile=str(ca))
    addresses = ["127.0.0.1"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # sends nothing: this machine's outgoing address
        addresses.append(probe.getsockname()[0])
    for address in addresses:
        answer = httpx.get(f"https://{address}:{port}/machines", verify=site, timeout=10)
        assert answer.status_code == 200, (address, answer.text)
        assert answer.json()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/machines", timeout=10)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://127.0.0.1:{port}/machines", timeout=10)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_signal_at_any_moment_of_start_up_leaves_nothing_running(
    tmp_path: Path, seed: int
) -> None:
    """Test SIGINT, SIGTERM and SIGHUP sent at random moments of start-up and after it
    (a bounded loop): `up` exits each time, no Mosquitto or InfluxDB is left, the ports
    are free, and the next start works."""
    rng = random.Random(seed)
    for round_ in range(4):
        mqtt_port, influx_port = free_port(), free_port()
        data = tmp_path / f"run-{round_}"
        output = tmp_path / f"up-{round_}.out"
        process = spawn(output, "up", "--no-sim", "--config", str(EXAMPLE), "--data", str(data),
                        "--mqtt", f"127.0.0.1:{mqtt_port}", "--influx", f"http://127.0.0.1:{influx_port}",
                        "--http", f"127.0.0.1:{free_port()}")  # fmt: skip
        # The moment is what is tested: anywhere from the daemons starting to running.
        time.sleep(rng.uniform(0.0, 2.5))
        process.send_signal(rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
        process.wait(WAIT_TIMEOUT_S)
        left = subprocess.run(["pgrep", "-a", "-f", str(data)], capture_output=True, text=True)
        assert left.stdout.strip() == "", left.stdout + output.read_text(errors="replace")
        ports = (mqtt_port, influx_port)
        wait_for(lambda ports=ports: all(port_is_free(p) for p in ports), "the ports freed")
        assert "Traceback" not in output.read_text(errors="replace")
        assert "RuntimeWarning" not in output.read_text(errors="replace")
        assert not (data / "makerwatch-up.json").exists(), "the run file goes with up"


def makerwatch_beside(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`makerwatch ARGS` run as the README says, in the folder `up` was started from
    (its data folder `var` there), with no site file or address given."""
    env = {k: v for k, v in os.environ.items() if k != "MAKERWATCH_CONFIG"}
    return subprocess.run([sys.executable, "-m", "makerwatch.cli", *args], cwd=stack.output.parent,
                          env=env, capture_output=True, text=True, timeout=WAIT_TIMEOUT_S)  # fmt: skip


def test_commands_find_the_running_up_and_its_site_file(stack: Stack) -> None:
    """Test that `up` writes a run file with its addresses and pid (removed when it stops),
    that `status` and `report` run beside it use its HTTP API, InfluxDB and site file and
    say so, and that `status` shows the machines' names."""
    data = stack.output.parent / "var"
    run_file = json.loads((data / "makerwatch-up.json").read_text())
    assert run_file["pid"] == stack.process.pid
    assert run_file["influx"] == f"http://127.0.0.1:{stack.influx_port}"
    assert run_file["mqtt"] == f"127.0.0.1:{stack.mqtt_port}"
    assert run_file["config"] == str(EXAMPLE.resolve())
    assert run_file["board_url"] == f"http://{run_file['http']}", "staff invite links' address"
    used = (
        f"makerwatch: using the running makerwatch up in {data.resolve()} (pid {stack.process.pid})"
    )

    status = makerwatch_beside(stack, "status")
    assert status.stderr.splitlines() == [used]
    site = load_site_config(EXAMPLE)
    language = site.alerts.language  # status speaks the site's language
    healthy = STATUS_TEXTS["site"][language].format(
        base=f"http://{run_file['http']}", state=STATUS_TEXTS["healthy"][language]
    )
    assert healthy in status.stdout
    for device in site.devices:
        name = device.name_in(site.alerts.language)
        assert re.search(rf"^  {device.id} +{re.escape(name)} ", status.stdout, re.M), status.stdout
    assert status.returncode == 0, status.stdout

    staff = makerwatch_beside(stack, "staff", "list")  # the example has no staff yet
    assert staff.stdout == "no staff in the site file: nobody can sign in\n", staff.stderr

    month = time.strftime("%Y-%m")
    out = stack.output.parent / "report.json"
    report = makerwatch_beside(stack, "report", "--month", month, "--out", str(out))
    assert report.returncode == 0, report.stderr
    assert used in report.stderr.splitlines()
    assert report.stdout.startswith(f"wrote {out} ")
    assert json.loads(out.read_text())["sites"][0]["site"] == "aktobe"

    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(WAIT_TIMEOUT_S) == 0, stack.text()
    assert not (data / "makerwatch-up.json").exists(), "removed when up stops"
    gone = makerwatch_beside(stack, "report", "--month", month, "--out", str(out))
    assert gone.returncode == 1
    assert "no site file: give --config FILE or set MAKERWATCH_CONFIG" in gone.stderr


def test_status_ends_quietly_on_a_closed_pipe(stack: Stack) -> None:
    """Test that `makerwatch status | head` whose reader has gone prints no "Broken pipe"
    and no traceback."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader has already gone, as `head` after its lines
    env = {k: v for k, v in os.environ.items() if k != "MAKERWATCH_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "makerwatch.cli", "status"], cwd=stack.output.parent,
                            env=env, stdout=writer, stderr=subprocess.PIPE, text=True,
                            timeout=WAIT_TIMEOUT_S)  # fmt: skip
    os.close(writer)
    assert result.stderr.startswith("makerwatch: using the running makerwatch up"), result.stderr
    assert "Broken pipe" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode == 0
