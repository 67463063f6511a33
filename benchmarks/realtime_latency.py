"""The real-time send path, side by side in one run: the product (REST send → WebSocket
delivery, ``/ws/`` and Socket.IO), the floor of a bare Channels consumer, and the Node peer (the
seeds' stack doing our send path). Loopback only; bounded; prints one table, the ratios and the
budgets of issue 14 (PASS/FAIL, n/a where a side or count was not measured; ``--strict``
exits 1 on a FAIL).

    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_rt REDIS_URL=redis://127.0.0.1:6379/10 \
    NODE_PEER_REDIS_URL=redis://127.0.0.1:6379/12 TEST_PORTS=22000-22499 \
        .venv/bin/python benchmarks/realtime_latency.py --clients 100,1000 --runs 3 [--profile]

Sides (``--sides app,floor,node``), each on ``--servers`` (2) processes over Redis, measured
at each client count (``--clients 100,1000``) the same way:

- **app**: the product (``crm.asgi``) on daphne, or uvicorn with ``--server uvicorn``, on a
  scratch database beside DATABASE_URL's (``<name>_bench``, dropped at the end) and a scratch
  Redis key prefix (deleted). The clients are connections of the ``--staff-users`` (50) staff
  members of one organization, round robin, so each ``message:new`` of a support chat goes to
  all of them and bumps 50 unread counters; the senders are ``--senders`` (8) customers of it,
  each with its support chat, POSTing ``/api/chats/{id}/messages``. The same clients are then
  measured over Socket.IO (``/socket.io/``, the WebSocket transport, the Socket.IO protocol
  spoken over the same ``websockets`` library), on the same servers; the two transports take
  turns going first from one run to the next.
- **floor**: ``benchmarks/realtime_floor.py`` on the same server and Redis: one group, a
  consumer that only forwards, ``group_send`` straight from this process (no HTTP, no database).
- **node**: the Node peer (``benchmarks/node_peer.py``): ``../shared/peers/node-socketio``
  copied to a scratch directory, ``npm ci`` once per lock file into ``var/node-peer/``, its
  ``run.sh`` with ``MODE=full`` (chat lock, insert, unread counters, one ``unread:updated`` per
  staff member), two processes with the Redis adapter, its own driver process, the same counts,
  senders, seconds, probes and ``STAFF``; its scratch database is dropped.

Each measurement, at each count: connect the clients (20 at a time) and wait for quiet;
latency: ``--probes`` (40) messages one at a time, paced ``max(0.1, clients / 4000)`` s apart,
round robin over the senders; latency = POST start → the frame at every client (p50, p99 over
all of them); saturation: every sender POSTs as fast as it can for ``--seconds`` (6), then up
to ``--drain-seconds`` (20, as the peer's driver) for the frames to arrive (less after
``--quiet-seconds``, 5, without one; the peer's driver: 2). A probe's frame that comes late
counts for its latency, never as a saturation delivery. Printed:

- deliveries/s: ``message:new`` frames received by all clients ÷ (start → last frame);
- POSTs/s: POSTs the senders completed ÷ (start → last POST answered);
- lost: probe and saturation frames that had not arrived when the waiting stopped, plus
  clients that failed to connect;
  drain s: how long after the last POST the last frame came;
- server CPU seconds of the side's processes over the saturation phase, per POST; the clients'
  (the product's and floor's clients run in this process and share the 2 cores with the
  servers, PostgreSQL and Redis: a note says when they used most of a core).

``--runs N`` repeats every side N times, interleaved (app, floor, node, app, ...), and prints
medians (lost: the worst run). ``--profile`` records one product server process with py-spy
(``--gil``) during the first run's ``/ws/`` saturation at the largest count and prints the top
10 functions by own time and the project's top 10 by total time (that run's figures are taken
under the profiler). ``--json PATH`` also writes every run's figures, the medians and the
verdicts. ``--max-seconds`` (900 per run) stops everything; every server process,
the peer's process group, the scratch databases and keys are gone at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import itertools
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks import node_peer, profiling  # noqa: E402
from benchmarks.asgi_servers import SERVER_KINDS, start_server  # noqa: E402
from benchmarks.profiling import Recording  # noqa: E402
from crm.tests.daphne_servers import free_port, server_environment  # noqa: E402

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
NEW_PREFIX = '{"type": "message:new"'
SOCKETIO_NEW_PREFIX = '42["message:new",'
# Socket.IO's deliveries/s at least this share of /ws/'s on the same servers.
SOCKETIO_GOAL = 0.8
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"
SEQ_RE = re.compile(r'"text": "bench:(\d+)"')

# The budgets of issue 14, as ratios to the Node peer and the floor measured in the same run:
# deliveries/s at BUDGET_CLIENTS["deliveries"] clients at least vs_peer x the peer's and
# vs_floor x the floor's, p99 at most p99_vs_peer x the peer's (every count), nothing lost,
# POSTs/s at BUDGET_CLIENTS["posts"] clients at least posts_vs_peer x the peer's.
BUDGET = {"vs_peer": 0.5, "vs_floor": 2.0, "p99_vs_peer": 3.0, "posts_vs_peer": 0.3}
BUDGET_CLIENTS = {"deliveries": 1000, "posts": 100}
NAN = float("nan")


# --- Measuring ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients received. Only ``message:new`` frames carrying a bench marker count:
    those of the latency probes (``probes``: their arrival times, whenever they come) apart from
    the others (``delivered``), so that a probe's late frame never counts as a saturation one."""

    prefix: str = NEW_PREFIX
    probes: set[int] = field(default_factory=set)
    arrivals: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    probe_frames: int = 0
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
        seq = int(match.group(1))
        if seq in self.probes:
            self.arrivals[seq].append(now)
            self.probe_frames += 1
        else:
            self.delivered += 1
            self.last = now


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
    """One side at one client count in one run. The Node peer's driver reports the same fields
    (``from_peer``), measured the same way."""

    name: str
    clients: int
    connect_s: float = 0.0
    failed_connects: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    probe_missing: int = 0
    sent: int = 0
    send_s: float = 0.0  # saturation start → the last POST answered
    delivered: int = 0
    window_s: float = 0.0  # saturation start → the last frame (or the end of sending)
    missing: int = 0  # saturation frames that never arrived
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    seconds: float = 0.0  # the sending phase asked for
    fixed_p50: float | None = None
    fixed_p99: float | None = None

    @classmethod
    def from_peer(cls, row: dict, *, seconds: float) -> Result:
        window = float(row["window_s"])
        per_second = float(row["delivered_per_s"])
        return cls(
            name="node",
            clients=int(row["clients"]),
            connect_s=float(row["connect_s"]),
            failed_connects=int(row["failed"]),
            probe_missing=int(row["probe_missing"]),
            sent=int(row["sent"]),
            send_s=float(row.get("send_s") or window),
            delivered=round(per_second * window),
            window_s=window,
            missing=int(row["missing"]),
            server_cpu_s=float(row["srv_cpu_s"]),
            client_cpu_s=float(row["cli_cpu_s"]),
            seconds=seconds,
            fixed_p50=_number(row.get("p50")),
            fixed_p99=_number(row.get("p99")),
        )

    @property
    def connected(self) -> int:
        return self.clients - self.failed_connects

    @property
    def p50(self) -> float:
        return self.fixed_p50 if self.fixed_p50 is not None else percentile(self.latencies_ms, 0.5)

    @property
    def p99(self) -> float:
        return self.fixed_p99 if self.fixed_p99 is not None else percentile(self.latencies_ms, 0.99)

    @property
    def per_second(self) -> float:
        """``message:new`` deliveries per second over all clients."""
        return self.delivered / self.window_s if self.window_s else 0.0

    @property
    def posts_per_second(self) -> float:
        return self.sent / self.send_s if self.send_s else 0.0

    @property
    def lost(self) -> int:
        """Frames that never arrived (probes and saturation), and clients that never connected
        (each would have missed every frame)."""
        return self.probe_missing + max(0, self.missing) + self.failed_connects

    @property
    def drain_s(self) -> float:
        """How long after the end of sending the last frame arrived."""
        return max(0.0, self.window_s - self.send_s)

    @property
    def cpu_ms_per_post(self) -> float:
        return 1000 * self.server_cpu_s / self.sent if self.sent else float("nan")

    @property
    def client_busy(self) -> float:
        """The clients' CPU share of one core over the saturation window (near 1: they, not the
        servers, may be the limit)."""
        return self.client_cpu_s / self.window_s if self.window_s else 0.0


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


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


async def wait_delivered(
    count: Callable[[], int], expected: int, *, limit: float, quiet: float = 2
) -> None:
    """Until ``count()`` reaches ``expected``, nothing more came for ``quiet`` seconds, or
    ``limit`` seconds passed."""
    end = time.monotonic() + limit
    seen, stable_since = -1, time.monotonic()
    while time.monotonic() < end and count() < expected:
        if count() != seen:
            seen, stable_since = count(), time.monotonic()
        elif time.monotonic() - stable_since > quiet:
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
    drain_limit: float = 20,
    quiet: float = 2,
    profile: Recording | None = None,
) -> Result:
    """``profile``: recorded from the start of the saturation phase to its last frame."""
    result = Result(name, clients, seconds=seconds)
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
        sent_at: dict[int, float] = {}
        pause = max(0.1, clients / 4000)
        for i in range(probes):
            n = next(seq)
            tally.probes.add(n)
            sent_at[n] = time.monotonic()
            await send_one(n, i % senders)
            await asyncio.sleep(pause)
        await wait_delivered(lambda: tally.probe_frames, probes * clients, limit=15, quiet=quiet)

        # Saturation: every sender as fast as it can.
        if profile is not None:
            profile.start()
            await asyncio.sleep(1)  # py-spy attached
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
        result.send_s = time.monotonic() - start
        await wait_delivered(
            lambda: tally.delivered,
            delivered_before + sent * clients,
            limit=drain_limit,
            quiet=quiet,
        )
        result.sent = sent
        result.delivered = tally.delivered - delivered_before
        result.missing = sent * clients - result.delivered
        result.window_s = max(tally.last, stop_at) - start
        result.server_cpu_s = sum(cpu_seconds(pid) for pid in server_pids) - cpu_before[0]
        result.client_cpu_s = time.process_time() - cpu_before[1]
        # The probes' frames, late ones included (their latency as it was).
        for n, t0 in sent_at.items():
            times = tally.arrivals.get(n, [])
            result.latencies_ms += [(t - t0) * 1000 for t in times]
            result.probe_missing += clients - len(times)
    finally:
        if profile is not None:
            profile.stop()
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000", help="client counts, e.g. 100,1000")
    parser.add_argument("--servers", type=int, default=2, help="server processes per side")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders")
    parser.add_argument("--seconds", type=float, default=6.0, help="saturation phase length")
    parser.add_argument("--probes", type=int, default=40, help="latency probes per count")
    parser.add_argument(
        "--staff-users",
        type=int,
        default=50,
        help="staff members of the organization the clients belong to (0: one per client)",
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat every side; medians")
    parser.add_argument(
        "--server",
        choices=SERVER_KINDS,
        default="daphne",
        help="the product's (and the floor's) server processes",
    )
    parser.add_argument(
        "--sides",
        default="app,floor,node",
        help="which to measure: app (/ws/ and Socket.IO), floor, node (the Node peer)",
    )
    parser.add_argument(
        "--no-socketio", action="store_true", help="skip the Socket.IO runs beside /ws/"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy on one product server during the first run's largest /ws/ saturation",
    )
    parser.add_argument("--profile-out", help="keep py-spy's raw stacks in this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    parser.add_argument("--peer-dir", help="the Node peer's folder (default: ../shared/peers/...)")
    parser.add_argument(
        "--peer-redis-url",
        default=os.environ.get("NODE_PEER_REDIS_URL"),
        help="Redis of the Node peer's adapter (default: $NODE_PEER_REDIS_URL, else REDIS_URL)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=20,
        help="how long to wait for frames after sending stops (the peer's driver waits 20)",
    )
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=5,
        help="stop waiting for frames after this long without one (the peer's driver: 2)",
    )
    parser.add_argument(
        "--max-seconds", type=int, default=0, help="hard stop (default: 900 per run)"
    )
    parser.add_argument("--json", help="also write every run's figures and the medians here")
    args = parser.parse_args(argv)
    args.counts = [int(c) for c in args.clients.split(",") if c]
    args.side_list = [x for x in args.sides.split(",") if x]
    unknown = set(args.side_list) - {"app", "floor", "node"}
    if unknown or not args.counts or args.runs < 1:
        parser.error(f"bad --sides {sorted(unknown)} / --clients / --runs")
    args.max_seconds = args.max_seconds or 900 * args.runs
    return args


# --- Report ---------------------------------------------------------------------------------

LABELS = {
    "app": "product /ws/",
    "socketio": "product Socket.IO",
    "floor": "floor (bare Channels)",
    "node": "Node peer",
}


@dataclass
class Summary:
    """The medians of one side at one count over the runs (``worst_lost``: the largest)."""

    name: str
    clients: int
    runs: list[Result]

    def median(self, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.runs]
        values = [v for v in values if v == v]  # not NaN
        return statistics.median(values) if values else float("nan")

    @property
    def worst_lost(self) -> int:
        return max(r.lost for r in self.runs)


def summarize(results: list[Result]) -> dict[tuple[str, int], Summary]:
    grouped: dict[tuple[str, int], list[Result]] = defaultdict(list)
    for r in results:
        grouped[(r.name, r.clients)].append(r)
    return {key: Summary(*key, runs) for key, runs in grouped.items()}


def print_table(summaries: dict[tuple[str, int], Summary], *, runs: int, server: str) -> None:
    print(f"\nmedians of {runs} run(s); product and floor on {server}")
    header = (
        f"{'side':<22} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'deliveries/s':>12} "
        f"{'POSTs/s':>8} {'lost':>6} {'drain s':>7} {'srv cpu s':>9} {'ms cpu/POST':>11} "
        f"{'cli cpu s':>9} {'connect s':>9}"
    )
    print(header)
    print("-" * len(header))
    order = list(LABELS)
    for (name, clients), sm in sorted(
        summaries.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0]))
    ):
        print(
            f"{LABELS[name]:<22} {clients:>7,} {sm.median('p50'):>8.1f} {sm.median('p99'):>8.1f} "
            f"{sm.median('per_second'):>12,.0f} {sm.median('posts_per_second'):>8,.0f} "
            f"{sm.median('lost'):>6.0f} {sm.median('drain_s'):>7.1f} "
            f"{sm.median('server_cpu_s'):>9.1f} {sm.median('cpu_ms_per_post'):>11.1f} "
            f"{sm.median('client_cpu_s'):>9.1f} {sm.median('connect_s'):>9.1f}"
        )
    print(
        "lost: frames not arrived when the waiting stopped, plus failed connects; "
        "drain s: last frame after the end of sending; cpu: the saturation phase"
    )


def ratio(a: float, b: float) -> float:
    return a / b if b and a == a and b == b else float("nan")


@dataclass
class Check:
    label: str
    value: float
    limit: float
    passed: bool | None  # None: not measured
    op: str = "≥"

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def budget_checks(summaries: dict[tuple[str, int], Summary]) -> list[Check]:
    """The budgets of issue 14, for each product transport measured."""
    checks: list[Check] = []
    big, small = BUDGET_CLIENTS["deliveries"], BUDGET_CLIENTS["posts"]

    def get(name: str, clients: int) -> Summary | None:
        return summaries.get((name, clients))

    def add(label: str, value: float, limit: float, passed: bool | None, op: str = "≥") -> None:
        if value != value:  # NaN: a side missing
            passed = None
        checks.append(Check(label, value, limit, passed, op))

    products = [n for n in ("app", "socketio") if any(k[0] == n for k in summaries)]
    counts = sorted({k[1] for k in summaries})
    for name in products:
        label = LABELS[name]
        node, floor, app = get("node", big), get("floor", big), get(name, big)
        if app is None:
            checks.append(Check(f"{label}: {big:,} clients not measured", NAN, NAN, None))
        else:
            per_s = app.median("per_second")
            r = ratio(per_s, node.median("per_second")) if node else NAN
            add(
                f"{label} deliveries/s at {big:,} ÷ Node peer's",
                r,
                BUDGET["vs_peer"],
                r >= BUDGET["vs_peer"],
            )
            r = ratio(per_s, floor.median("per_second")) if floor else NAN
            add(
                f"{label} deliveries/s at {big:,} ÷ floor's",
                r,
                BUDGET["vs_floor"],
                r >= BUDGET["vs_floor"],
            )
        for n in counts:
            app, node = get(name, n), get("node", n)
            if app is None:
                continue
            r = ratio(app.median("p99"), node.median("p99")) if node else NAN
            add(
                f"{label} p99 at {n:,} ÷ Node peer's",
                r,
                BUDGET["p99_vs_peer"],
                r <= BUDGET["p99_vs_peer"],
                "≤",
            )
            lost = app.worst_lost
            add(f"{label} lost at {n:,} (worst run)", lost, 0, lost == 0, "=")
        app, node = get(name, small), get("node", small)
        if app is None:
            checks.append(Check(f"{label}: {small:,} clients not measured", NAN, NAN, None))
        else:
            r = (
                ratio(app.median("posts_per_second"), node.median("posts_per_second"))
                if node
                else NAN
            )
            add(
                f"{label} POSTs/s at {small:,} ÷ Node peer's",
                r,
                BUDGET["posts_vs_peer"],
                r >= BUDGET["posts_vs_peer"],
            )
    for n in counts:
        app, sio = get("app", n), get("socketio", n)
        if app and sio:
            r = ratio(sio.median("per_second"), app.median("per_second"))
            add(f"Socket.IO deliveries/s at {n:,} ÷ /ws/'s", r, SOCKETIO_GOAL, r >= SOCKETIO_GOAL)
    return checks


def print_ratios(summaries: dict[tuple[str, int], Summary]) -> None:
    print("\nratios (product ÷ other; latency: higher is worse, rates: higher is better)")
    for (name, clients), sm in sorted(summaries.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if name not in ("app", "socketio"):
            continue
        parts = []
        for other in ("node", "floor"):
            o = summaries.get((other, clients))
            if o is None:
                continue
            parts.append(
                f"÷ {LABELS[other]}: deliveries/s {ratio(sm.median('per_second'), o.median('per_second')):.2f}, "
                f"p50 {ratio(sm.median('p50'), o.median('p50')):.1f}x, "
                f"p99 {ratio(sm.median('p99'), o.median('p99')):.1f}x"
                + (
                    f", POSTs/s {ratio(sm.median('posts_per_second'), o.median('posts_per_second')):.2f}, "
                    f"cpu/POST {ratio(sm.median('cpu_ms_per_post'), o.median('cpu_ms_per_post')):.1f}x"
                    if other == "node"
                    else ""
                )
            )
        if parts:
            print(f"  {LABELS[name]} at {clients:,}: " + "; ".join(parts))


def print_checks(checks: list[Check]) -> bool:
    print("\nbudgets (issue 14)")
    for c in checks:
        if c.value != c.value:
            value = "-"
        elif c.value == int(c.value) and c.op == "=":
            value = f"{int(c.value):,}"
        else:
            value = f"{c.value:,.2f}"
        limit = f"{c.limit:g}" if c.limit == c.limit else "-"
        print(f"  {c.verdict:<4}  {c.label:<52} {value:>9}  (budget {c.op} {limit})")
    return all(c.passed is not False for c in checks)


def warnings(results: list[Result]) -> list[str]:
    notes = []
    for r in results:
        if r.name != "node" and r.client_busy > 0.85:
            notes.append(
                f"{LABELS[r.name]} at {r.clients:,}: the in-process clients used "
                f"{r.client_busy:.0%} of a core over the window; its deliveries/s may be "
                "the clients' limit, not the servers'"
            )
        if r.name == "floor" and r.lost:
            notes.append(
                "the floor lost frames: its group_sends are not held back by delivery (no POST "
                "to wait for), so past the channel layer's capacity it drops them; its "
                "deliveries/s is the rate it kept up"
            )
        if r.drain_s >= r.seconds and r.name != "floor":
            notes.append(
                f"{LABELS[r.name]} at {r.clients:,}: frames still arrived {r.drain_s:.0f} s "
                "after the last POST (POSTs accepted faster than delivered)"
            )
    return sorted(set(notes))


def write_json(path: str, results: list[Result], summaries, checks: list[Check], args) -> None:
    """Every run's figures, the medians and the verdicts, for notes and comparisons."""
    keys = ["p50", "p99", "per_second", "posts_per_second", "lost", "drain_s"]
    keys += ["server_cpu_s", "cpu_ms_per_post", "client_cpu_s", "connect_s"]

    def figures(r) -> dict:
        return {k: getattr(r, k) for k in keys}

    data = {
        "server": args.server,
        "runs": args.runs,
        "clients": args.counts,
        "senders": args.senders,
        "seconds": args.seconds,
        "probes": args.probes,
        "staff": args.staff_users,
        "load_average": os.getloadavg(),
        "results": [{"side": r.name, "clients": r.clients, **figures(r)} for r in results],
        "medians": [
            {
                "side": name,
                "clients": n,
                "worst_lost": sm.worst_lost,
                **{k: sm.median(k) for k in keys},
            }
            for (name, n), sm in summaries.items()
        ],
        "budgets": [
            {"budget": c.label, "value": c.value, "limit": c.limit, "verdict": c.verdict}
            for c in checks
        ],
    }
    Path(path).write_text(json.dumps(data, indent=1, default=str).replace("NaN", "null"))


# --- Running the sides ----------------------------------------------------------------------


def run_product_side(
    side: str,
    args: argparse.Namespace,
    *,
    env: dict[str, str],
    setups: dict,
    seq: Iterator[int],
    servers: list,
    run: int,
    profile_note: list[str],
) -> list[Result]:
    app = "crm.asgi:application" if side == "app" else "benchmarks.realtime_floor:application"
    print(
        f"run {run}: starting {args.servers} {args.server} ({side}; load {load_now()}) ...",
        flush=True,
    )
    servers[:] = [start_server(args.server, env, app=app) for _ in range(args.servers)]
    results = []
    for n in args.counts:
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
                await layer.group_send(FLOOR_GROUP, {"type": "crm.event", "text": floor_text(n_)})

        scenarios = [(side, urls, None)]
        if side == "app" and not args.no_socketio:
            # The same servers and staff, over Socket.IO (token in the handshake's auth).
            scenarios.append(
                (
                    "socketio",
                    [
                        servers[i % len(servers)].ws_url.replace("/ws/", SOCKETIO_PATH)
                        for i in range(n)
                    ],
                    [{"token": staff_tokens[i % len(staff_tokens)]} for i in range(n)],
                )
            )
        if run % 2 == 0:
            scenarios.reverse()  # neither transport always meets the servers first
        for name, run_urls, socketio_auth in scenarios:
            recording = None
            if args.profile and run == 1 and name == "app" and n == max(args.counts):
                recording = Recording(servers[0].process.pid)
            print(f"run {run}: {name}: {n} clients ...", flush=True)
            try:
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
                        drain_limit=args.drain_seconds,
                        quiet=args.quiet_seconds,
                        profile=recording,
                    )
                )
                if recording is not None:
                    what = (
                        f"one of the {args.servers} {args.server} processes (pid "
                        f"{recording.pid}) over /ws/'s saturation at {n:,} clients, run {run}"
                    )
                    profile_note.append(what)
                    with contextlib.redirect_stdout(io.StringIO()) as text:
                        profiling.report(recording, what=what)
                    profile_note.append(text.getvalue())
            finally:
                if recording is not None:
                    recording.discard(keep=args.profile_out)
            results.append(result)
            print(f"  {line_of(result)}", flush=True)
    for server in servers:
        server.stop()
    servers.clear()
    return results


def load_now() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def line_of(r: Result) -> str:
    return (
        f"p50 {r.p50:.1f} ms, p99 {r.p99:.1f} ms, {r.per_second:,.0f} deliveries/s, "
        f"{r.posts_per_second:,.0f} POSTs/s, lost {r.lost}, drain {r.drain_s:.1f} s, "
        f"server cpu {r.server_cpu_s:.1f} s"
    )


def run_node_side(
    args: argparse.Namespace, *, peer_dir: Path, redis_url: str, run: int, deadline: float
) -> tuple[list[Result], list[str]]:
    print(
        f"run {run}: Node peer (MODE=full, 2 processes; load {load_now()}): {args.clients} "
        "clients ...",
        flush=True,
    )
    staff = args.staff_users or max(args.counts)
    results, notes = node_peer.run_peer(
        peer_dir,
        counts=args.counts,
        senders=args.senders,
        seconds=args.seconds,
        probes=args.probes,
        staff=staff,
        redis_url=redis_url,
        ports=[free_port(), free_port()],
        database=f"bench_node_{uuid.uuid4().hex[:8]}",
        timeout=max(60.0, min(300.0 * len(args.counts), deadline - time.monotonic() - 60)),
    )
    converted = [Result.from_peer(row, seconds=args.seconds) for row in results]
    for r in converted:
        print(f"  {r.clients} clients: {line_of(r)}", flush=True)
    return converted, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis), on 127.0.0.1.")
    check_loopback(database_url, "DATABASE_URL")
    check_loopback(redis_url, "REDIS_URL")
    peer_redis = args.peer_redis_url or redis_url
    check_loopback(peer_redis, "the Node peer's Redis URL")
    peer_dir = node_peer.find_peer_dir(args.peer_dir) if "node" in args.side_list else None
    if peer_dir is not None:
        node_peer.installed_modules(peer_dir)  # before the clock: npm ci once per lock file
    if args.profile:
        profiling.py_spy()

    def out_of_time(*_):
        raise TimeoutError(f"stopped after --max-seconds={args.max_seconds}")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.max_seconds)
    deadline = time.monotonic() + args.max_seconds

    product_sides = [s for s in args.side_list if s != "node"]
    bench_db = create_database(database_url) if product_sides else None
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    servers: list = []
    results: list[Result] = []
    notes: list[str] = []
    profile_note: list[str] = []
    try:
        env = None
        setups: dict = {}
        if bench_db:
            os.environ.update(
                DJANGO_SETTINGS_MODULE="crm.settings",
                DATABASE_URL=bench_db,
                REDIS_KEY_PREFIX=prefix,
                DEBUG="false",
                # The tokens are minted once, here: valid for the whole run, not 15 minutes.
                JWT_ACCESS_MINUTES=str(args.max_seconds // 60 + 10),
            )
            import django

            django.setup()
            logging.getLogger("channels_redis").setLevel(logging.WARNING)  # "over capacity"
            from django.core.management import call_command
            from django.db import connections

            print(f"migrating {urlparse(bench_db).path[1:]} ...", flush=True)
            call_command("migrate", verbosity=0)
            setups = {
                n: organization_with(
                    f"bench{n}",
                    staff=min(n, args.staff_users) if args.staff_users else n,
                    customers=args.senders,
                )
                for n in args.counts
            }
            connections.close_all()
            env = server_environment(
                database_url=bench_db,
                redis_url=redis_url,
                key_prefix=prefix,
                RATE_LIMITS="messages_user=1000000/min,ws_frames=1000000/10s",
            )
        seq = itertools.count(1)
        for run in range(1, args.runs + 1):
            for side in args.side_list:
                if side == "node":
                    peer_results, peer_notes = run_node_side(
                        args, peer_dir=peer_dir, redis_url=peer_redis, run=run, deadline=deadline
                    )
                    results += peer_results
                    notes += peer_notes
                else:
                    results += run_product_side(
                        side,
                        args,
                        env=env,
                        setups=setups,
                        seq=seq,
                        servers=servers,
                        run=run,
                        profile_note=profile_note,
                    )
    finally:
        signal.alarm(0)
        for server in servers:
            server.stop()
        if bench_db:
            from django.db import connections

            connections.close_all()
            drop_database(bench_db)
            delete_keys(redis_url, prefix)

    summaries = summarize(results)
    print_table(summaries, runs=args.runs, server=args.server)
    print_ratios(summaries)
    checks = budget_checks(summaries)
    ok = print_checks(checks)
    if args.json:
        write_json(args.json, results, summaries, checks, args)
    for note in sorted(set(notes)) + warnings(results):
        print(f"note: {note}")
    if args.profile and len(profile_note) > 1:
        print(profile_note[1], end="")
        print("note: that run's /ws/ figures were measured under py-spy (they are in the medians)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nbudgets: {'all met' if ok else 'NOT met'}"
        f"{' (some not measured)' if any(c.passed is None for c in checks) else ''} "
        f"(machine: {os.cpu_count()} CPUs, load average {load}; python {sys.version.split()[0]}; "
        f"server {args.server})"
    )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
