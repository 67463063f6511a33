"""End to end on PostgreSQL + Redis: two real daphne processes on loopback share events,
presence and tickets; real WebSocket clients (the ``websockets`` library) on each.

Sending over HTTP uses ``POST /api/chats/{id}/messages``, as an API client does.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.models import User
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import sync
from crm.tests.daphne_servers import http_json, server_environment, start_daphne

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

HEARTBEAT, TIMEOUT = 1, 3


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def environment(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = _database_url()  # the test database, which django_db_setup created
    return server_environment(
        database_url=url,
        redis_url=settings.REDIS_URL,
        key_prefix=f"{settings.TEST_REDIS_PREFIX}:e2e:{uuid.uuid4().hex[:6]}",
        PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        PRESENCE_TIMEOUT_SECONDS=str(TIMEOUT),
    )


@pytest.fixture(scope="module")
def servers(environment):
    started = []
    try:
        started.append(start_daphne(environment))
        started.append(start_daphne(environment))
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


@pytest.fixture(autouse=True)
def servers_settled(transactional_db):
    """After each test, wait for the servers to finish the work its closed sockets caused
    (presence): the test database is flushed next, and TRUNCATE would deadlock with it."""
    yield
    deadline = time.monotonic() + 10
    while User.objects.filter(is_online=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)  # the last sync's commit hooks (events, hook) run just after its commit


class Client:
    """A WebSocket client of one server, with the frames it has received."""

    def __init__(self, server, query: str):
        self.server, self.query = server, query
        self.received: list[dict] = []

    async def __aenter__(self) -> Client:
        self.conn = await connect(
            f"{self.server.ws_url}?{self.query}",
            origin=self.server.origin,
            proxy=None,
            ping_interval=None,  # truly idle when the test wants it idle
        )
        established = await self.next("connection:established")
        self.user_id = established["data"]["user"]["id"]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.conn.close()

    async def next(self, kind: str, wait: float = 5, **match) -> dict:
        """The next frame of type ``kind`` (whose data has ``match``), skipping others."""
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} {match} within {wait}s; got {self.received}")
            try:
                frame = json.loads(await asyncio.wait_for(self.conn.recv(), remaining))
            except TimeoutError:
                continue
            self.received.append(frame)
            data = frame.get("data") or {}
            if frame["type"] == kind and all(data.get(k) == v for k, v in match.items()):
                return frame

    async def send(self, kind: str, data: dict, rid: str | None = None) -> None:
        frame = {"type": kind, "data": data}
        if rid:
            frame["id"] = rid
        await self.conn.send(json.dumps(frame))


def token(user) -> str:
    return str(AccessToken.for_user(user))


async def http_send(server, user, chat, text: str) -> dict:
    status, body = await asyncio.to_thread(
        http_json,
        "POST",
        f"{server.url}/api/chats/{chat.id}/messages",
        {"text": text, "client_id": uuid.uuid4().hex},
        token=token(user),
    )
    assert status == 201, body
    return body


async def test_http_send_on_one_server_reaches_clients_on_the_other(
    servers, customer, operator, other_admin
):
    a, b = servers
    chat = await sync(support_chat)(customer)
    # A ticket issued by server A opens a socket on server B: tickets live in Redis.
    status, ticket = await asyncio.to_thread(
        http_json, "POST", f"{a.url}/api/auth/ws-ticket", token=token(operator)
    )
    assert status == 200
    async with (
        Client(b, f"ticket={ticket['ticket']}") as staff_on_b,
        Client(a, f"token={token(customer)}") as customer_on_a,
        Client(b, f"token={token(other_admin)}") as outsider_on_b,
    ):
        assert staff_on_b.user_id == operator.id
        sent = await http_send(a, customer, chat, "hello from A")
        got = await staff_on_b.next("message:new", id=sent["id"])
        assert got["data"]["chat_id"] == chat.id and got["data"]["text"] == "hello from A"
        await customer_on_a.next("message:new", id=sent["id"])

        # The other way: a WebSocket send on B reaches the customer on A.
        await staff_on_b.send("message:send", {"chat_id": chat.id, "text": "hi from B"}, "s1")
        ack = await staff_on_b.next("ack")
        assert ack["id"] == "s1"
        await customer_on_a.next("message:new", id=ack["data"]["id"])

        # Typing crosses servers through the chat's group.
        for client in (staff_on_b, customer_on_a):
            await client.send("chat:join", {"chat_id": chat.id})
            await client.next("chat:joined")
        await staff_on_b.send("typing:start", {"chat_id": chat.id})
        await customer_on_a.next("typing:start", user_id=operator.id)

        with pytest.raises(AssertionError):  # nothing of organization A's chat
            await outsider_on_b.next("message:new", wait=0.5)


async def test_idle_socket_survives_on_the_redis_layer(servers, customer, operator):
    """redis-py 8 with a socket timeout ends an idle consumer's blocking read after ~5 s and
    the socket closes with 1011 (django/channels_redis#422); settings pass socket_timeout=None."""
    a, b = servers
    chat = await sync(support_chat)(customer)
    async with Client(b, f"token={token(operator)}") as idle:
        await asyncio.sleep(11)
        sent = await http_send(a, customer, chat, "still there?")
        await idle.next("message:new", id=sent["id"])
        await idle.send("ping", {}, "p")
        assert (await idle.next("pong"))["id"] == "p"


async def test_presence_counts_connections_on_both_servers(servers, customer, admin_user):
    a, b = servers
    async with Client(a, f"token={token(admin_user)}") as watcher:
        tab_a = await Client(a, f"token={token(customer)}").__aenter__()
        tab_b = await Client(b, f"token={token(customer)}").__aenter__()
        await watcher.next("user:status", user_id=customer.id, is_online=True)
        await tab_a.__aexit__()
        with pytest.raises(AssertionError):  # still connected on B
            await watcher.next("user:status", wait=1, user_id=customer.id, is_online=False)
        assert (await sync(User.objects.get)(pk=customer.pk)).is_online
        await tab_b.__aexit__()
        await watcher.next("user:status", user_id=customer.id, is_online=False)
        assert not (await sync(User.objects.get)(pk=customer.pk)).is_online


async def test_connections_of_a_killed_server_lapse(servers, environment, customer, admin_user):
    a, _ = servers
    doomed = await asyncio.to_thread(start_daphne, environment)
    try:
        async with Client(a, f"token={token(admin_user)}") as watcher:
            client = await Client(doomed, f"token={token(customer)}").__aenter__()
            await watcher.next("user:status", user_id=customer.id, is_online=True)
            doomed.kill()
            with pytest.raises(ConnectionClosed):
                await client.conn.recv()
            # No close ever reached the server: the entry lapses after the timeout and the
            # sweep run by a live connection's heartbeat on server A marks the user offline.
            await watcher.next(
                "user:status", wait=TIMEOUT + 3 * HEARTBEAT, user_id=customer.id, is_online=False
            )
    finally:
        doomed.stop()


async def test_access_log_never_shows_the_token(servers, customer):
    a, _ = servers
    secret = token(customer)
    async with Client(a, f"token={secret}"):
        pass
    # A plain HTTP request to /ws/ (a proxy that did not upgrade it) is logged with its query.
    await asyncio.to_thread(http_json, "GET", f"{a.url}/ws/?token={secret}")
    await asyncio.sleep(0.3)
    log = a.log()
    assert "WSCONNECT /ws/" in log and "GET /ws/?token=[redacted]" in log
    assert secret not in log and secret.split(".")[2] not in log
