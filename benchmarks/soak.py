"""Soak: many sockets for a long time at a steady rate — nothing lost, nothing duplicated, and
the servers' memory flat.

``python benchmarks/soak.py [--minutes 10] [--sockets 1000] [--rate 20]`` starts a private stack
(a PostgreSQL database and a ``redis-server`` of its own, two web processes) with customers of
three tenants, opens one WebSocket per customer plus one per tenant's operator across both
servers, and sends ``--rate`` messages per second over REST from random customers. Every stored
message must reach its customer's socket and its tenant's operator socket exactly once. The
servers' resident memory is read after warm-up (the first 10 % of the run, at least a minute
when the run is long enough) and at the end: growth must stay under 10 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm.tests.daphne_servers import http_json, server_environment, start_daphne
from faults.stack import PrivateDatabase, PrivateRedis, seed

MEMORY_GROWTH_LIMIT = 0.10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Socket:
    def __init__(self, server, token: str):
        self.server, self.token = server, token
        self.ready = False
        self.received: Counter[int] = Counter()
        self.closed = 0

    async def run(self, stop: asyncio.Event, opened: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        while not stop.is_set():
            try:
                async with opened:
                    sock = await connect(
                        f"{self.server.ws_url}?token={self.token}",
                        origin=self.server.origin,
                        proxy=None,
                        open_timeout=30,
                        ping_interval=None,
                    )
                async with sock:
                    self.ready = True
                    async for raw in sock:
                        frame = json.loads(raw)
                        if frame["type"] == "message:new":
                            self.received[frame["data"]["id"]] += 1
                        if stop.is_set():
                            return
            except Exception:
                self.closed += 1
                await asyncio.sleep(1)


async def main(args) -> int:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32))
    redis, db = PrivateRedis(), PrivateDatabase()
    redis.start()
    env = server_environment(
        database_url=db.url,
        redis_url=redis.url,
        key_prefix="crm",
        JWT_ACCESS_MINUTES=str(int(args.minutes) + 30),
        RATE_LIMITS="messages_user=100000/min,ws_frames=100000/10s",
        LOG_LEVEL="WARNING",
        DATABASE_POOL_MAX_SIZE="8",
    )
    servers = []
    try:
        db.create(env)
        per_tenant = max(1, -(-(args.sockets - 3) // 3))
        tenants = seed(env, tenants=3, customers=per_tenant)
        servers = [start_daphne(env), start_daphne(env)]
        stop = asyncio.Event()
        opened = asyncio.Semaphore(50)
        operators: list[Socket] = []
        by_customer: dict[tuple[int, int], Socket] = {}
        n = 0
        for t, tenant in enumerate(tenants):
            operators.append(Socket(servers[n % 2], tenant["operator"]["token"]))
            n += 1
            for i, person in enumerate(tenant["customers"]):
                by_customer[(t, i)] = Socket(servers[n % 2], person["token"])
                n += 1
        sockets = operators + list(by_customer.values())
        tasks = [asyncio.create_task(s.run(stop, opened)) for s in sockets]
        started = time.monotonic()
        while sum(1 for s in sockets if s.ready) < len(sockets):
            if time.monotonic() - started > 180:
                raise RuntimeError("sockets did not all open within 180 s")
            await asyncio.sleep(0.5)
        print(f"{len(sockets)} sockets open in {time.monotonic() - started:.1f} s", flush=True)

        acked: dict[int, tuple[int, int]] = {}  # message id → (tenant, customer index)
        failures = Counter()
        duration = args.minutes * 60
        warmup = min(max(duration * 0.1, min(60, duration * 0.25)), duration / 2)
        rss_start = None
        t0 = time.monotonic()
        sent = 0

        async def send_one(tenant_index: int, index: int) -> None:
            person = tenants[tenant_index]["customers"][index]
            client_id = uuid.uuid4().hex
            for _ in range(5):
                status, body = await asyncio.to_thread(
                    http_json,
                    "POST",
                    f"{servers[index % 2].url}/api/chats/{person['chat']}/messages",
                    {"text": "soak", "client_id": client_id},
                    token=person["token"],
                    timeout=15,
                )
                if status in (200, 201):
                    acked[body["id"]] = (tenant_index, index)
                    return
                failures[status] += 1
                await asyncio.sleep(1)

        pending = set()
        while time.monotonic() - t0 < duration:
            elapsed = time.monotonic() - t0
            if rss_start is None and elapsed >= warmup:
                rss_start = [rss_kib(s.process.pid) for s in servers]
                print(f"warm-up over at {elapsed:.0f} s: RSS {rss_start} KiB", flush=True)
            tenant_index = random.randrange(3)
            task = asyncio.create_task(
                send_one(tenant_index, random.randrange(len(tenants[tenant_index]["customers"])))
            )
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0, t0 + sent / args.rate - time.monotonic()))
        await asyncio.gather(*pending)
        await asyncio.sleep(3)
        rss_end = [rss_kib(s.process.pid) for s in servers]
        stop.set()
        for task in tasks:
            task.cancel()

        lost = duplicates = 0
        for message_id, (t, i) in acked.items():
            for socket in (by_customer[(t, i)], operators[t]):
                count = socket.received.get(message_id, 0)
                lost += count == 0
                duplicates += count > 1
        growth = [(end - start) / start for start, end in zip(rss_start, rss_end, strict=True)]
        print(f"messages sent {sent}, stored {len(acked)}, send failures {dict(failures)}")
        print(f"deliveries expected {2 * len(acked)}, lost {lost}, duplicated {duplicates}")
        print(f"socket reconnects {sum(s.closed for s in sockets)}")
        print(
            f"RSS after warm-up {rss_start} KiB, at the end {rss_end} KiB, growth "
            f"{', '.join(f'{g:+.1%}' for g in growth)}"
        )
        ok = lost == 0 and duplicates == 0 and len(acked) == sent
        ok = ok and all(g < MEMORY_GROWTH_LIMIT for g in growth)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        for server in servers:
            server.stop()
        redis.close()
        db.drop()


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
