"""A board's reconnect over plain MQTT and over TLS, with the firmware's own client.

    .venv/bin/python bench/board_tls.py [--rounds 30]

What a board does on every (re)connect: TCP connect, for TLS the handshake with the
site's CA (RSA 2048, made by `make_certificates`), CONNECT with its own login, the two
subscriptions and its birth, answered by a real Mosquitto with the configuration
`broker provision --tls-port` writes. CPython's ssl on this machine: an ESP32's mbedtls
is much slower at the handshake (docs/firmware.md, "TLS to the broker").
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware.core.mqtt import MQTTClient, tls_socket
from makerwatch.core.site_config import load_site_config
from makerwatch.ops.certificates import make_certificates
from makerwatch.ops.embedded import ProvisionedMosquitto, free_port
from makerwatch.ops.provision import board_user, provision

EXAMPLE = Path(__file__).resolve().parent.parent / "makerspace.example.yaml"


def reconnect_ms(port: int, user: str, password: str, ca_pem: str | None) -> float:
    started = time.perf_counter()
    sock: object = socket.create_connection(("127.0.0.1", port), timeout=5)
    if ca_pem is not None:
        sock = tls_socket(sock, "127.0.0.1", ca_pem)
    client = MQTTClient(sock, user, 30, 5.0)
    client.connect(clean=False, user=user, password=password)
    device = user.split(".", 1)[1]
    site = user.split(".", 1)[0]
    client.subscribe(f"makerspace/{site}/{device}/cmd/#", 1)
    client.subscribe(f"makerspace/{site}/{device}/config", 1)
    client.publish(f"makerspace/{site}/{device}/status", '{"v":1,"online":true}', 1, True)
    elapsed = (time.perf_counter() - started) * 1000
    client.disconnect()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    config = load_site_config(EXAMPLE)
    device = config.devices[0].id
    with tempfile.TemporaryDirectory() as tmp:
        port, tls_port = free_port(), free_port()
        files = provision(config, Path(tmp) / "broker", port, tls_port)
        ca = make_certificates(files.directory / "tls", ["127.0.0.1"])
        user = board_user(config.site.id, device)
        login = json.loads((files.credentials / f"{user}.json").read_text())
        with ProvisionedMosquitto(port, Path(tmp) / "mosquitto", files.conf):
            time.sleep(0.5)  # the TLS listener opens just after the plain one
            for name, target, pem in (("plain", port, None), ("tls", tls_port, ca.read_text())):
                times = [reconnect_ms(target, user, login["mqtt_password"], pem)
                         for _ in range(args.rounds)]  # fmt: skip
                print(f"{name:5} median {statistics.median(times):6.1f} ms  "
                      f"max {max(times):6.1f} ms  ({args.rounds} reconnects)")  # fmt: skip


if __name__ == "__main__":
    main()
