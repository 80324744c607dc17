"""docker-compose.yml and its component folders (broker/, ingest/, agents/, dashboards/),
checked statically, and the commands of its services run here for real (no Docker engine
runs here)."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

from makerwatch.cli import build_parser
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.embedded import free_port
from tests.support import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
COMPONENTS = ("broker", "ingest", "agents", "dashboards", "firmware")
DEFAULT_PATH = re.compile(r"\$\{\w+:-([^}]+)\}")  # ${VARIABLE:-./default}


def _build(service: str) -> dict[str, Any]:
    build: dict[str, Any] = SERVICES[service]["build"]
    return build


def _dockerfile(service: str) -> Path:
    build = _build(service)
    return ROOT / build["context"] / build["dockerfile"]


def _instructions(dockerfile: Path, name: str) -> list[list[str]]:
    """The arguments of each `name` instruction (FROM, COPY, ENTRYPOINT, ...)."""
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    return [line.split()[1:] for line in lines if line.split()[:1] == [name]]


def _dockerignored(path: str) -> bool:
    """Docker's rule for .dockerignore: the last pattern that matches the path or one of
    its parent folders decides; `!` lets a path back in."""
    ignored = False
    parts = path.split("/")
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        regex = re.escape(pattern.lstrip("!")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not keep
    return ignored


def test_images_are_pinned() -> None:
    """Test that every image names a version, so a rebuild gets the same software."""
    for name, service in SERVICES.items():
        if "image" in service:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: {image} is not pinned"


def test_bind_mounts_exist_in_the_repository() -> None:
    """Test that every ./path mounted into a container, a variable's default included, is
    a file or folder of the project."""
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            default = DEFAULT_PATH.match(volume)
            source = default[1] if default else volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_every_build_comes_from_a_component_folder() -> None:
    """Test that each built image's Dockerfile is in a component folder and exists, that
    the build context is the repository's root (the package the image installs is
    there), and that a build from another service's image names a service that is built."""
    built = {name for name, service in SERVICES.items() if "build" in service}
    assert built == {"broker-setup", "ingest", "agents"}
    for name in built:
        build = _build(name)
        assert build["context"] == ".", name
        assert build["dockerfile"].split("/")[0] in COMPONENTS, name
        assert _dockerfile(name).is_file(), f"{name}: no {build['dockerfile']}"
        for context, source in build.get("additional_contexts", {}).items():
            service = source.removeprefix("service:")
            assert service in built, f"{name}: {source} is not a built service"
            assert [context] in _instructions(_dockerfile(name), "FROM"), name
    assert _build("broker-setup") == _build("ingest"), "one image for the makerwatch command"


def test_dockerignore_lets_in_what_the_images_copy_and_nothing_secret() -> None:
    """Test that every path a Dockerfile copies exists and reaches the builder, and that
    the site file, board secrets and credentials, the virtualenv and npm's folder do not."""
    for name in ("ingest", "agents"):
        for copy in _instructions(_dockerfile(name), "COPY"):
            for source in copy[:-1]:
                assert (ROOT / source).exists(), f"{name}: copies missing {source}"
                assert not _dockerignored(source), f"{name}: {source} is in .dockerignore"
    for kept in ("makerwatch/cli.py", "firmware/core/agent.py", "pyproject.toml"):
        assert not _dockerignored(kept), kept
    for secret in ("config/makerspace.yaml", "board-secrets.yaml", "credentials/ingest.json",
                   ".venv/bin/python", "node_modules/x/index.js", "var/broker/passwd",
                   ".git/config", "tests/conftest.py", "makerwatch/__pycache__/cli.cpython-311.pyc"):  # fmt: skip
        assert _dockerignored(secret), f"{secret} would reach the builder"


def test_component_folders_hold_no_python() -> None:
    """Test that broker/, ingest/ and agents/ hold deployment files only: the code is
    under makerwatch/, so nothing there can be imported as `ingest` or collected by
    pytest, whose test paths stay tests/."""
    for component in ("broker", "ingest", "agents"):
        folder = ROOT / component
        assert (folder / "README.md").is_file(), f"{component}/ has no README"
        assert not list(folder.rglob("*.py")), f"{component}/ holds Python"
    assert not list((ROOT / "dashboards").rglob("*.py"))
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'testpaths = ["tests"]' in pyproject


def test_ingest_command_is_a_valid_makerwatch_command() -> None:
    """Test that the ingest service's command parses with the real CLI and uses service names."""
    args = build_parser().parse_args(SERVICES["ingest"]["command"])
    assert args.command == "ingest"
    assert args.log_format == "json"
    assert args.mqtt == "mosquitto:1883"
    assert args.influx == "http://influxdb:8086"
    assert args.http == "0.0.0.0:8090"
    assert "8090:8090" in SERVICES["ingest"]["ports"]
    assert set(SERVICES["ingest"]["depends_on"]) == {"mosquitto", "influxdb"}


def test_dockerfile_installs_every_package() -> None:
    """Test that the image copies each Python package the project declares."""
    dockerfile = _dockerfile("ingest").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"packages = \[(.*?)\]", pyproject)
    assert packages is not None
    for package in re.findall(r'"(\w+)"', packages.group(1)):
        assert f"COPY {package} ./{package}" in dockerfile


def test_grafana_datasource_points_at_the_compose_influxdb() -> None:
    """Test that Grafana's provisioned data source matches the influxdb service and database."""
    provisioning = ROOT / "dashboards/provisioning/datasources/makerwatch.yaml"
    [source] = yaml.safe_load(provisioning.read_text(encoding="utf-8"))["datasources"]
    database = load_site_config(ROOT / "makerspace.example.yaml").influxdb.database
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == database == source["database"]
    assert SERVICES["influxdb"]["environment"]["INFLUXDB_DB"] == database


def _command(service: str) -> list[str]:
    return [str(part) for part in SERVICES[service]["command"]]


def _mounts(service: str) -> dict[str, str]:
    """Volume or ./path (a variable's default) -> where the service sees it."""
    mounts = {}
    for volume in SERVICES[service]["volumes"]:
        match = re.fullmatch(r"(\$\{\w+:-([^}]+)\}|[^:$]+):([^:]+)(:ro)?", volume)
        assert match, volume
        mounts[match[2] or match[1]] = match[3]
    return mounts


def test_the_broker_is_provisioned_before_anything_connects() -> None:
    """Test that broker-setup provisions from the site file into the broker's config
    volume, container-relative, owned by the image's user, and that the broker and
    ingest wait for it and read what it wrote."""
    args = build_parser().parse_args(_command("broker-setup"))
    assert args.command == "broker"
    assert args.broker_command == "provision"
    setup, broker, ingest = _mounts("broker-setup"), _mounts("mosquitto"), _mounts("ingest")
    assert setup["broker-config"] == str(args.out)
    assert broker["broker-config"] == str(args.root) == "/mosquitto/config"
    assert broker["mosquitto-data"] == str(args.data_dir)
    assert args.owner == (1883, 1883), "the eclipse-mosquitto image's user"
    assert (
        SERVICES["mosquitto"]["depends_on"]["broker-setup"]["condition"]
        == "service_completed_successfully"
    )
    ingest_args = build_parser().parse_args(SERVICES["ingest"]["command"])
    assert str(ingest_args.mqtt_credentials).startswith(ingest["broker-config"] + "/credentials/")
    assert SERVICES["ingest"]["volumes"][1].endswith(":ro")
    assert setup["./config"] == ingest["./config"] == "/config", "a folder, not a file"
    assert str(args.config).startswith("/config/")
    assert args.ingest_owner == 65534, "ingest's image runs as nobody"
    assert SERVICES["ingest"]["group_add"] == ["${MAKERWATCH_GID:-1000}"], (
        "reads the 0640 site file"
    )
    assert SERVICES["ingest"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"


@contextmanager
def _compose_broker() -> Iterator[tuple[Path, int]]:
    """broker-setup's own command and the broker it provisions, with their container
    folders mapped into a temporary root (the broker-config volume is root/volume), run
    until the Compose health check command passes; yields the root and the port."""
    mosquitto_user = pwd.getpwnam("mosquitto")
    root = Path(tempfile.mkdtemp(prefix="compose-root-"))  # /tmp: the broker's user can enter
    try:
        root.chmod(0o755)
        port = free_port()
        command = [*_command("broker-setup"), "--port", str(port)]
        mapping = {"/broker": str(root / "volume"), "/mosquitto/config": str(root / "volume"),
                   "/mosquitto/data": str(root / "data"), "/config/makerspace.yaml": str(ROOT / "makerspace.example.yaml"),
                   "1883:1883": f"{mosquitto_user.pw_uid}:{mosquitto_user.pw_gid}", "65534": str(os.getuid())}  # fmt: skip
        command = [mapping.get(part, part) for part in command]
        (root / "data").mkdir()
        os.chown(
            root / "data", mosquitto_user.pw_uid, mosquitto_user.pw_gid
        )  # the image's entrypoint does this
        result = subprocess.run([sys.executable, "-m", "makerwatch.cli", *command],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        log = root / "mosquitto.log"
        with log.open("w") as output:
            broker = subprocess.Popen(
                ["mosquitto", "-c", str(root / "volume" / "mosquitto.conf")],
                stdout=output,
                stderr=output,
            )
        try:
            healthcheck = SERVICES["mosquitto"]["healthcheck"]["test"][1]
            healthcheck = healthcheck.replace("$$", "$").replace(
                "/mosquitto/config", str(root / "volume")
            )
            healthcheck = healthcheck.replace("-h localhost", f"-h 127.0.0.1 -p {port}")
            deadline = time.monotonic() + 15
            while (
                subprocess.run(
                    ["sh", "-c", healthcheck], capture_output=True, timeout=10
                ).returncode
                != 0
            ):
                assert broker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the health check never passed"
                time.sleep(0.1)  # the broker starting: poll the health check as Docker does
            yield root, port
        finally:
            broker.terminate()
            broker.wait(10)
    finally:
        shutil.rmtree(root)


def _user(root: Path, name: str) -> tuple[str, str]:
    secret = json.loads((root / "volume" / "credentials" / f"{name}.json").read_text())
    return secret["mqtt_user"], secret["mqtt_password"]


def test_the_provisioned_broker_runs_as_the_image_would_run_it() -> None:
    """Test broker-setup's own command, with its container folders mapped into a temporary
    root: the real Mosquitto, started as root, drops to its own user and still reads the
    password file and ACL, refuses anonymous clients, lets ingest in with its credentials,
    and the Compose health check command succeeds with the health check's."""
    mosquitto_user = pwd.getpwnam("mosquitto")
    with _compose_broker() as (root, port):
        conf = root / "volume" / "mosquitto.conf"
        assert not re.search(r"^user ", conf.read_text(), re.M), (
            "the broker drops to its default user, as in the image"
        )
        anonymous = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "#", "-C", "1", "-W", "2"],
                                   capture_output=True, text=True, timeout=10)  # fmt: skip
        assert anonymous.returncode != 0
        assert "not authori" in anonymous.stderr.lower()
        user, password = _user(root, "ingest")
        uptime = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", user,
                                 "-P", password, "-i", "ingest", "-t", "makerspace/#", "-W", "1"],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
        assert "not authori" not in uptime.stderr.lower(), uptime.stderr
        for name in ("passwd", "acl", "mosquitto.conf"):
            stat = (root / "volume" / name).stat()
            assert (stat.st_uid, stat.st_mode & 0o777) == (
                mosquitto_user.pw_uid,
                0o600 if name != "mosquitto.conf" else stat.st_mode & 0o777,
            )


def test_the_demo_agents_are_off_unless_asked_for() -> None:
    """Test that the simulated boards run only with the demo profile, from agents/, after
    the broker is healthy, with the site file and the boards' credentials read-only."""
    agents = SERVICES["agents"]
    assert agents["profiles"] == ["demo"]
    assert all("profiles" not in SERVICES[name] for name in SERVICES if name != "agents")
    assert agents["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    mounts = _mounts("agents")
    assert mounts["./config"] == "/config"
    assert mounts["broker-config"] == "/broker"
    assert all(volume.endswith(":ro") for volume in agents["volumes"])
    site_file, credentials, broker = agents["command"]
    assert site_file == str(build_parser().parse_args(_command("broker-setup")).config)
    assert credentials == "/broker/credentials"
    assert broker == build_parser().parse_args(SERVICES["ingest"]["command"]).mqtt


def _agents_entry_point() -> Path:
    """agents/Dockerfile copies agents/run.sh to where its ENTRYPOINT runs it from."""
    [[source, target]] = _instructions(_dockerfile("agents"), "COPY")
    [[entry_point]] = _instructions(_dockerfile("agents"), "ENTRYPOINT")
    assert Path(target).name == json.loads(entry_point)[0]
    return ROOT / source


def _agents(root: Path, port: int, local_port: int, log: Path) -> subprocess.Popen[bytes]:
    """The agents service's command, with its container paths mapped as broker-setup's."""
    mapping = {"/config/makerspace.yaml": str(ROOT / "makerspace.example.yaml"),
               "/broker/credentials": str(root / "volume" / "credentials"),
               "mosquitto:1883": f"127.0.0.1:{port}"}  # fmt: skip
    command = [mapping[part] for part in _command("agents")]
    env = {**os.environ, "AGENTS_LOCAL_PORT": str(local_port), "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    with log.open("w") as output:
        return subprocess.Popen([str(_agents_entry_point()), *command], env=env,
                                stdout=output, stderr=output, start_new_session=True)  # fmt: skip


def test_the_demo_agents_publish_as_their_boards_and_stop_cleanly(tmp_path: Path) -> None:
    """Test the agents service's entry point and command against the provisioned broker:
    a simulated board's reading reaches the closed broker (which lets only that board's
    own user write its topics), marked as simulated; on SIGTERM, as Compose stops a
    container, the simulation ends cleanly and its local broker with it."""
    with _compose_broker() as (root, port):
        local_port = free_port()
        log = tmp_path / "agents.log"
        agents = _agents(root, port, local_port, log)
        try:
            user, password = _user(root, "floor")
            reading = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password,
                                      "-t", "makerspace/aktobe/+/telemetry", "-C", "1", "-W", "90", "-v"],
                                     capture_output=True, text=True, timeout=100)  # fmt: skip
            assert reading.returncode == 0, reading.stderr + log.read_text()
            topic, payload = reading.stdout.split(" ", 1)
            device = topic.split("/")[2]
            site = load_site_config(ROOT / "makerspace.example.yaml")
            assert device in {d.id for d in site.devices}
            assert json.loads(payload)["sim"] is True, "stored apart, out of the figures"
            assert agents.poll() is None, log.read_text()
        finally:
            agents.send_signal(signal.SIGTERM)  # to the entry point alone, as Docker does
            returncode = agents.wait(60)
        assert returncode == 0, log.read_text()
        assert "scenario 'demo'" in log.read_text(), "the simulation wrote its summary"
        deadline = time.monotonic() + 15
        try:
            while True:  # the local broker, in the entry point's process group, stops too
                try:
                    os.killpg(agents.pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < deadline, "the local broker outlived the entry point"
                time.sleep(0.1)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(agents.pid, signal.SIGKILL)  # nothing left behind if it failed


def test_the_demo_agents_without_board_credentials_fail_in_one_line(tmp_path: Path) -> None:
    """Test that the entry point, given a credentials folder without boards, says so in
    one line and stops."""
    result = subprocess.run([str(_agents_entry_point()), str(ROOT / "makerspace.example.yaml"),
                             str(tmp_path), "127.0.0.1:1"], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"{tmp_path}: no board credentials" in result.stderr


@pytest.mark.parametrize(
    "volume", ["mosquitto-data", "influxdb-data", "grafana-data", "broker-config"]
)
def test_data_lives_in_named_volumes(volume: str) -> None:
    """Test that broker, database and Grafana state survive `docker compose down`."""
    assert volume in COMPOSE["volumes"]


def test_the_image_installs_every_package_of_the_tree() -> None:
    """Test that pyproject.toml lists every package under makerwatch/ and firmware/, so the
    images (which install the tree, not an editable copy) hold each one."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    # Every folder of Python modules, with an __init__.py or without (a namespace package
    # an explicit list would leave out just the same).
    found = {
        ".".join(module.relative_to(ROOT).parent.parts)
        for top in ("makerwatch", "firmware")
        for module in (ROOT / top).rglob("*.py")
        if "__pycache__" not in module.parts
    }
    assert found - listed == set(), "packages pyproject.toml leaves out of the image"
