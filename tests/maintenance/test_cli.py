"""`makerwatch maintenance`: what staff get wrong is one line naming it, exit 1; nothing
is recorded then."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from makerwatch.cli import main
from makerwatch.maintenance.store import MaintenanceStore
from makerwatch.ops.embedded import free_port
from tests.core.test_site_config import EXAMPLE

TIP = {"id": "tip", "name": "Tip", "devices": ["solder-1"], "every_days": 90}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["done", "laser-9", "tip"], "no device 'laser-9' in the site file"),
        (["done", "solder-1", "lens"], "device 'solder-1' has no maintenance task 'lens' (its tasks: tip)"),
        (["done", "solder-2", "tip"], "device 'solder-2' has no maintenance task 'tip' (its tasks: none)"),
        (["done", "solder-1", "tip", "--at", "1 Dec 14:05"],
         "--at '1 Dec 14:05': expected 'YYYY-MM-DD HH:MM' (site time)"),
        (["done", "solder-1", "tip", "--at", "2199-01-01 00:00"], "--at '2199-01-01 00:00' is in the future"),
        (["list", "--device", "laser-9"], "no device 'laser-9' in the site file"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    """Test each mistake refused in one line that names the device, task or time."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["maintenance"] = [TIP]
    data["influxdb"]["url"] = f"http://127.0.0.1:{free_port()}"  # nobody there
    data["ingest"]["maintenance_dir"] = str(tmp_path / "maintenance")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    command, *rest = args
    code = main(["maintenance", command, "--config", str(site), "--data", str(tmp_path), *rest])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"makerwatch: {says}\n"
    assert MaintenanceStore(tmp_path / "maintenance").history() == []


def test_list_without_influxdb_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test `maintenance list` with InfluxDB away: one line naming where it looked."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["maintenance"] = [TIP]
    data["ingest"]["maintenance_dir"] = str(tmp_path / "maintenance")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        ["maintenance", "list", "--config", str(site), "--data", str(tmp_path), "--influx", url]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"makerwatch: {url}/query: "), err
    assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--format", "csv"], "--staff adds the staff appendix to one site's HTML or PDF report"),
        (["--send"], "--staff is never sent to sponsors: leave out --send"),
    ],
)
def test_the_staff_appendix_goes_only_into_a_document_for_staff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    """Test `report --staff` refused for a data format and for the sponsors' delivery."""
    code = main(["report", "--month", "2026-11", "--staff", "--config", str(EXAMPLE),
                 "--data", str(tmp_path), *args])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err == f"makerwatch: {says}\n"
