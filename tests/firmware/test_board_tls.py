"""The board's TLS: the firmware's own loop (on CPython's ssl, see docs/firmware.md) against
the TLS listener `broker provision` writes, with certificates made by `make_certificates`,
the real Mosquitto, ingest and InfluxDB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from makerwatch.core.site_config import SiteConfig
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.certificates import make_certificates
from makerwatch.ops.embedded import EmbeddedInfluxDB, ProvisionedMosquitto, free_port
from makerwatch.ops.provision import board_user, provision
from tests.firmware.board import board_settings, running_board
from tests.support import make_config, start_ingest, stored, wait_until


class TlsSite:
    def __init__(self, config: SiteConfig, credentials: Path, ca: Path, tls_port: int) -> None:
        self.config, self.credentials, self.ca, self.tls_port = config, credentials, ca, tls_port

    def board(self, ca: Path, **overrides: object) -> dict[str, object]:
        """A board's settings as `firmware deploy` writes them: its own login, TLS with `ca`."""
        login = json.loads(
            (self.credentials / f"{board_user(self.config.site.id, 'solder-1')}.json").read_text()
        )
        return board_settings(
            self.config.site.id, self.tls_port, mqtt_user=login["mqtt_user"],
            mqtt_password=login["mqtt_password"], mqtt_ca_file=str(ca), **overrides,
        )  # fmt: skip


@pytest.fixture
async def tls_site(tmp_path: Path, influxdb: EmbeddedInfluxDB) -> AsyncIterator[TlsSite]:
    """A site broker provisioned with its TLS listener, and ingest on it with its own login."""
    port, tls_port = free_port(), free_port()
    config = make_config(port, influxdb.url)
    files = provision(config, tmp_path / "broker", port, tls_port)
    ca = make_certificates(files.directory / "tls", ["localhost", "127.0.0.1"])
    login = json.loads((files.credentials / "ingest.json").read_text())
    mqtt = config.mqtt.model_copy(
        update={"username": login["mqtt_user"], "password": login["mqtt_password"]}
    )
    config = config.model_copy(update={"mqtt": mqtt})
    with ProvisionedMosquitto(port, tmp_path / "mosquitto", files.conf):
        ingest = await start_ingest(config)
        try:
            yield TlsSite(config, files.credentials, ca, tls_port)
        finally:
            await ingest.shutdown()


async def _stored(influx: InfluxClient, at_least: int) -> bool:
    rows = await stored(influx, "SELECT count(seq) FROM telemetry")
    return bool(rows) and rows[0]["count"] >= at_least


async def test_a_board_connects_over_tls_with_the_sites_ca_and_its_readings_are_stored(
    tmp_path: Path, tls_site: TlsSite, capfd: pytest.CaptureFixture[str]
) -> None:
    """Test that the board's loop with the site's CA logs in on the TLS listener with its own
    password and its readings reach InfluxDB."""
    with running_board(tls_site.board(tls_site.ca), tmp_path) as run:
        run.signals.current_a = 0.2
        async with InfluxClient(tls_site.config.influxdb) as influx:
            await wait_until(lambda: _stored(influx, 3), "readings stored over TLS")
    assert f"connected to 127.0.0.1:{tls_site.tls_port} (TLS)" in capfd.readouterr().out


async def test_a_board_with_another_ca_refuses_the_broker(
    tmp_path: Path, tls_site: TlsSite, capfd: pytest.CaptureFixture[str]
) -> None:
    """Test that a board given a CA that did not sign the broker's certificate never sends
    its login: the handshake fails, it retries with backoff, and nothing is stored."""
    other_ca = make_certificates(tmp_path / "other", ["127.0.0.1"])
    with running_board(tls_site.board(other_ca), tmp_path) as run:
        run.signals.current_a = 0.2
        await wait_until(lambda: run.board.backoff.attempt >= 2, "two refused attempts")
        await wait_until(lambda: len(run.board.agent.readings) >= 2, "readings buffered")
        assert run.board.client is None
    out = capfd.readouterr().out
    assert "CERTIFICATE_VERIFY_FAILED" in out, out[-2000:]
    assert "(TLS)" not in out, "never connected"
    async with InfluxClient(tls_site.config.influxdb) as influx:
        assert not await _stored(influx, 1)


async def test_a_board_refuses_a_certificate_for_another_name(
    tmp_path: Path, tls_site: TlsSite, capfd: pytest.CaptureFixture[str]
) -> None:
    """Test that the site's CA is not enough: the broker's certificate must name the host
    the board was told to connect to."""
    with running_board(tls_site.board(tls_site.ca, mqtt_host="127.0.0.2"), tmp_path) as run:
        await wait_until(lambda: run.board.backoff.attempt >= 2, "two refused attempts")
        assert run.board.client is None
    assert "CERTIFICATE_VERIFY_FAILED" in capfd.readouterr().out


async def test_a_board_whose_ca_file_is_missing_says_so(
    tmp_path: Path, tls_site: TlsSite, capfd: pytest.CaptureFixture[str]
) -> None:
    """Test that a board told to use a CA file it does not hold names the file each time it
    tries, and never falls back to sending its login in clear."""
    with running_board(tls_site.board(tmp_path / "ca.crt"), tmp_path) as run:
        await wait_until(lambda: run.board.backoff.attempt >= 2, "two attempts")
        assert run.board.client is None
    out = capfd.readouterr().out
    assert (
        f"could not connect to 127.0.0.1:{tls_site.tls_port} (cannot read {tmp_path / 'ca.crt'}: "
        in out
    )
