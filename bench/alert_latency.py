"""Alert latency: from the message that makes a rule true to the notification arriving.

    .venv/bin/python bench/alert_latency.py [--alerts 1000] [--devices 20]

Real Mosquitto and InfluxDB on temporary ports, the ingest service in this
process, apprise delivering to a local webhook (json://). Each alert is an
`offline_while_on`: a board's last will arrives while its machine is on; the
clock runs from publishing that message to the webhook receiving the
notification, then the board comes back (the alert resolves) before the next one.
Baseline, same run: a bare MQTT publish -> subscriber round trip on the same broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from pathlib import Path

import aiomqtt
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import percentile, temporary_stack

from makerwatch.app import IngestService
from makerwatch.core.site_config import SiteConfig
from makerwatch.ops.embedded import free_port


async def baseline(port: int, count: int) -> list[float]:
    got = asyncio.Queue[float]()
    async with aiomqtt.Client("127.0.0.1", port) as sub, aiomqtt.Client("127.0.0.1", port) as pub:
        await sub.subscribe("bench/rtt", qos=1)

        async def listen() -> None:
            async for _ in sub.messages:
                got.put_nowait(time.perf_counter())

        task = asyncio.create_task(listen())
        results = []
        for _ in range(count):
            start = time.perf_counter()
            await pub.publish("bench/rtt", b"x", qos=1)
            results.append(await got.get() - start)
        task.cancel()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=20)
    args = parser.parse_args()

    arrivals = asyncio.Queue[tuple[float, str]]()

    async def webhook(request: web.Request) -> web.Response:
        arrivals.put_nowait((time.perf_counter(), (await request.json())["message"]))
        return web.Response()

    app = web.Application()
    app.add_routes([web.post("/hook", webhook)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()

    with temporary_stack() as (mq, ix):
        devices = [
            {"id": f"m-{i:03d}", "name": f"Machine {i:03d}", "kind": "other"}
            for i in range(args.devices)
        ]
        config = SiteConfig.model_validate({
            "site": {"id": "bench", "name": "Bench"},
            "devices": devices,
            "mqtt": {"port": mq.port, "client_id": "bench-alerts"},
            "influxdb": {"url": ix.url, "database": "bench_alerts"},
            "ingest": {"http_port": None},
            "alerts": {"language": "en", "rules": [{"rule": "offline_while_on"}],
                       "channels": [{"name": "hook", "url": f"json://127.0.0.1:{hook_port}/hook"}]},
        })  # fmt: skip
        rtt = await baseline(mq.port, args.alerts)
        service = IngestService(config)
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await service.subscribed.wait()
        latencies = []
        # A board sends one small packet at a time; without TCP_NODELAY this client's
        # Nagle algorithm would hold each status message ~40 ms for the broker's ACK.
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        async with aiomqtt.Client("127.0.0.1", mq.port, socket_options=nodelay) as board:
            now = time.time()
            for d in devices:
                await board.publish(
                    f"makerspace/bench/{d['id']}/state",
                    json.dumps({"v": 1, "state": "active", "ts": now}),
                    qos=1,
                    retain=True,
                )
            for i in range(args.alerts):
                device = devices[i % len(devices)]
                status = f"makerspace/bench/{device['id']}/status"
                start = time.perf_counter()
                await board.publish(status, json.dumps({"v": 1, "online": False}), qos=1)
                arrived, text = await asyncio.wait_for(arrivals.get(), 30)
                if device["name"] not in text or "offline" not in text:
                    raise SystemExit(f"unexpected notification: {text}")
                latencies.append(arrived - start)
                await board.publish(status, json.dumps({"v": 1, "online": True}), qos=1)
                await asyncio.wait_for(arrivals.get(), 30)  # the resolution
        stop.set()
        await task
    await runner.cleanup()

    def ms(values: list[float], p: float) -> str:
        return f"{percentile(values, p) * 1000:7.1f} ms"

    print(f"command: python bench/alert_latency.py --alerts {args.alerts} --devices {args.devices}")
    print(
        f"baseline  MQTT publish -> subscriber (QoS 1)       p50 {ms(rtt, 50)}  p99 {ms(rtt, 99)}  n={len(rtt)}"
    )
    print(
        f"alerts    last will -> webhook notification        p50 {ms(latencies, 50)}  p99 {ms(latencies, 99)}  n={len(latencies)}"
    )
    print(
        f"          notifications sent {service.notifier.sent['hook']}, retried {service.notifier.retried['hook']}"
    )


if __name__ == "__main__":
    asyncio.run(main())
