"""docker-compose.yml and its files, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import getpass
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from makerwatch.cli import build_parser
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.broker_tuning import tuning
from makerwatch.ops.embedded import EmbeddedMosquitto, free_port
from tests.support import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_images_are_pinned() -> None:
    """Test that every image names a version, so a rebuild gets the same software."""
    for name, service in SERVICES.items():
        if "image" in service:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: {image} is not pinned"


def test_bind_mounts_exist_in_the_repository() -> None:
    """Test that every ./path mounted into a container is a file or folder of the project."""
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


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
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
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


class _ComposeBrokerConfig(EmbeddedMosquitto):
    """broker/mosquitto.conf with only its port and data folder moved for this machine."""

    def config_text(self) -> str:
        text = (ROOT / "broker/mosquitto.conf").read_text(encoding="utf-8")
        text = text.replace("listener 1883", f"listener {self.port} 127.0.0.1")
        return text.replace("/mosquitto/data/", f"{self.data_dir}/") + f"user {getpass.getuser()}\n"


def test_compose_broker_config_runs_in_real_mosquitto(tmp_path: Path) -> None:
    """Test that the real Mosquitto accepts broker/mosquitto.conf and serves clients."""
    with _ComposeBrokerConfig(free_port(), tmp_path) as broker:
        assert broker.running
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
            pass
    assert "Error" not in broker.log_tail(), broker.log_tail()


@pytest.mark.parametrize("volume", ["mosquitto-data", "influxdb-data", "grafana-data"])
def test_data_lives_in_named_volumes(volume: str) -> None:
    """Test that broker, database and Grafana state survive `docker compose down`."""
    assert volume in COMPOSE["volumes"]


def test_compose_broker_config_has_the_shared_tuning() -> None:
    """Test that broker/mosquitto.conf carries every setting the generated configurations share."""
    compose = set((ROOT / "broker/mosquitto.conf").read_text(encoding="utf-8").splitlines())
    settings = [
        line for line in tuning(Path("/mosquitto/data")).splitlines() if not line.startswith("#")
    ]
    assert [line for line in settings if line not in compose] == []
