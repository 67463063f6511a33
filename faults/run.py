"""``make faults``: the whole stack under steady load, broken one part at a time.

It starts its own stack — two web processes (``python -m crm.server``), a Celery worker and
beat — on a private PostgreSQL database and a private ``redis-server`` on its own port, with S3
on a loopback moto server, the Telegram Bot API stand-in (a Telegram inbox per tenant) and the
callback sink as an API-channel bridge (an API inbox per tenant). Customers of two tenants send
at a steady rate over REST and WebSocket with client ids, retrying like a real client until the
server says the message is stored; each tenant's operator keeps a socket open, reconnects when
it drops and catches up over HTTP. Then, one after the other (``FAULTS``):

- ``redis``: Redis stopped for ``--outage`` seconds (30);
- ``postgres``: every PostgreSQL connection cut and new ones refused for ``--outage`` seconds;
- ``worker``: the Celery worker killed with SIGKILL in the middle of an S3 upload;
- ``telegram``: the Celery worker killed with SIGKILL while the Telegram stand-in holds an
  outbound ``sendMessage`` (staff replies to Telegram chats); more replies written while no
  worker runs. The held reply must end ``failed`` with ``delivery_unknown`` (the request left,
  nobody heard the answer: never sent again on its own) with one call at the stand-in; every
  other reply reaches the stand-in exactly once. Row ``telegram:out``: replies sent, stored,
  delivered once, duplicates, seconds from the new worker's start until each had its final
  state (the ambiguous one waits out the call timeout + 30 s);
- ``webhook``: one Telegram update posted to the webhook five times in a row (both web
  processes), another five times at once. Row ``webhook:in``: posts, 2xx answers, messages
  stored (must be 2), duplicates, seconds until both were stored;
- ``callback``: the API channel's bridge (the callback sink) down for ``--outage`` seconds
  while staff reply to bridge chats; it comes back on the same port. Every reply must end
  ``sent`` with exactly one callback the bridge answered 2xx (retried until it returns, none
  lost, none doubled). Row ``callback:out``: replies, stored, delivered once, duplicates,
  seconds from the bridge's return until each was sent;
- ``restart``: each web process restarted in turn (SIGTERM, start again on its port).

After each fault: every message a client was told was stored (2xx or ack) is in the database
exactly once, every operator has every message of its tenant (live or caught up), and
``/health/ready`` answers 200 again within 30 s of the fault's end. A table per fault, and a
non-zero exit on any loss, duplicate or slow recovery.

Adding a fault is one function in ``FAULTS`` plus, if it has its own invariant, one more
check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.server
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm.tests.daphne_servers import (
    BASE_DIR,
    free_port,
    http_json,
    server_environment,
    start_daphne,
)
from faults.stack import PrivateDatabase, PrivateRedis, database_count, seed

RECOVERY_LIMIT = 30.0
# Readiness probes have threads of their own: never queued behind the clients' requests.
PROBES = ThreadPoolExecutor(2, thread_name_prefix="probe")
SEND_INTERVAL = 0.5  # seconds between one customer's messages
TELEGRAM_TIMEOUT = 5.0  # the connector's call timeout in the stack (CONNECTOR_TIMEOUT_SECONDS)
TELEGRAM_HOLD = 4.0  # the stand-in holds the send the worker is killed in for this long


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- The stack ------------------------------------------------------------------------------


class SlowS3Proxy:
    """A loopback HTTP proxy in front of moto that holds every PUT for ``delay`` seconds, so
    that a worker can be killed while its upload is on the wire. ``puts`` counts them."""

    def __init__(self, target: str, delay: float = 4.0):
        proxy = self
        self.target, self.delay, self.puts = target, delay, 0
        self.put_started = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "PUT":
                    proxy.puts += 1
                    proxy.put_started.set()
                    time.sleep(proxy.delay)
                request = urllib.request.Request(
                    proxy.target + self.path, data=body, method=self.command
                )
                for key, value in self.headers.items():
                    if key.lower() not in ("host", "content-length", "connection"):
                        request.add_header(key, value)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    response = opener.open(request, timeout=30)
                    status, headers, data = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that died mid-request (the point of the exercise)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()


class Stack:
    def __init__(self, workdir: Path):
        from moto.server import ThreadedMotoServer

        self.workdir = workdir
        self.redis = PrivateRedis()
        self.db = PrivateDatabase()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self.s3 = SlowS3Proxy(f"http://127.0.0.1:{self.moto.get_host_and_port()[1]}")
        from connectors.standins.telegram import TelegramStandIn

        self.telegram = TelegramStandIn().start()
        from connectors.standins.callback_sink import CallbackSink

        self.sink = CallbackSink().start()
        self.sink_port = self.sink.server.server_address[1]
        self.sinks = [self.sink]  # every sink that ran (the bridge restarted is a new one)
        self.bucket = f"faults-{uuid.uuid4().hex[:8]}"
        self.env = server_environment(
            database_url=self.db.url,
            redis_url=self.redis.url,
            key_prefix="crm",
            JWT_ACCESS_MINUTES="120",
            RATE_LIMITS="messages_user=100000/min,ws_frames=100000/10s,uploads_user=1000/h",
            STORAGE_BACKEND="s3",
            S3_BUCKET=self.bucket,
            S3_ENDPOINT_URL=self.s3.endpoint,
            S3_REGION="us-east-1",
            S3_ACCESS_KEY_ID="test-access-key",
            S3_SECRET_ACCESS_KEY="test-secret-key",  # noqa: S106 (moto's)
            S3_ADDRESSING_STYLE="path",
            MEDIA_ROOT=str(workdir / "media"),
            MEDIA_PRIVATE_ROOT=str(workdir / "media" / "private"),
            MEDIA_REMOTE_RETRY_BACKOFF="1",
            CELERY_VISIBILITY_TIMEOUT="8",
            CELERY_UNACKED_RESTORE_INTERVAL="2",
            CELERY_UNACKED_RESTORE_THROTTLE="1",
            LOG_FORMAT="json",
            SHUTDOWN_GRACE_SECONDS="10",
            TELEGRAM_API_URL=self.telegram.url,
            CONNECTOR_TIMEOUT_SECONDS=str(TELEGRAM_TIMEOUT),
            CONNECTOR_RETRY_BACKOFF="1",
            CONNECTOR_RETRY_BACKOFF_MAX="8",
            CONNECTOR_FETCH_ALLOWED_HOSTS="127.0.0.1",  # the bridge (sink) on loopback
            FAULTS_CALLBACK_URL=self.sink.url,
        )
        self.servers: list = []
        self.ports = [free_port(), free_port()]
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.people: list[dict] = []

    def start(self, *, customers: int) -> None:
        self.redis.start()
        self.db.create(self.env)
        self.s3_client().create_bucket(Bucket=self.bucket)
        self.people = seed(self.env, tenants=2, customers=customers)
        self.servers = [start_daphne(self.env, port=p, graceful=True) for p in self.ports]
        self.start_worker()
        self.beat = self._celery(
            "beat", "--loglevel=WARNING", "-s", str(self.workdir / "beat-schedule")
        )

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.moto.get_host_and_port()[1]}",
            region_name="us-east-1",
            aws_access_key_id="test-access-key",
            aws_secret_access_key="test-secret-key",  # noqa: S106 (moto's)
        )

    def _celery(self, *args: str) -> subprocess.Popen:
        out = open(self.workdir / f"celery-{args[0]}.log", "a")  # noqa: SIM115
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "crm", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self) -> None:
        self.worker = self._celery(
            "worker", "--loglevel=INFO", "--concurrency=1", "--pool=solo", "-Q", "crm"
        )

    def restart_server(self, index: int) -> None:
        old = self.servers[index]
        old.process.send_signal(signal.SIGTERM)
        old.process.wait(timeout=30)
        old.stop()
        self.servers[index] = start_daphne(self.env, port=self.ports[index], graceful=True)

    def ready(self) -> bool:
        for server in self.servers:
            try:
                if http_json("GET", f"{server.url}/health/ready", timeout=5)[0] != 200:
                    return False
            except OSError:
                return False
        return True

    def close(self) -> None:
        for process in (self.worker, self.beat):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for server in self.servers:
            server.stop()
        self.redis.close()
        with contextlib.suppress(Exception):
            self.db.drop()
        self.s3.close()
        self.telegram.stop()
        with contextlib.suppress(Exception):
            self.sink.stop()
        self.moto.stop()


# --- Clients --------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What clients were told: client id → message id, per tenant."""

    acked: dict[str, int] = field(default_factory=dict)
    tenant_of: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    attempts: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


class Customer:
    """Sends a message every SEND_INTERVAL; alternates REST and WebSocket, and servers. Each
    message is retried with the same client id until it is acknowledged."""

    def __init__(self, stack: Stack, tenant: int, person: dict, ledger: Ledger, index: int):
        self.stack, self.tenant, self.person, self.ledger = stack, tenant, person, ledger
        self.index = index
        self.sock = None
        self.waiting: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    def server(self, n: int):
        return self.stack.servers[(self.index + n) % len(self.stack.servers)]

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            client_id = f"t{self.tenant}-c{self.person['id']}-{n}-{uuid.uuid4().hex[:6]}"
            self.ledger.sent += 1
            self.ledger.pending.add(client_id)
            self.ledger.tenant_of[client_id] = self.tenant
            asyncio.create_task(self.deliver(client_id, n))
            await asyncio.sleep(SEND_INTERVAL * random.uniform(0.8, 1.2))

    async def deliver(self, client_id: str, n: int) -> None:
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            self.ledger.attempts += 1
            via_ws = (n + attempt) % 2 == 0
            try:
                message_id = await (self.send_ws if via_ws else self.send_rest)(client_id, n)
            except Exception as exc:  # a real client retries whatever happened
                self.ledger.fail(f"{'ws' if via_ws else 'rest'}:{type(exc).__name__}")
                message_id = None
            if message_id is not None:
                self.ledger.acked[client_id] = message_id
                self.ledger.pending.discard(client_id)
                return
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 4)

    async def send_rest(self, client_id: str, n: int) -> int | None:
        server = self.server(n)
        status, body = await asyncio.to_thread(
            http_json,
            "POST",
            f"{server.url}/api/chats/{self.person['chat']}/messages",
            {"text": f"message {client_id}", "client_id": client_id},
            token=self.person["token"],
            timeout=15,
        )
        if status in (200, 201):
            return body["id"]
        self.ledger.fail(f"rest:{status}")
        return None

    async def send_ws(self, client_id: str, n: int) -> int | None:
        from websockets.asyncio.client import connect

        if self.sock is None or self.sock.state.name != "OPEN":
            server = self.server(n)
            self.sock = await asyncio.wait_for(
                connect(
                    f"{server.ws_url}?token={self.person['token']}",
                    origin=server.origin,
                    proxy=None,
                ),
                10,
            )
            self.reader = asyncio.create_task(self.read(self.sock))
        future = asyncio.get_running_loop().create_future()
        self.waiting[client_id] = future
        try:
            await self.sock.send(
                json.dumps(
                    {
                        "type": "message:send",
                        "id": client_id,
                        "data": {
                            "chat_id": self.person["chat"],
                            "text": f"message {client_id}",
                            "client_id": client_id,
                        },
                    }
                )
            )
            frame = await asyncio.wait_for(future, 15)
        finally:
            self.waiting.pop(client_id, None)
        if frame["type"] == "ack":
            return frame["data"]["id"]
        self.ledger.fail(f"ws:{frame['data'].get('code')}")
        return None

    async def read(self, sock) -> None:
        with contextlib.suppress(Exception):
            async for raw in sock:
                frame = json.loads(raw)
                future = self.waiting.get(frame.get("id"))
                if future is not None and not future.done():
                    future.set_result(frame)
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))
                future.exception()  # retrieved by the waiter, or by nobody if it gave up


class Operator:
    """A staff socket of one tenant: message ids seen live; reconnects and catches up over
    HTTP (``?after=`` the last id it has, per chat) whenever its socket opens."""

    def __init__(self, stack: Stack, tenant: dict, index: int):
        self.stack, self.tenant, self.index = stack, tenant, index
        self.seen: set[int] = set()
        self.live = 0
        self.caught_up = 0
        self.reconnects = 0
        self.closes: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        n = self.index
        delay = 0.5
        while not stop.is_set():
            server = self.stack.servers[n % len(self.stack.servers)]
            n += 1
            try:
                async with connect(
                    f"{server.ws_url}?token={self.tenant['operator']['token']}",
                    origin=server.origin,
                    proxy=None,
                    open_timeout=10,
                ) as sock:
                    await self.catch_up()
                    delay = 0.5
                    async for raw in sock:
                        frame = json.loads(raw)
                        if frame["type"] == "message:new" and frame["data"]["id"] not in self.seen:
                            self.seen.add(frame["data"]["id"])
                            self.live += 1
                        if stop.is_set():
                            break
                    code = sock.close_code
            except Exception as exc:
                code = type(exc).__name__
            self.closes[str(code)] = self.closes.get(str(code), 0) + 1
            self.reconnects += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 4)

    async def catch_up(self) -> None:
        for person in self.tenant["customers"]:
            after = max((i for i in self.seen_in.get(person["chat"], ())), default=0)
            while True:
                server = self.stack.servers[0]
                status, body = await asyncio.to_thread(
                    http_json,
                    "GET",
                    f"{server.url}/api/chats/{person['chat']}/messages?after={after}&limit=200",
                    token=self.tenant["operator"]["token"],
                    timeout=15,
                )
                if status != 200:
                    raise ConnectionError(f"catch-up answered {status}")
                for message in body["results"]:
                    self.seen_in.setdefault(person["chat"], set()).add(message["id"])
                    if message["id"] not in self.seen:
                        self.seen.add(message["id"])
                        self.caught_up += 1
                    after = max(after, message["id"])
                if not body["has_more"]:
                    break

    @property
    def seen_in(self) -> dict[int, set[int]]:
        if not hasattr(self, "_seen_in"):
            self._seen_in: dict[int, set[int]] = {}
        return self._seen_in


# --- Faults ---------------------------------------------------------------------------------


async def fault_redis(stack: Stack, outage: float) -> None:
    stack.redis.stop()
    await asyncio.sleep(outage)
    stack.redis.start()


async def fault_postgres(stack: Stack, outage: float) -> None:
    stack.db.refuse()
    deadline = time.monotonic() + outage
    while time.monotonic() < deadline:  # connections that slip in are cut again
        await asyncio.sleep(min(2, max(0, deadline - time.monotonic())))
        stack.db.refuse()  # a few milliseconds: on the loop, never queued behind clients
    stack.db.allow()


async def fault_worker(stack: Stack, outage: float) -> dict:
    """Upload a file; kill -9 the worker while its S3 PUT is held by the proxy; start a new
    worker. The file must reach S3 (state ``remote``), once."""
    person = stack.people[0]["customers"][0]
    server = stack.servers[0]
    stack.s3.put_started.clear()
    puts_before = stack.s3.puts
    from media.tests.samples import png

    content = png(size=(600, 400))
    status, body = await asyncio.to_thread(_upload, server.url, person["token"], content)
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {body}")
    started = await asyncio.to_thread(stack.s3.put_started.wait, 30)
    if not started:
        raise RuntimeError("the worker never started the upload")
    stack.worker.send_signal(signal.SIGKILL)
    stack.worker.wait(timeout=10)
    killed_puts = stack.s3.puts - puts_before
    stack.start_worker()
    deadline = time.monotonic() + 90
    state = None
    while time.monotonic() < deadline:
        state = database_count(
            stack.db.url, "SELECT storage_state FROM media_mediafile WHERE id = %s", body["id"]
        )[0][0]
        if state == "remote":
            break
        await asyncio.sleep(1)
    key = database_count(
        stack.db.url, "SELECT file FROM media_mediafile WHERE id = %s", body["id"]
    )[0][0]
    copies = stack.s3_client().list_objects_v2(Bucket=stack.bucket, Prefix=key).get("KeyCount")
    return {
        "media_id": body["id"],
        "state": state,
        "puts_when_killed": killed_puts,
        "s3_copies": copies,
    }


def _upload(url: str, token: str, content: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(f"{url}/api/media", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"raw": error.read()[:300].decode(errors="replace")}


async def fault_restart(stack: Stack, outage: float) -> None:
    for index in range(len(stack.servers)):
        await asyncio.to_thread(stack.restart_server, index)
        await asyncio.sleep(3)


def _reply(stack: Stack, tenant: dict, chat: int, text: str) -> int:
    status, body = http_json(
        "POST",
        f"{stack.servers[0].url}/api/chats/{chat}/messages",
        {"text": text, "client_id": uuid.uuid4().hex},
        token=tenant["telegram"]["admin"]["token"],
        timeout=15,
    )
    if status not in (200, 201):
        raise RuntimeError(f"staff reply answered {status}: {body}")
    return body["id"]


async def fault_telegram(stack: Stack, outage: float) -> dict:
    """Staff replies to Telegram chats; the stand-in holds the first ``sendMessage`` and the
    worker is killed with SIGKILL while it waits for the answer; more replies are written while
    no worker runs; a new worker starts. The held reply is ambiguous (the request left, nobody
    heard the answer): it must end ``failed`` with ``delivery_unknown`` and never be sent a
    second time; every other reply reaches the stand-in exactly once."""
    run = uuid.uuid4().hex[:6]
    chats = [
        (tenant, chat["chat"]) for tenant in stack.people for chat in tenant["telegram"]["chats"]
    ]
    stack.telegram.fail("sendMessage", "timeout", seconds=TELEGRAM_HOLD)
    texts: dict[int, str] = {}
    held_text = f"reply {run}-held"
    held = await asyncio.to_thread(_reply, stack, chats[0][0], chats[0][1], held_text)
    texts[held] = held_text
    deadline = time.monotonic() + 30
    while stack.telegram.state.failures.get("sendMessage"):  # taken: the request is held
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never started the Telegram send")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    stack.worker.send_signal(signal.SIGKILL)
    stack.worker.wait(timeout=10)
    for n, (tenant, chat) in enumerate(chats * 2):
        text = f"reply {run}-{n}"
        texts[await asyncio.to_thread(_reply, stack, tenant, chat, text)] = text
    stack.start_worker()
    restarted = time.monotonic()
    deadline = restarted + TELEGRAM_TIMEOUT + 90
    states: dict[int, tuple] = {}
    while time.monotonic() < deadline:
        states = {
            row[0]: row[1:]
            for row in database_count(
                stack.db.url,
                "SELECT id, delivery, delivery_error->>'code' FROM chats_message "
                "WHERE id = ANY(%s)",
                list(texts),
            )
        }
        if all(state[0] in ("sent", "failed") for state in states.values()):
            break
        await asyncio.sleep(0.5)
    settled = time.monotonic() - restarted
    await asyncio.sleep(1)  # a straggling second copy would show now
    calls = [c.params.get("text") for c in stack.telegram.calls("sendMessage")]
    copies = {pk: calls.count(text) for pk, text in texts.items()}
    others = [pk for pk in texts if pk != held]
    return {
        "channel": {
            "sent": len(texts),
            "acked": len(texts),
            "stored": len(states),
            "delivered": sum(1 for pk in others if copies[pk] == 1 and states[pk][0] == "sent"),
            "lost": sum(1 for pk in others if copies[pk] == 0 or states[pk][0] != "sent"),
            "duplicates": sum(1 for n in copies.values() if n > 1),
            "recovery": settled,
        },
        "held": {"copies": copies[held], "state": list(states.get(held, ()))},
    }


def _post_update(url: str, inbox: int, secret: str, update: dict) -> int:
    request = urllib.request.Request(
        f"{url}/api/webhooks/telegram/{inbox}", data=json.dumps(update).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def fault_webhook(stack: Stack, outage: float) -> dict:
    """One Telegram update posted five times one after the other (both web processes), another
    five times at once: each must be stored as exactly one message."""
    tenant = stack.people[-1]
    telegram = tenant["telegram"]
    user_id = telegram["chats"][0]["user_id"]
    base = random.randint(10**6, 10**8)
    updates = [
        {
            "update_id": base + n,
            "message": {
                "message_id": base + n,
                "from": {"id": user_id, "is_bot": False, "first_name": "Replay"},
                "chat": {"id": user_id, "first_name": "Replay", "type": "private"},
                "date": int(time.time()),
                "text": f"replayed update {base + n}",
            },
        }
        for n in range(2)
    ]
    post = functools.partial(_post_update, inbox=telegram["inbox"], secret=telegram["secret"])
    statuses = []
    for n in range(5):
        url = stack.servers[n % len(stack.servers)].url
        statuses.append(await asyncio.to_thread(post, url, update=updates[0]))
    statuses += await asyncio.gather(
        *(asyncio.to_thread(post, stack.servers[n % 2].url, update=updates[1]) for n in range(5))
    )
    started = time.monotonic()
    ids = [str(u["message"]["message_id"]) for u in updates]
    rows: dict = {}
    while time.monotonic() - started < 60:
        rows = dict(
            database_count(
                stack.db.url,
                "SELECT m.external_id, count(*) FROM chats_message m "
                "JOIN chats_chat c ON c.id = m.chat_id "
                "WHERE c.inbox_id = %s AND m.external_id = ANY(%s) GROUP BY 1",
                telegram["inbox"],
                ids,
            )
        )
        if len(rows) == len(ids):
            break
        await asyncio.sleep(0.25)
    stored_in = time.monotonic() - started
    await asyncio.sleep(1)  # a late copy would show now
    rows = dict(
        database_count(
            stack.db.url,
            "SELECT m.external_id, count(*) FROM chats_message m "
            "JOIN chats_chat c ON c.id = m.chat_id "
            "WHERE c.inbox_id = %s AND m.external_id = ANY(%s) GROUP BY 1",
            telegram["inbox"],
            ids,
        )
    )
    return {
        "channel": {
            "sent": len(statuses),
            "acked": sum(1 for s in statuses if 200 <= s < 300),
            "stored": sum(rows.values()),
            "delivered": len(rows),
            "lost": len(ids) - len(rows),
            "duplicates": sum(1 for n in rows.values() if n > 1),
            "recovery": stored_in,
        },
        "statuses": statuses,
    }


async def fault_callback(stack: Stack, outage: float) -> dict:
    """The bridge goes down (its port refuses connections) for ``outage`` seconds while staff
    reply to bridge chats, then comes back on the same port: every reply is retried until it
    is accepted, and the bridge accepts each exactly once."""
    from connectors.standins.callback_sink import CallbackSink

    run = uuid.uuid4().hex[:6]
    chats = [(tenant, c["chat"]) for tenant in stack.people for c in tenant["api"]["chats"]]
    stack.sink.stop()
    texts: dict[int, str] = {}
    for n, (tenant, chat) in enumerate(chats):
        text = f"bridge reply {run}-{n}"
        texts[await asyncio.to_thread(_reply, stack, tenant, chat, text)] = text
    await asyncio.sleep(outage / 2)
    for n, (tenant, chat) in enumerate(chats, start=len(chats)):  # more while it is down
        text = f"bridge reply {run}-{n}"
        texts[await asyncio.to_thread(_reply, stack, tenant, chat, text)] = text
    await asyncio.sleep(outage / 2)
    early = database_count(
        stack.db.url,
        "SELECT count(*) FROM chats_message WHERE id = ANY(%s) AND delivery = 'sent'",
        list(texts),
    )[0][0]
    stack.sink = CallbackSink(stack.sink_port).start()
    stack.sinks.append(stack.sink)
    back = time.monotonic()
    states: dict[int, str] = {}
    while time.monotonic() - back < 90:
        states = dict(
            database_count(
                stack.db.url,
                "SELECT id, delivery FROM chats_message WHERE id = ANY(%s)",
                list(texts),
            )
        )
        if all(state in ("sent", "failed") for state in states.values()):
            break
        await asyncio.sleep(0.5)
    settled = time.monotonic() - back
    await asyncio.sleep(2)  # a straggling second copy would show now
    accepted: dict[int, int] = {}
    for sink in stack.sinks:
        for received in sink.received():
            if received.status < 300 and received.path == "/hook":
                pk = received.json()["message"]["id"]
                accepted[pk] = accepted.get(pk, 0) + 1
    return {
        "channel": {
            "sent": len(texts),
            "acked": len(texts),
            "stored": len(states),
            "delivered": sum(
                1 for pk in texts if accepted.get(pk) == 1 and states.get(pk) == "sent"
            ),
            "lost": sum(1 for pk in texts if not accepted.get(pk) or states.get(pk) != "sent"),
            "duplicates": sum(1 for n in accepted.values() if n > 1),
            "recovery": settled,
        },
        "sent_while_down": early,
    }


FAULTS = {
    "redis": fault_redis,
    "postgres": fault_postgres,
    "worker": fault_worker,
    "telegram": fault_telegram,
    "webhook": fault_webhook,
    "callback": fault_callback,
    "restart": fault_restart,
}


# --- The run --------------------------------------------------------------------------------


async def settle(
    stack: Stack, ledger: Ledger, operators: list[Operator], since: float, *, steady: float
) -> dict:
    """After a fault: the time until every web process is ready (from the fault's end), some
    steady load, then every pending send drained and the operators caught up."""
    recovery = None
    while time.monotonic() - since < 60:
        if await asyncio.get_running_loop().run_in_executor(PROBES, stack.ready):
            recovery = time.monotonic() - since
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(steady)
    deadline = time.monotonic() + 45
    while ledger.pending and time.monotonic() < deadline:  # noqa: ASYNC110 (polls the ledger)
        await asyncio.sleep(0.25)
    await asyncio.sleep(2)  # the last events reach the sockets
    for operator in operators:
        with contextlib.suppress(Exception):
            await operator.catch_up()
    return {"recovery": recovery}


def check(stack: Stack, ledger: Ledger, operators: list[Operator], ids: list[str]) -> dict:
    rows = dict(
        database_count(
            stack.db.url,
            "SELECT client_id, count(*) FROM chats_message WHERE client_id = ANY(%s) GROUP BY 1",
            ids,
        )
    )
    acked = [cid for cid in ids if cid in ledger.acked]
    lost = [cid for cid in acked if rows.get(cid, 0) == 0]
    duplicates = [cid for cid in ids if rows.get(cid, 0) > 1]
    undelivered = [
        cid for cid in acked if ledger.acked[cid] not in operators[ledger.tenant_of[cid]].seen
    ]
    return {
        "sent": len(ids),
        "acked": len(acked),
        "stored": sum(1 for cid in ids if rows.get(cid, 0) >= 1),
        "lost": len(lost),
        "duplicates": len(duplicates),
        "delivered": len(acked) - len(undelivered),
        "undelivered": len(undelivered),
        "pending": len([cid for cid in ids if cid in ledger.pending]),
    }


async def main(args) -> int:
    # Blocking HTTP clients run in threads: enough of them for every retrying customer.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(64))
    workdir = Path(tempfile.mkdtemp(prefix="crm-faults-"))
    stack = Stack(workdir)
    results: list[tuple[str, dict]] = []
    failed = False
    try:
        log(f"starting the stack in {workdir}")
        stack.start(customers=args.customers)
        ledger = Ledger()
        operators = [Operator(stack, tenant, i) for i, tenant in enumerate(stack.people)]
        customers = [
            Customer(stack, t, person, ledger, i)
            for t, tenant in enumerate(stack.people)
            for i, person in enumerate(tenant["customers"])
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(o.run(stop)) for o in operators]
        tasks += [asyncio.create_task(c.run(stop)) for c in customers]
        await asyncio.sleep(args.steady)
        for name in args.faults:
            first = len(ledger.tenant_of)
            log(f"fault {name}: start")
            started = time.monotonic()
            extra = await FAULTS[name](stack, args.outage) or {}
            ended = time.monotonic()
            log(f"fault {name}: over after {ended - started:.1f} s; checking")
            settled = await settle(stack, ledger, operators, ended, steady=args.steady)
            ids = list(ledger.tenant_of)[first:]
            row = {**check(stack, ledger, operators, ids), **settled, **extra}
            row["fault_seconds"] = round(ended - started, 1)
            channel = row.pop("channel", None)
            results.append((name, row))
            if channel is not None:
                direction = "out" if name in ("telegram", "callback") else "in"
                results.append((f"{name}:{direction}", channel))
            log(f"fault {name}: {row} {channel or ''}")
        stop.set()  # no new messages; those in flight are retried until stored
        deadline = time.monotonic() + 30
        while ledger.pending and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        await asyncio.sleep(2)
        for operator in operators:
            with contextlib.suppress(Exception):
                await operator.catch_up()
        for task in tasks:
            task.cancel()
        everything = check(stack, ledger, operators, list(ledger.tenant_of))
        results.append(("whole run", {**everything, "recovery": None}))
        print_table(results)
        print(f"failures seen by clients (then retried): {ledger.failures}")
        print(f"operator socket closes: {[o.closes for o in operators]}")
        print(f"delivered live / by catching up: {[(o.live, o.caught_up) for o in operators]}")
        for name, row in results:
            recovery = row.get("recovery")
            slow = name not in ("whole run",) and (recovery is None or recovery > RECOVERY_LIMIT)
            worker_lost = name == "worker" and (
                row.get("state") != "remote" or row.get("s3_copies") != 1
            )
            channel_row = ":" in name
            slow = slow and not channel_row
            held = row.get("held")
            telegram_wrong = name == "telegram" and (
                held is None
                or held["copies"] > 1
                or held["state"] != ["failed", "delivery_unknown"]
            )
            webhook_wrong = name == "webhook:in" and (
                row["acked"] != row["sent"] or row["stored"] != 2
            )
            callback_wrong = name == "callback:out" and row["delivered"] != row["sent"]
            callback_wrong = callback_wrong or (name == "callback" and row["sent_while_down"])
            undelivered = row.get("undelivered", 0)
            if (
                row["lost"]
                or row["duplicates"]
                or undelivered
                or slow
                or worker_lost
                or telegram_wrong
                or webhook_wrong
                or callback_wrong
            ):
                failed = True
                log(f"FAILED: {name}: {row}")
    except Exception:
        import traceback

        traceback.print_exc()
        failed = True
    finally:
        stack.close()
        if failed:
            for path in sorted(workdir.glob("*.log")):  # noqa: ASYNC240 (the run is over)
                print(f"--- {path.name} (tail)\n{path.read_text(errors='replace')[-3000:]}")
    return 1 if failed else 0


def print_table(results: list[tuple[str, dict]]) -> None:
    header = f"{'fault':<13} {'sent':>6} {'acked':>6} {'stored':>7} {'delivered':>9} "
    header += f"{'lost':>5} {'dups':>5} {'recovery s':>10}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, row in results:
        recovery = "-" if row.get("recovery") is None else f"{row['recovery']:.1f}"
        print(
            f"{name:<13} {row['sent']:>6} {row['acked']:>6} {row['stored']:>7} "
            f"{row['delivered']:>9} {row['lost']:>5} {row['duplicates']:>5} {recovery:>10}"
        )
    print()


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=30.0, help="seconds each part is down")
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of load around faults")
    parser.add_argument("--customers", type=int, default=3, help="customers per tenant")
    parser.add_argument(
        "--faults", nargs="+", default=list(FAULTS), choices=list(FAULTS), help="which, in order"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    try:
        code = asyncio.run(asyncio.wait_for(main(arguments), timeout=600))
    except TimeoutError:
        log("FAILED: the fault suite ran past 10 minutes")
        code = 1
    sys.exit(code)
