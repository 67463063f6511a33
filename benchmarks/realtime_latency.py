"""REST send → WebSocket delivery on the Redis channel layer, against the floor of a bare
Channels consumer on the same Redis. Loopback only; stops by itself (``--max-seconds``).

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm_realtime REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/realtime_latency.py

It creates a scratch database next to DATABASE_URL's (``<name>_bench``, dropped at the end) and
a scratch Redis key prefix, starts ``--servers`` daphne processes of the app, and for each
client count (``--clients 100,1000``):

- connects that many WebSocket clients (``websockets``), spread over the servers: connections of
  ``--staff-users`` staff members of one organization (round robin), so each ``message:new`` of
  a support chat goes to all of them (and each message updates that many unread counters);
- latency: ``--probes`` messages, one at a time, POSTed to ``/api/chats/{id}/messages`` (round
  robin over the servers); latency = POST start → frame received, for every client;
- saturation: ``--senders`` customers POST as fast as they can for ``--seconds``; delivered
  ``message:new`` frames per second over all clients (and how many never arrived).

The same clients count on Socket.IO (``/socket.io/``, the WebSocket transport) of the same
servers, as the seeds' frontends connect: the clients speak the Socket.IO protocol over the
same ``websockets`` library (the open packet, the ``auth`` connect, pongs), so the two sides
differ only in the server's transport; the ratio of its deliveries/s to ``/ws/``'s is printed
(goal: at least ``SOCKETIO_GOAL``).

Then the same on the floor (``benchmarks/realtime_floor.py``: one group, a consumer that only
forwards, ``group_send`` straight from this process), and the ratio. The clients run in this
process: on a small machine they share the CPU with the servers, PostgreSQL and Redis, and the
CPU seconds each side used are printed so the numbers can be read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
NEW_PREFIX = '{"type": "message:new"'
SOCKETIO_NEW_PREFIX = '42["message:new",'
# Socket.IO's deliveries/s at least this share of /ws/'s on the same servers.
SOCKETIO_GOAL = 0.8
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"
SEQ_RE = re.compile(r'"text": "bench:(\d+)"')

# The budget, for a small machine that also runs PostgreSQL, Redis and the clients (2 cores):
# latency of a message to every connected staff client, and message:new frames delivered per
# second at saturation. The floor's figures are printed beside them, as the ratio to read.
BUDGET = {
    100: {"p50_ms": 60, "p99_ms": 250, "delivered_per_s": 800},
    1000: {"p50_ms": 400, "p99_ms": 1500, "delivered_per_s": 1500},
}


# --- Measuring ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients received. Only ``message:new`` frames carrying a bench marker count."""

    prefix: str = NEW_PREFIX
    record: bool = False
    arrivals: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    delivered: int = 0
    frames: int = 0
    last: float = 0.0

    def on_frame(self, raw: str) -> None:
        self.frames += 1
        if not raw.startswith(self.prefix):
            return
        match = SEQ_RE.search(raw)
        if match is None:
            return
        now = time.monotonic()
        self.delivered += 1
        self.last = now
        if self.record:
            self.arrivals[int(match.group(1))].append(now)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


@dataclass
class Result:
    name: str
    clients: int
    connect_s: float = 0.0
    failed_connects: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    probe_missing: int = 0
    sent: int = 0
    delivered: int = 0
    window_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def connected(self) -> int:
        return self.clients - self.failed_connects

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def per_second(self) -> float:
        return self.delivered / self.window_s if self.window_s else 0.0

    @property
    def missing(self) -> int:
        return self.sent * self.connected - self.delivered


# --- Clients --------------------------------------------------------------------------------


async def open_clients(
    urls: list[str],
    origins: list[str],
    tally: Tally,
    deadline: float,
    socketio_auth: list[dict] | None = None,
):
    """``socketio_auth``: the clients speak Socket.IO (one ``auth`` per client)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage

    gate = asyncio.Semaphore(20)

    async def reader(conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in conn:
                tally.on_frame(raw)

    async def socketio_reader(conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in conn:
                if raw == "2":  # Engine.IO ping
                    await conn.send("3")
                else:
                    tally.on_frame(raw)

    async def socketio_handshake(conn, auth: dict) -> bool:
        opened = await asyncio.wait_for(conn.recv(), 30)  # 0{"sid", "pingInterval", ...}
        if not opened.startswith("0"):
            return False
        await conn.send("40" + json.dumps(auth))
        while True:
            packet = await asyncio.wait_for(conn.recv(), 30)
            if packet.startswith("40"):
                return True
            if packet.startswith("44"):  # connect_error
                return False
            tally.on_frame(packet)

    async def one(index: int, url: str, origin: str):
        async with gate:
            try:
                conn = await connect(
                    url,
                    origin=origin,
                    proxy=None,
                    compression=None,
                    ping_interval=None,
                    open_timeout=max(1.0, deadline - time.monotonic()),
                    max_queue=None,
                )
                if socketio_auth is not None and not await socketio_handshake(
                    conn, socketio_auth[index]
                ):
                    await conn.close()
                    return None
            except (OSError, TimeoutError, InvalidHandshake, InvalidMessage, ConnectionClosed):
                return None  # counted as a failed connect
        read = socketio_reader if socketio_auth is not None else reader
        return conn, asyncio.create_task(read(conn))

    opened = await asyncio.gather(
        *(one(i, u, o) for i, (u, o) in enumerate(zip(urls, origins, strict=True)))
    )
    return [client for client in opened if client is not None]


async def close_clients(clients) -> None:
    for conn, _ in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)
    for _, task in clients:
        task.cancel()


async def wait_quiet(tally: Tally, *, quiet: float, limit: float) -> None:
    """Until no frame arrived for ``quiet`` seconds (presence news after a connect storm)."""
    end = time.monotonic() + limit
    seen = -1
    while time.monotonic() < end:
        if tally.frames == seen:
            return
        seen = tally.frames
        await asyncio.sleep(quiet)


async def wait_delivered(tally: Tally, expected: int, *, limit: float) -> None:
    end = time.monotonic() + limit
    seen, stable_since = -1, time.monotonic()
    while time.monotonic() < end and tally.delivered < expected:
        if tally.delivered != seen:
            seen, stable_since = tally.delivered, time.monotonic()
        elif time.monotonic() - stable_since > 2:
            return  # nothing more is coming
        await asyncio.sleep(0.05)


# --- Senders --------------------------------------------------------------------------------


class HttpSender:
    """One customer POSTing to one server over a kept-alive connection."""

    def __init__(self, port: int, token: str, chat_id: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.path = f"/api/chats/{chat_id}/messages"

    def send(self, seq: int) -> None:
        body = json.dumps({"text": f"bench:{seq}", "client_id": f"b{seq}"})
        try:
            response, payload = self._post(body)
        except (http.client.HTTPException, ConnectionError):
            # The server closed the idle kept-alive connection; client_id makes a retry safe.
            self.conn.close()
            response, payload = self._post(body)
        if response.status == 404 and b'"not_found"' in payload:
            raise SystemExit("POST /api/chats/{id}/messages is missing: the chats API is needed.")
        if response.status != 201:
            raise RuntimeError(f"send failed: {response.status} {payload[:300]!r}")

    def _post(self, body: str):
        self.conn.request("POST", self.path, body, self.headers)
        response = self.conn.getresponse()
        return response, response.read()


def floor_text(seq: int) -> str:
    from crm.events import encode

    return encode(
        "message:new",
        {
            "id": seq,
            "chat_id": 1,
            "sender": {"id": 1, "name": "Bench Customer", "avatar": None, "role": "customer"},
            "kind": "text",
            "text": f"bench:{seq}",
            "attachments": [],
            "client_id": f"b{seq}",
            "external_id": None,
            "delivery": None,
            "staff_only": False,
            "created_at": "2025-01-01T00:00:00.000Z",
            "edited_at": None,
            "deleted_at": None,
        },
    )


# --- Scenarios ------------------------------------------------------------------------------


async def measure(
    *,
    name: str,
    clients: int,
    urls: list[str],
    origins: list[str],
    server_pids: list[int],
    send_one,  # async (seq, sender_index) -> None
    senders: int,
    probes: int,
    seconds: float,
    seq: Iterator[int],
    socketio_auth: list[dict] | None = None,
) -> Result:
    result = Result(name, clients)
    tally = Tally(prefix=SOCKETIO_NEW_PREFIX if socketio_auth is not None else NEW_PREFIX)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=senders + 2))
    started = time.monotonic()
    opened = await open_clients(
        urls, origins, tally, deadline=started + 90, socketio_auth=socketio_auth
    )
    result.connect_s = time.monotonic() - started
    result.failed_connects = clients - len(opened)
    clients = len(opened)
    try:
        await wait_quiet(tally, quiet=1.5, limit=90)

        # Latency: one message at a time, paced so that each one meets idle servers.
        tally.record = True
        sent_at: dict[int, float] = {}
        pause = max(0.1, clients / 4000)
        for i in range(probes):
            n = next(seq)
            sent_at[n] = time.monotonic()
            await send_one(n, i % senders)
            await asyncio.sleep(pause)
        await wait_delivered(tally, probes * clients, limit=15)
        for n, t0 in sent_at.items():
            times = tally.arrivals.get(n, [])
            result.latencies_ms += [(t - t0) * 1000 for t in times]
            result.probe_missing += clients - len(times)
        tally.record = False
        tally.arrivals.clear()

        # Saturation: every sender as fast as it can.
        delivered_before = tally.delivered
        cpu_before = sum(cpu_seconds(pid) for pid in server_pids), time.process_time()
        start = time.monotonic()
        stop_at = start + seconds
        sent = 0

        async def sender(index: int) -> None:
            nonlocal sent
            while time.monotonic() < stop_at:
                await send_one(next(seq), index)
                sent += 1

        await asyncio.gather(*(sender(i) for i in range(senders)))
        await wait_delivered(tally, delivered_before + sent * clients, limit=20)
        result.sent = sent
        result.delivered = tally.delivered - delivered_before
        result.window_s = max(tally.last, stop_at) - start
        result.server_cpu_s = sum(cpu_seconds(pid) for pid in server_pids) - cpu_before[0]
        result.client_cpu_s = time.process_time() - cpu_before[1]
    finally:
        await close_clients(opened)
    return result


# --- Setup ----------------------------------------------------------------------------------


def check_loopback(url: str, what: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"{what} must point at 127.0.0.1 (got {host!r}): loopback only.")


def admin_connection(database_url: str):
    import psycopg

    parsed = urlparse(database_url)
    return psycopg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "root",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    )


def create_database(database_url: str) -> str:
    parsed = urlparse(database_url)
    name = f"{parsed.path.lstrip('/') or 'crm'}_bench"
    with admin_connection(database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed._replace(path=f"/{name}").geturl()


def drop_database(database_url: str) -> None:
    name = urlparse(database_url).path.lstrip("/")
    with admin_connection(database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def organization_with(slug: str, *, staff: int, customers: int):
    """An organization with ``staff`` operators and ``customers`` customers, each customer with
    a support chat. Returns (staff tokens, [(customer token, chat id)])."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import Organization, Role, User
    from chats.services import support_chat_get_or_create

    org = Organization.objects.create(slug=slug, name=slug)
    staff_users = User.objects.bulk_create(
        [
            User(email=f"op{i}@{slug}.bench", name=f"Op {i}", role=Role.OPERATOR, organization=org)
            for i in range(staff)
        ]
    )
    pairs = []
    for i in range(customers):
        customer = User.objects.create_user(
            f"c{i}@{slug}.bench", name=f"Customer {i}", role=Role.CUSTOMER, organization=org
        )
        chat, _ = support_chat_get_or_create(customer=customer)
        pairs.append((str(AccessToken.for_user(customer)), chat.pk))
    return [str(AccessToken.for_user(u)) for u in staff_users], pairs


# --- Main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000", help="client counts, e.g. 100,1000")
    parser.add_argument("--servers", type=int, default=2, help="daphne processes per side")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders")
    parser.add_argument("--seconds", type=float, default=6.0, help="saturation phase length")
    parser.add_argument("--probes", type=int, default=40, help="latency probes per count")
    parser.add_argument(
        "--staff-users",
        type=int,
        default=50,
        help="distinct staff users the clients belong to (0: one per client)",
    )
    parser.add_argument("--max-seconds", type=int, default=900, help="hard stop")
    parser.add_argument(
        "--no-socketio", action="store_true", help="skip the Socket.IO runs beside /ws/"
    )
    parser.add_argument(
        "--sides", default="app,floor", help="which servers: app (with Socket.IO), floor"
    )
    return parser.parse_args()


def report(results: list[Result]) -> bool:
    print()
    header = (
        f"{'scenario':<8} {'clients':>7} {'failed':>6} {'connect s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'sent/s':>7} {'delivered/s':>11} {'missing':>8} {'srv cpu s':>9} {'cli cpu s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<8} {r.clients:>7} {r.failed_connects:>6} {r.connect_s:>9.1f} {r.p50:>8.1f} {r.p99:>8.1f} "
            f"{r.sent / r.window_s if r.window_s else 0:>7.0f} {r.per_second:>11.0f} "
            f"{r.missing:>8} {r.server_cpu_s:>9.1f} {r.client_cpu_s:>9.1f}"
        )
    print()
    ok = True
    by_key = {(r.name, r.clients): r for r in results}
    for clients, budget in BUDGET.items():
        app, floor = by_key.get(("app", clients)), by_key.get(("floor", clients))
        if app is None:
            continue
        checks = [
            ("latency p50 ms", app.p50, budget["p50_ms"], app.p50 <= budget["p50_ms"]),
            ("latency p99 ms", app.p99, budget["p99_ms"], app.p99 <= budget["p99_ms"]),
            (
                "delivered/s",
                app.per_second,
                budget["delivered_per_s"],
                app.per_second >= budget["delivered_per_s"],
            ),
        ]
        for label, value, limit, passed in checks:
            ok &= passed
            print(
                f"{clients:>5} clients {label:<15} {value:9.1f}  budget {limit:>6}  "
                f"{'ok' if passed else 'MISSED'}"
            )
        sio = by_key.get(("socketio", clients))
        if sio is not None and app.per_second:
            ratio = sio.per_second / app.per_second
            passed = ratio >= SOCKETIO_GOAL
            ok &= passed
            print(
                f"{clients:>5} clients Socket.IO vs /ws/: deliveries/s {sio.per_second:,.0f} / "
                f"{app.per_second:,.0f} = {ratio:.2f} (goal {SOCKETIO_GOAL}) "
                f"{'ok' if passed else 'MISSED'}; latency p50 {sio.p50:.1f} / {app.p50:.1f} ms, "
                f"p99 {sio.p99:.1f} / {app.p99:.1f} ms"
            )
            if sio.probe_missing or sio.failed_connects:
                ok = False
                print(
                    f"{clients:>5} clients Socket.IO: {sio.failed_connects} connects failed, "
                    f"{sio.probe_missing} probe deliveries never arrived"
                )
        if floor is not None and floor.per_second and floor.p50:
            print(
                f"{clients:>5} clients vs floor: deliveries/s {app.per_second:,.0f} / "
                f"{floor.per_second:,.0f} = {app.per_second / floor.per_second:.2f}; "
                f"latency p50 {app.p50:.1f} / {floor.p50:.1f} ms = {app.p50 / floor.p50:.1f}x"
            )
        if app.probe_missing or app.failed_connects:
            ok = False
            print(
                f"{clients:>5} clients: {app.failed_connects} connects failed, "
                f"{app.probe_missing} probe deliveries never arrived"
            )
    return ok


def main() -> int:
    args = parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis), on 127.0.0.1.")
    check_loopback(database_url, "DATABASE_URL")
    check_loopback(redis_url, "REDIS_URL")
    counts = [int(c) for c in args.clients.split(",") if c]

    def out_of_time(*_):
        raise TimeoutError(f"stopped after --max-seconds={args.max_seconds}")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.max_seconds)

    bench_db = create_database(database_url)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_URL=bench_db,
        REDIS_KEY_PREFIX=prefix,
        DEBUG="false",
    )
    import django

    django.setup()
    logging.getLogger("channels_redis").setLevel(logging.WARNING)  # "over capacity" per send
    from django.core.management import call_command
    from django.db import connections

    from crm.tests.daphne_servers import server_environment, start_daphne

    servers = []
    results: list[Result] = []
    try:
        print(f"migrating {urlparse(bench_db).path[1:]} ...", flush=True)
        call_command("migrate", verbosity=0)
        setups = {
            n: organization_with(
                f"bench{n}",
                staff=min(n, args.staff_users) if args.staff_users else n,
                customers=args.senders,
            )
            for n in counts
        }
        connections.close_all()
        env = server_environment(
            database_url=bench_db,
            redis_url=redis_url,
            key_prefix=prefix,
            RATE_LIMITS="messages_user=1000000/min,ws_frames=1000000/10s",
        )
        seq = itertools.count(1)
        for side in [x for x in args.sides.split(",") if x]:
            app = (
                "crm.asgi:application" if side == "app" else "benchmarks.realtime_floor:application"
            )
            print(f"starting {args.servers} daphne ({side}) ...", flush=True)
            servers = [start_daphne(env, app=app) for _ in range(args.servers)]
            for n in counts:
                staff_tokens, pairs = setups[n]
                urls, origins = [], []
                for i in range(n):
                    server = servers[i % len(servers)]
                    token = staff_tokens[i % len(staff_tokens)]
                    urls.append(server.ws_url + (f"?token={token}" if side == "app" else ""))
                    origins.append(server.origin)
                if side == "app":
                    http_senders = [
                        HttpSender(servers[i % len(servers)].port, token, chat_id)
                        for i, (token, chat_id) in enumerate(pairs)
                    ]

                    async def send_one(n_: int, index: int, http_senders=http_senders) -> None:
                        await asyncio.to_thread(http_senders[index].send, n_)

                else:
                    from channels.layers import get_channel_layer

                    from benchmarks.realtime_floor import FLOOR_GROUP

                    layer = get_channel_layer()

                    async def send_one(n_: int, index: int, layer=layer) -> None:
                        await layer.group_send(
                            FLOOR_GROUP, {"type": "crm.event", "text": floor_text(n_)}
                        )

                runs = [(side, urls, None)]
                if side == "app" and not args.no_socketio:
                    # The same servers and staff, over Socket.IO (token in the handshake's auth).
                    runs.append(
                        (
                            "socketio",
                            [
                                servers[i % len(servers)].ws_url.replace("/ws/", SOCKETIO_PATH)
                                for i in range(n)
                            ],
                            [{"token": staff_tokens[i % len(staff_tokens)]} for i in range(n)],
                        )
                    )
                for name, run_urls, socketio_auth in runs:
                    print(f"{name}: {n} clients ...", flush=True)
                    result = asyncio.run(
                        measure(
                            name=name,
                            clients=n,
                            urls=run_urls,
                            origins=origins,
                            server_pids=[s.process.pid for s in servers],
                            send_one=send_one,
                            senders=args.senders,
                            probes=args.probes,
                            seconds=args.seconds,
                            seq=seq,
                            socketio_auth=socketio_auth,
                        )
                    )
                    results.append(result)
                    print(
                        f"  p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms, "
                        f"{result.per_second:,.0f} deliveries/s",
                        flush=True,
                    )
            for server in servers:
                server.stop()
            servers = []
    finally:
        signal.alarm(0)
        for server in servers:
            server.stop()
        connections.close_all()
        drop_database(bench_db)
        delete_keys(redis_url, prefix)
    ok = report(results)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nbudget: {'met' if ok else 'NOT met'} "
        f"(machine: {os.cpu_count()} CPUs, load average {load}; python {sys.version.split()[0]})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
