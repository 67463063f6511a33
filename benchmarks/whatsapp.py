"""WhatsApp and API-channel latency against the Graph API stand-in and the callback sink, on
loopback only; stops by itself.

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm_wa REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/whatsapp.py [--port 8000]

Like ``benchmarks/telegram.py``: a scratch database (``<name>_bench``, dropped at the end), a
scratch Redis key prefix, the stand-ins in this process, one daphne process and one Celery
worker, one staff WebSocket. For each channel it measures:

- webhook: ``--rate`` signed deliveries per second for ``--seconds`` (text messages from
  ``--senders`` customers, new ones first, then returning), time to the webhook's answer. The
  API channel stores the message inside the request (the bridge gets its id back), so its
  answer includes the whole receive path;
- inbound → staff frame: from the POST of each delivery to its ``message:new`` on the socket;
- reply → provider: ``--replies`` operator replies POSTed one at a time, from the POST to the
  Graph stand-in receiving ``/messages`` (WhatsApp) or the sink receiving the callback (API).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.realtime_latency import (  # noqa: E402
    check_loopback,
    create_database,
    delete_keys,
    drop_database,
    percentile,
)
from benchmarks.telegram import start_worker  # noqa: E402

BUDGET = {
    "webhook": {"p50_ms": 50, "p99_ms": 1000},
    "inbound_to_frame": {"p50_ms": 300, "p99_ms": 2000},
    "reply_to_provider": {"p50_ms": 300, "p99_ms": 2000},
}
# The API channel's answer is the stored message: its webhook budget is the frame's.
API_WEBHOOK_BUDGET = {"p50_ms": 150, "p99_ms": 1000}
WA_TOKEN = "EAAGbench-access-token-0123456789"
WA_SECRET = "bench-app-secret"
WA_NUMBER = "100200300400500"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--senders", type=int, default=50, help="distinct customers")
    parser.add_argument("--replies", type=int, default=30, help="operator replies per channel")
    parser.add_argument("--port", type=int, default=0, help="daphne's port (0: any free one)")
    parser.add_argument("--standin-port", type=int, default=0, help="first of two ports")
    parser.add_argument("--worker-pool", default="threads")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--max-seconds", type=int, default=400, help="hard stop")
    return parser.parse_args()


def setup_organization(sink_url: str):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import Organization, Role, User
    from chats.services import inbox_create
    from operators.models import OperatorProfile

    org = Organization.objects.create(slug="wabench", name="WA bench")
    admin = User.objects.create_user(
        "admin@wabench.bench", "bench-Pass-1", role=Role.ADMIN, organization=org
    )
    operator = User.objects.create_user(
        "op@wabench.bench", "bench-Pass-2", role=Role.OPERATOR, organization=org
    )
    OperatorProfile.objects.get_or_create(user=operator)
    whatsapp, _ = inbox_create(
        actor=admin,
        kind="whatsapp",
        name="Bench WhatsApp",
        phone_number_id=WA_NUMBER,
        access_token=WA_TOKEN,
        app_secret=WA_SECRET,
        auto_assign=False,
    )
    api, generated = inbox_create(
        actor=admin, kind="api", name="Bench bridge", callback_url=sink_url, auto_assign=False
    )
    return whatsapp.pk, api.pk, generated["api_token"], str(AccessToken.for_user(operator))


def whatsapp_delivery(seq: int, senders: int) -> bytes:
    wa_id = str(79_000_000_000 + seq % senders)
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_NUMBER},
        "contacts": [{"profile": {"name": f"Customer {wa_id}"}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": f"wamid.BENCH{seq:08d}",
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": f"bench:{seq}"},
            }
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def api_delivery(seq: int, senders: int) -> bytes:
    contact = f"bridge-{seq % senders}"
    return json.dumps(
        {
            "message_id": f"bench-{seq}",
            "contact": {"id": contact, "name": f"Contact {contact}"},
            "text": f"bench:{seq}",
        }
    ).encode()


class Poster:
    """One keep-alive HTTP connection per thread; raw bodies (signatures cover the bytes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(
                "POST", path, body=body, headers={"Content-Type": "application/json", **headers}
            )
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            raise


async def phase(args, server, token: str, channel: str, post_one, reply_seen) -> dict:
    """Deliveries at the rate, frames on the socket, then replies one at a time."""
    from websockets.asyncio.client import connect

    sent_at: dict[int, float] = {}
    frame_ms: list[float] = []
    chat_ids: dict[int, int] = {}
    total = int(args.rate * args.seconds)
    got_all = asyncio.Event()
    ws = await connect(
        f"{server.ws_url}?token={token}", origin=server.url, proxy=None, max_queue=None
    )

    async def reader() -> None:
        async for raw in ws:
            now = time.monotonic()
            frame = json.loads(raw)
            if frame.get("type") != "message:new":
                continue
            text = frame["data"].get("text", "")
            if text.startswith("bench:"):
                seq = int(text.split(":")[1])
                if seq in sent_at:
                    frame_ms.append((now - sent_at[seq]) * 1000)
                    chat_ids[seq % args.senders] = frame["data"]["chat_id"]
                if len(frame_ms) >= total:
                    got_all.set()

    reading = asyncio.create_task(reader())
    webhook_ms: list[float] = []
    failures = 0
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(16)

    def deliver(seq: int) -> None:
        nonlocal failures
        start = time.monotonic()
        sent_at[seq] = start
        try:
            status = post_one(seq)
        except (OSError, http.client.HTTPException):
            failures += 1
            return
        if status != 200:
            failures += 1
        webhook_ms.append((time.monotonic() - start) * 1000)

    print(f"{channel} webhook: {total} deliveries at {args.rate:g}/s ...", flush=True)
    t0 = time.monotonic()
    futures = []
    for seq in range(total):
        delay = t0 + seq / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        futures.append(loop.run_in_executor(pool, deliver, seq))
    await asyncio.gather(*futures)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(got_all.wait(), timeout=30)

    print(f"{channel} replies: {args.replies} one at a time ...", flush=True)
    reply_ms: list[float] = []
    chats = list(chat_ids.values())
    poster = Poster(server.port)
    auth = {"Authorization": f"Bearer {token}"}
    for n in range(args.replies if chats else 0):
        text = f"reply:{channel}:{n}"
        start = time.monotonic()
        body = json.dumps({"text": text}).encode()
        status, _ = await loop.run_in_executor(
            pool, poster.post, f"/api/chats/{chats[n % len(chats)]}/messages", body, auth
        )
        if status != 201:
            failures += 1
            continue
        deadline = start + 10
        while time.monotonic() < deadline:
            at = reply_seen(text)
            if at is not None:
                reply_ms.append((at - start) * 1000)
                break
            await asyncio.sleep(0.002)
    reading.cancel()
    await ws.close()
    pool.shutdown()
    return {
        "webhook": webhook_ms,
        "inbound_to_frame": frame_ms,
        "reply_to_provider": reply_ms,
        "failures": failures,
        "expected": [total, total, args.replies],
    }


def report(channel: str, results: dict) -> bool:
    ok = results["failures"] == 0
    print(f"\n{channel:<10} {'measure':<18} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}   budget p50/p99")
    for (name, budget), expected in zip(BUDGET.items(), results["expected"], strict=True):
        if channel == "api" and name == "webhook":
            budget = API_WEBHOOK_BUDGET
        values = results[name]
        p50, p99 = (percentile(values, 0.5), percentile(values, 0.99)) if values else (0.0, 0.0)
        within = len(values) == expected and p50 <= budget["p50_ms"] and p99 <= budget["p99_ms"]
        ok &= within
        print(
            f"{channel:<10} {name:<18} {len(values):>5} {p50:>8.1f} {p99:>8.1f}   "
            f"{budget['p50_ms']}/{budget['p99_ms']} {'ok' if within else 'OVER BUDGET'}"
        )
    print(f"{channel:<10} failed requests: {results['failures']}")
    return ok


def main() -> int:
    args = parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis), on 127.0.0.1.")
    check_loopback(database_url, "DATABASE_URL")
    check_loopback(redis_url, "REDIS_URL")

    def out_of_time(*_):
        raise TimeoutError(f"stopped after --max-seconds={args.max_seconds}")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.max_seconds)

    from connectors.standins.callback_sink import CallbackSink
    from connectors.standins.whatsapp import GraphStandIn

    first = args.standin_port
    graph = GraphStandIn(first, tokens={WA_TOKEN}).start()
    sink = CallbackSink(first + 1 if first else 0).start()
    bench_db = create_database(database_url)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_URL=bench_db,
        REDIS_KEY_PREFIX=prefix,
        DEBUG="false",
        WHATSAPP_API_URL=graph.url,
        CONNECTOR_FETCH_ALLOWED_HOSTS="127.0.0.1",  # the sink on loopback, as a local bridge
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from connectors.whatsapp import signature_of
    from crm.tests.daphne_servers import server_environment, start_daphne

    server = worker = None
    try:
        print(f"migrating {urlparse(bench_db).path[1:]} ...", flush=True)
        call_command("migrate", verbosity=0)
        wa_inbox, api_inbox, api_token, token = setup_organization(sink.url)
        connections.close_all()
        env = server_environment(
            database_url=bench_db,
            redis_url=redis_url,
            key_prefix=prefix,
            WHATSAPP_API_URL=graph.url,
            RATE_LIMITS="messages_user=1000000/min",
            LOG_LEVEL="WARNING",
        )
        worker = start_worker(env, args.worker_pool, args.worker_concurrency)
        server = start_daphne(env, port=args.port or None)
        time.sleep(2)  # the worker connects to the broker
        poster = Poster(server.port)

        def post_whatsapp(seq: int) -> int:
            body = whatsapp_delivery(seq, args.senders)
            headers = {"X-Hub-Signature-256": signature_of(body, WA_SECRET)}
            return poster.post(f"/api/webhooks/whatsapp/{wa_inbox}", body, headers)[0]

        def post_api(seq: int) -> int:
            body = api_delivery(seq, args.senders)
            headers = {"Authorization": f"Bearer {api_token}"}
            return poster.post(f"/api/webhooks/api/{api_inbox}", body, headers)[0]

        def graph_seen(text: str) -> float | None:
            for call in graph.calls("messages"):
                if (call.body.get("text") or {}).get("body") == text:
                    return call.at
            return None

        def sink_seen(text: str) -> float | None:
            for received in sink.received():
                if received.json()["message"]["text"] == text:
                    return time.monotonic() - (time.time() - received.at)
            return None

        wa = asyncio.run(phase(args, server, token, "whatsapp", post_whatsapp, graph_seen))
        api = asyncio.run(phase(args, server, token, "api", post_api, sink_seen))
        ok = report("whatsapp", wa)
        ok = report("api", api) and ok
        return 0 if ok else 1
    finally:
        signal.alarm(0)
        if server is not None:
            server.stop()
        if worker is not None:
            worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=15)
            if worker.poll() is None:
                worker.kill()
        graph.stop()
        sink.stop()
        connections.close_all()
        drop_database(bench_db)
        delete_keys(redis_url, prefix)


if __name__ == "__main__":
    sys.exit(main())
