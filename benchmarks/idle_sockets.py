"""Idle sockets: what N authenticated, idle WebSockets cost one server process.

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/idle_sockets.py [--sockets 20000] [--hold 120] [--strict]

On PostgreSQL + Redis (loopback only): a scratch database beside DATABASE_URL's
(``<name>_idle``, filled once with ``--users`` users of one organization, a tenth of them staff;
reused until ``--rebuild``), a scratch Redis key prefix, one daphne process of the app with
``PRESENCE_HEARTBEAT_SECONDS=--heartbeat``. Separate client processes (a small asyncio
WebSocket client each, answering daphne's pings) open ``--sockets`` sockets with ``?token=``
JWTs of those users at most ``--rate`` per second, wait for each ``connection:established``,
then hold them idle for ``--hold`` seconds. Printed, against the budgets of issue 14:

- the server's RSS per socket: RSS at the end of the hold minus RSS before (after a warm-up
  socket), divided by the sockets (KiB; budget 40);
- its CPU over the hold, in % of one core, from /proc/<pid>/stat (budget 5%);
- the Redis connections the server process holds (``CLIENT LIST`` entries on its sockets; the
  most seen over the hold, by client name; budget 20);
- sockets dropped during the hold, as the clients count closes (budget 0);
- that the heartbeats ran: presence entries alive at the end (all of them, though the hold is
  longer than PRESENCE_TIMEOUT_SECONDS) and the age of the oldest one.

``--strict`` exits 1 when a figure is over budget. ``--profile`` also counts the server's
objects by type (gc) and its allocations by line (tracemalloc) before and after the sockets
opened, and prints the per-socket difference: what a socket costs, object by object.

A process cannot hold more sockets than its open-files limit (``ulimit -Hn``): ``--sockets``
is lowered to fit, with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KIB_PER_SOCKET_BUDGET = 40.0
CPU_PERCENT_BUDGET = 5.0
REDIS_CONNECTIONS_BUDGET = 20
PER_CLIENT_PROCESS = 12_000  # sockets per client process (each under the open-files limit)
FD_HEADROOM = 300  # the server's other files: listening socket, database, Redis, logs...
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def raise_open_files() -> int:
    """Raise the soft open-files limit to the hard one; returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- The client processes: a minimal WebSocket client per socket ----------------------------


class Socket(asyncio.Protocol):
    """One client WebSocket: the handshake, then frames read (pings answered, the first text
    frame taken as connection:established); a close it did not ask for is a drop."""

    def __init__(self, tally: Tally, request: bytes):
        self.tally, self.request = tally, request
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.established = asyncio.get_running_loop().create_future()
        self.closing = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                return
            self.upgraded = True
        self._frames()

    def _frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                (length,) = struct.unpack("!H", self.buffer[2:4])
                start = 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                (length,) = struct.unpack("!Q", self.buffer[2:10])
                start = 10
            if len(self.buffer) < start + length:
                return
            payload = self.buffer[start : start + length]
            self.buffer = self.buffer[start + length :]
            if opcode == 0x9:  # ping
                self._send(0xA, payload)
            elif opcode == 0x8:  # close
                if not self.closing:
                    self.tally.closed_by_server += 1
                    self._send(0x8, payload[:2])
                self.transport.close()
            elif opcode == 0x1:
                self.tally.frames += 1
                if not self.established.done():
                    if b"connection:established" in payload:
                        self.established.set_result(True)
                    else:
                        self._fail(payload[:200].decode(errors="replace"))

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _fail(self, why: str) -> None:
        if not self.established.done():
            self.established.set_exception(ConnectionError(why))
        self.transport.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))

    def connection_lost(self, exc) -> None:
        if not self.established.done():
            self.established.set_exception(ConnectionError(f"lost: {exc}"))
        elif not self.closing:
            self.tally.dropped += 1


class Tally:
    def __init__(self) -> None:
        self.dropped = self.closed_by_server = self.frames = 0


async def client_main(args, tokens: list[str]) -> None:
    """Open ``--count`` sockets, say so on stdout, hold until told, report, close."""
    parts = urlsplit(args.url)
    host, port = parts.hostname, parts.port
    loop = asyncio.get_running_loop()
    tally = Tally()
    sockets: list[Socket] = []
    failures: Counter = Counter()
    gate = asyncio.Semaphore(args.in_flight)
    interval = 1.0 / args.rate

    def request(n: int) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        token = tokens[(args.offset + n) % len(tokens)]
        return (
            f"GET {parts.path}?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Origin: http://{host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    async def one(n: int) -> None:
        async with gate:
            sock = None
            try:
                # Source addresses 127.0.0.2-9: enough ephemeral ports for every socket.
                _, sock = await loop.create_connection(
                    lambda: Socket(tally, request(n)),
                    host,
                    port,
                    local_addr=(f"127.0.0.{2 + n % 8}", 0),
                )
                await asyncio.wait_for(sock.established, 60)
                sockets.append(sock)
            except Exception as exc:
                failures[str(exc)[:80] or type(exc).__name__] += 1
                if sock is not None and sock.transport is not None:
                    sock.closing = True
                    sock.transport.abort()  # not established in time: not held either

    started = time.monotonic()
    tasks = []
    for n in range(args.count):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.monotonic()))
    await asyncio.gather(*tasks)
    report = {
        "opened": len(sockets),
        "failed": sum(failures.values()),
        "failures": failures.most_common(3),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := (await reader.readline()).strip()) != b"report":
        if line == b"hold":
            tally.dropped = tally.closed_by_server = 0  # count from the hold's start
        elif not line:
            return  # the benchmark went away
    print(
        json.dumps(
            {
                "dropped": tally.dropped,
                "closed_by_server": tally.closed_by_server,
                "open": sum(1 for s in sockets if not s.transport.is_closing()),
                "frames": tally.frames,
            }
        ),
        flush=True,
    )
    for sock in sockets:
        sock.close()
    await asyncio.sleep(2)


# --- The server side: memory, CPU, Redis ----------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A debug aid loaded into the server (``--profile``): on SIGUSR1 it writes its object counts by
# type and, with PYTHONTRACEMALLOC, its allocations by line to IDLE_PROFILE_PATH.<n>.json.
SITECUSTOMIZE = textwrap.dedent(
    """
    import gc, json, os, signal, sys, tracemalloc
    from collections import Counter

    _dumps = [0]

    def _dump(signum, frame):
        _dumps[0] += 1
        gc.collect()
        types = Counter()
        for o in gc.get_objects():
            t = type(o)
            types[f"{t.__dict__.get('__module__', '?')}.{t.__name__}"] += 1
        lines = {}
        if tracemalloc.is_tracing():
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:400]:
                frame = stat.traceback[0]
                lines[f"{frame.filename}:{frame.lineno}"] = [stat.size, stat.count]
        path = f"{os.environ['IDLE_PROFILE_PATH']}.{_dumps[0]}.json"
        with open(path + ".part", "w") as out:
            json.dump({"types": types, "lines": lines}, out)
        os.replace(path + ".part", path)

    signal.signal(signal.SIGUSR1, _dump)
    """
)


def profile_dump(pid: int, base: str, n: int, wait: float = 120) -> dict:
    os.kill(pid, signal.SIGUSR1)
    path = Path(f"{base}.{n}.json")
    deadline = time.monotonic() + wait
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server wrote no profile")
        time.sleep(0.5)
    return json.loads(path.read_text())


def print_profile(before: dict, after: dict, sockets: int) -> None:
    print("\nPer socket, objects by type (gc, after minus before, / sockets):")
    types = Counter(after["types"])
    types.subtract(before["types"])
    for name, count in types.most_common(25):
        if count / sockets < 0.05:
            break
        print(f"  {count / sockets:8.2f}  {name}")
    if after["lines"]:
        print("Per socket, allocations by line (tracemalloc, after minus before, / sockets):")
        grown = []
        for line, (size, count) in after["lines"].items():
            old_size, old_count = before["lines"].get(line, (0, 0))
            grown.append((size - old_size, count - old_count, line))
        grown.sort(reverse=True)
        total = sum(g[0] for g in grown if g[0] > 0)
        print(f"  (traced growth {total / sockets / 1024:.1f} KiB per socket)")
        by_package: Counter = Counter()
        for size, _count, line in grown:
            by_package[_package(line)] += size
        print(
            "  by package: "
            + ", ".join(f"{p} {b / sockets / 1024:.1f}" for p, b in by_package.most_common(12))
            + " (KiB per socket)"
        )
        for size, count, line in grown[:25]:
            short = line.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"  {size / sockets:8.0f} B {count / sockets:6.2f} blocks  {short}")


def _package(line: str) -> str:
    path = line.rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0]
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1 :].split("/")[0]
    return path.rsplit("/", 2)[-2] if "/asyncio/" in path else "stdlib"


def presence_check(redis_url: str, prefix: str, user_ids: list[int], within: float):
    """(entries alive, entries refreshed in the last ``within`` seconds) over the users'
    presence sets."""
    from chats.presence import RedisConnections
    from crm.redis import client

    alive = sum(RedisConnections(redis_url, prefix).alive(user_ids).values())
    redis = client(redis_url)
    seconds, micros = redis.time()
    since = seconds + micros / 1e6 - within
    pipe = redis.pipeline(transaction=False)
    for uid in user_ids:
        pipe.zcount(f"{prefix}:presence:{uid}", since, "+inf")
    return alive, sum(pipe.execute())


def delete_keys(redis_url: str, prefix: str) -> None:
    from crm.redis import client

    redis = client(redis_url)
    keys = list(redis.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        redis.delete(*keys[start : start + 1000])


def fill(users: int) -> None:
    from django.core.management import call_command

    from accounts.models import Organization, Role, User

    call_command("migrate", verbosity=0)

    org = Organization.objects.create(slug="idle", name="Idle sockets")
    User.objects.bulk_create(
        [
            User(
                email=f"u{i}@idle.bench",
                name=f"User {i}",
                role=Role.OPERATOR if i % 10 == 0 else Role.CUSTOMER,
                organization=org,
            )
            for i in range(users)
        ],
        batch_size=1000,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--hold", type=float, default=120, help="seconds held idle")
    parser.add_argument("--users", type=int, default=300, help="users the sockets sign in as")
    parser.add_argument("--rate", type=float, default=400, help="sockets opened per second")
    parser.add_argument("--in-flight", type=int, default=200, help="handshakes at once")
    parser.add_argument("--heartbeat", type=int, default=15, help="PRESENCE_HEARTBEAT_SECONDS")
    parser.add_argument("--strict", action="store_true", help="exit 1 when over a budget")
    parser.add_argument("--profile", action="store_true", help="per-socket objects (slower)")
    parser.add_argument("--rebuild", action="store_true", help="drop and refill the database")
    # The client processes' own options.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.client:
        raise_open_files()
        asyncio.run(client_main(args, json.loads(Path(args.tokens).read_text())))
        return 0
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis), on 127.0.0.1.")
    for url in (database_url, redis_url):
        if urlsplit(url).hostname not in LOOPBACK_HOSTS:
            sys.exit("DATABASE_URL and REDIS_URL must point at 127.0.0.1: loopback only.")
    limit = raise_open_files()  # the server inherits it
    if args.sockets > limit - FD_HEADROOM:
        print(
            f"Note: the open-files limit is {limit} (ulimit -Hn): one process holds at most "
            f"{limit - FD_HEADROOM} sockets; --sockets {args.sockets} → {limit - FD_HEADROOM}."
        )
        args.sockets = limit - FD_HEADROOM

    import scratch

    def filled() -> bool:
        from accounts.models import User

        return User.objects.filter(email__endswith="@idle.bench").count() == args.users

    scratch.prepare("idle", rebuild=args.rebuild, filled=filled, fill=lambda: fill(args.users))
    from django.db import connections
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from crm.redis import connections_of
    from crm.tests.daphne_servers import server_environment, start_daphne

    users = list(User.objects.filter(email__endswith="@idle.bench").order_by("pk"))
    user_ids = [u.pk for u in users]
    work = Path(tempfile.mkdtemp(prefix="idle-sockets-"))
    tokens_path = work / "tokens.json"
    tokens_path.write_text(json.dumps([str(AccessToken.for_user(u)) for u in users]))
    User.objects.filter(pk__in=user_ids).update(is_online=False)
    connections.close_all()

    prefix = f"bench:idle:{uuid.uuid4().hex[:8]}"
    extra = {
        "PRESENCE_HEARTBEAT_SECONDS": str(args.heartbeat),
        "JWT_ACCESS_MINUTES": "600",
        "LOG_LEVEL": "WARNING",
    }
    profile_base = str(work / "profile")
    if args.profile:
        (work / "sitecustomize.py").write_text(SITECUSTOMIZE)
        extra.update(
            PYTHONPATH=f"{work}:{os.environ.get('PYTHONPATH', '')}",
            PYTHONTRACEMALLOC="1",
            IDLE_PROFILE_PATH=profile_base,
        )
    env = server_environment(
        database_url=os.environ["DATABASE_URL"],  # the scratch one (scratch.prepare)
        redis_url=redis_url,
        key_prefix=prefix,
        **extra,
    )
    server = start_daphne(env, ready_timeout=60)
    clients: list[subprocess.Popen] = []
    try:
        pid = server.process.pid
        print(f"daphne pid {pid} on port {server.port}; {args.sockets} sockets, {args.users} users")
        # A warm-up socket: lazy imports and first-use caches are no socket's cost.
        warm = run_clients(args, server, tokens_path, 5, processes=1)
        assert json.loads(warm[0].stdout.readline())["opened"] == 5, "the warm-up failed"
        close_clients(warm)
        time.sleep(3)
        rss_before = rss_kib(pid)
        before = profile_dump(pid, profile_base, 1) if args.profile else None

        opening = time.monotonic()
        clients = run_clients(args, server, tokens_path, args.sockets)
        opened = [json.loads(c.stdout.readline() or "{}") for c in clients]
        opened_n = sum(o.get("opened", 0) for o in opened)
        failed = sum(o.get("failed", 0) for o in opened)
        print(
            f"opened {opened_n} sockets in {time.monotonic() - opening:.0f} s"
            + (f", {failed} failed: {[o.get('failures') for o in opened]}" if failed else "")
        )
        time.sleep(min(10, args.hold / 4))  # the opening's work (syncs, events) settles
        rss_opened = rss_kib(pid)

        for c in clients:
            c.stdin.write(b"hold\n")
            c.stdin.flush()
        redis_seen: list[int] = []
        names: Counter = Counter()
        cpu_start, hold_start = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - hold_start < args.hold:
            time.sleep(min(5, max(0, args.hold - (time.monotonic() - hold_start))))
            held = connections_of(pid, redis_url)
            redis_seen.append(len(held))
            if len(held) >= max(redis_seen):
                names = Counter(c.get("name") or "(unnamed)" for c in held)
        cpu_percent = 100 * (cpu_seconds(pid) - cpu_start) / (time.monotonic() - hold_start)
        rss_after = rss_kib(pid)
        fresh_within = args.heartbeat + 5
        alive, fresh = presence_check(redis_url, prefix, user_ids, fresh_within)
        after = profile_dump(pid, profile_base, 2) if args.profile else None
        reports = close_clients(clients)
        dropped = sum(r.get("dropped", 0) for r in reports)
        still_open = sum(r.get("open", 0) for r in reports)
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.kill()
        log_copy = work / "daphne.log"
        with contextlib.suppress(OSError):
            log_copy.write_text(server.log())
        server.stop()
        delete_keys(redis_url, prefix)

    per_socket = (rss_after - rss_before) / max(1, opened_n)
    rows = [
        ("RSS per socket", f"{per_socket:.1f} KiB", f"≤ {KIB_PER_SOCKET_BUDGET:.0f} KiB",
         per_socket <= KIB_PER_SOCKET_BUDGET),
        ("CPU while idle", f"{cpu_percent:.2f} % of a core", f"≤ {CPU_PERCENT_BUDGET:.0f} %",
         cpu_percent <= CPU_PERCENT_BUDGET),
        ("Redis connections", f"{max(redis_seen)} (most seen)", f"≤ {REDIS_CONNECTIONS_BUDGET}",
         max(redis_seen) <= REDIS_CONNECTIONS_BUDGET),
        ("dropped in the hold", f"{dropped}", "0", dropped == 0 and still_open == opened_n),
        ("sockets opened", f"{opened_n} of {args.sockets}", f"{args.sockets}",
         opened_n == args.sockets),
    ]  # fmt: skip
    print(f"\nIdle sockets: {opened_n} on one daphne, held {args.hold:.0f} s")
    print(
        f"  RSS {rss_before / 1024:.0f} MiB before, {rss_opened / 1024:.0f} MiB once opened, "
        f"{rss_after / 1024:.0f} MiB at the end of the hold"
    )
    print(f"  Redis connections of the server: {dict(names)} (samples {redis_seen})")
    print(f"  the server's log: {log_copy}")
    print(
        f"  presence after the hold: {alive} entries alive for {opened_n} sockets, {fresh} "
        f"refreshed in the last {fresh_within} s (heartbeat every {args.heartbeat} s)"
    )
    print(f"\n  {'':22}{'measured':>26}{'budget':>12}")
    for name, value, budget, ok in rows:
        print(f"  {name:22}{value:>26}{budget:>12}  {'ok' if ok else 'OVER'}")
    if after is not None:
        print_profile(before, after, opened_n)
    heartbeats_ran = alive == fresh == opened_n
    if not heartbeats_ran:
        print("  The presence heartbeats did not keep every entry fresh.")
    over = not all(ok for *_, ok in rows) or not heartbeats_ran
    return 1 if over and args.strict else 0


def run_clients(args, server, tokens_path: Path, count: int, processes: int | None = None):
    processes = processes or math.ceil(count / PER_CLIENT_PROCESS)
    share = math.ceil(count / processes)
    started = []
    for i in range(processes):
        n = min(share, count - i * share)
        started.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    f"--url={server.ws_url}",
                    f"--tokens={tokens_path}",
                    f"--count={n}",
                    f"--offset={i * share}",
                    f"--rate={args.rate / processes}",
                    f"--in-flight={max(1, args.in_flight // processes)}",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
    return started


def close_clients(clients: list[subprocess.Popen]) -> list[dict]:
    reports = []
    for c in clients:
        if c.stdout.readable() and c.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                c.stdin.write(b"report\n")
                c.stdin.flush()
    for c in clients:
        line = c.stdout.readline()
        with contextlib.suppress(ValueError):
            reports.append(json.loads(line))
        try:
            c.wait(timeout=30)
        except subprocess.TimeoutExpired:
            c.kill()
    return reports


if __name__ == "__main__":
    sys.exit(main())
