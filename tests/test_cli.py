"""The command line as a person meets it: every known failure is one line, never a traceback."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from makerwatch.ops.embedded import free_port
from tests.support import ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"


def makerwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["simulate", "scenario", "demo", "--config", str(EXAMPLE), "--mqtt", "127.0.0.1:{port}"],
         "cannot reach the MQTT broker at 127.0.0.1:{port}"),
        (["simulate", "backfill", "30d", "--config", "/no/such/site.yaml"],
         "/no/such/site.yaml: no site file there; write one with `makerwatch config init"),
        (["ingest"], "no site file: give --config FILE or set MAKERWATCH_CONFIG"),
        (["simulate", "backfill", "3x", "--config", str(EXAMPLE)], "duration '3x'"),
        (["ingest", "--config", str(EXAMPLE), "--mqtt", "nohost"], "--mqtt 'nohost': expected HOST:PORT"),
        (["up", "--config", str(EXAMPLE), "--mqtt", "0.0.0.0:1883"], "listens on 127.0.0.1 only"),
        (["firmware", "deploy", "--port", "/dev/null", "--device", "nope", "--config", str(EXAMPLE)],
         "board-secrets.yaml: no secrets file; copy board-secrets.example.yaml"),
        (["ingest", "--config", str(EXAMPLE), "--sites", "aktobe"], "is a site file, not a network file"),
        (["broker", "provision", "--config", str(EXAMPLE), "--out", "/tmp/unused-{port}",
          "--bridge-to", "central:8883"], "--bridge-to needs --bridge-credentials"),
    ],
    ids=["unreachable-broker", "missing-file", "no-config", "bad-duration", "bad-endpoint",
         "up-off-loopback", "missing-secrets", "sites-of-a-site-file", "bridge-without-credentials"],
)  # fmt: skip
def test_a_known_failure_is_one_line_and_exits_non_zero(args: list[str], says: str) -> None:
    """Test that a failure prints one line naming what and where, exits 1 and shows no traceback."""
    port = str(free_port())  # nothing listens there
    result = makerwatch(*[a.replace("{port}", port) for a in args], env={"MAKERWATCH_CONFIG": ""})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says.replace("{port}", port) in lines[0]


def test_a_bad_flag_is_refused_with_the_usage(tmp_path: Path) -> None:
    """Test that an unknown flag gets argparse's usage and one error line, exit 2."""
    result = makerwatch("up", "--mqtt-port", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("unrecognized arguments: --mqtt-port 1")


def test_config_defaults_to_the_environment(tmp_path: Path) -> None:
    """Test that --config falls back to $MAKERWATCH_CONFIG, read relative to the current folder."""
    (tmp_path / "mysite.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "broker", "provision", "--out", "out"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "MAKERWATCH_CONFIG": "mysite.yaml", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "acl").exists()


def test_config_example_prints_the_documented_example() -> None:
    """Test that `config example` prints the example site file shipped in the package."""
    result = makerwatch("config", "example")
    assert result.returncode == 0
    assert result.stdout == EXAMPLE.read_text(encoding="utf-8")
    assert "makerwatch/core/makerspace.example.yaml" in str(EXAMPLE.resolve()).replace(os.sep, "/")


def test_ctrl_c_during_a_command_exits_quietly_with_130() -> None:
    """Test that SIGINT while a command waits (`status` on a server that never answers)
    ends it with exit code 130 and nothing on stderr."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "makerwatch.cli", "status", "--http", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        silent.settimeout(60)
        connection, _ = silent.accept()  # the command is now waiting for an answer
        with connection:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == ""


def test_only_the_signals_module_handles_signals() -> None:
    """Test that no module of the command line but cli/signals.py imports `signal`."""
    importers = []
    for path in sorted((ROOT / "makerwatch" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "signal":
                names = ["signal"]
            if "signal" in names:
                importers.append(path.name)
    assert importers == ["signals.py"]


def test_after_ingest_has_stopped_the_stop_signals_act_as_before() -> None:
    """Test that once the loop that ingest ran in has ended, Ctrl-C interrupts and
    SIGTERM and SIGHUP end the process again (uvloop's loop, unlike asyncio's, keeps
    them when it closes): `up` stopping its daemons still answers a second Ctrl-C."""
    probe = (
        "import signal\n"
        "from makerwatch.cli import signals\n"
        "async def run(stop): pass\n"
        "signals.run_until_signalled(run)\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,\n"
        "      [signal.getsignal(s) == signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGHUP)])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "[True,", "True]"]
