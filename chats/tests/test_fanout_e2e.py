"""Fan-out and resume across processes, on PostgreSQL + Redis: two real daphne processes, real
WebSocket clients (the ``websockets`` library).

- an event reaches each socket on each process exactly once;
- a client that reconnects to the *other* process with its cursor gets exactly what it missed,
  in order, then live events; a cursor the log no longer covers means refetch;
- a socket that stops reading is closed (1013) without delaying the others.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
import uuid

import pytest
from django.conf import settings

from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import sync
from chats.tests.test_consumers_e2e import (  # noqa: F401 (servers_settled: autouse)
    Client,
    _database_url,
    http_send,
    servers_settled,
    token,
)
from crm.events import Event
from crm.hub import RedisLog
from crm.redis import client as redis_client
from crm.tests.daphne_servers import server_environment, start_daphne

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SEND_BUFFER = 256 * 1024


@pytest.fixture(scope="module")
def prefix():
    return f"{settings.TEST_REDIS_PREFIX}:fanout:{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, prefix):
    with django_db_blocker.unblock():
        url = _database_url()
    environment = server_environment(
        database_url=url,
        redis_url=settings.REDIS_URL,
        key_prefix=prefix,
        WS_SEND_BUFFER_BYTES=str(SEND_BUFFER),
        EVENT_LOG_MIN_EVENTS="20",
        EVENT_LOG_MAX_EVENTS="20",
    )
    started = []
    try:
        started.append(start_daphne(environment))
        started.append(start_daphne(environment))
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


async def _quiet_frames(client: Client, quiet: float = 0.7) -> list[dict]:
    """Every frame until none came for ``quiet`` seconds."""
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(client.conn.recv(), quiet))
        except TimeoutError:
            return client.received
        client.received.append(frame)


def _handshake_only(server, access_token: str) -> socket.socket:
    """A WebSocket that completes its handshake and then reads nothing (a tiny receive
    buffer, so the server's buffers fill)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    raw.sendall(
        (
            f"GET /ws/?token={access_token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.origin}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


def _read_until_closed(raw: socket.socket, wait: float = 60) -> bool:
    raw.settimeout(wait)
    try:
        while raw.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return True


def _metrics(server) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        f"{server.url}/metrics", timeout=10
    ) as response:
        return response.read().decode()


def _messages(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "message:new"]


async def test_an_event_reaches_every_socket_on_both_processes_once(
    servers, customer, operator, admin_user
):
    a, b = servers
    chat = await sync(support_chat)(customer)
    clients = [
        Client(server, f"token={token(user)}")
        for server in (a, b)
        for user in (operator, admin_user, operator)
    ]
    customer_clients = [
        Client(a, f"token={token(customer)}"),
        Client(b, f"token={token(customer)}"),
    ]
    for client in clients + customer_clients:
        await client.__aenter__()
    try:
        sent = [await http_send(a if i % 2 else b, customer, chat, f"m{i}") for i in range(4)]
        for client in clients + customer_clients:
            got = _messages(await _quiet_frames(client))
            assert [m["data"]["id"] for m in got] == [s["id"] for s in sent], client.server
            cursors = [m["cursor"] for m in got]
            assert len(set(cursors)) == len(cursors)  # one cursor per event, whoever gets it
        # Every socket of one event gets the same cursor, on either process.
        first = {_messages(c.received)[0]["cursor"] for c in clients + customer_clients}
        assert len(first) == 1
    finally:
        for client in clients + customer_clients:
            await client.__aexit__()


async def test_resuming_on_the_other_process_replays_exactly_what_was_missed(
    servers, customer, operator
):
    a, b = servers
    chat = await sync(support_chat)(customer)
    async with Client(a, f"token={token(operator)}") as on_a:
        seen = await http_send(a, customer, chat, "seen on A")
        cursor = (await on_a.next("message:new", id=seen["id"]))["cursor"]
    missed = [await http_send(a, customer, chat, f"missed {i}") for i in range(3)]
    async with Client(b, f"token={token(operator)}&cursor={cursor}") as on_b:
        greeting = on_b.received[0]["data"]
        assert greeting["resumed"] is True and greeting["cursor"] == cursor
        live = await http_send(a, customer, chat, "live")
        got = _messages(await _quiet_frames(on_b))
        assert [m["data"]["id"] for m in got] == [m["id"] for m in missed] + [live["id"]]
        assert [m["data"]["text"] for m in got] == ["missed 0", "missed 1", "missed 2", "live"]


async def test_a_customer_resuming_elsewhere_gets_no_one_elses_events(servers, customer, operator):
    a, b = servers
    mine = await sync(support_chat)(customer)
    other = await sync(UserFactory)(organization=customer.organization, role="customer")
    theirs = await sync(support_chat)(other)
    foreign_org = await sync(OrganizationFactory)()
    foreigner = await sync(UserFactory)(organization=foreign_org, role="customer")
    foreign = await sync(support_chat)(foreigner)
    async with Client(a, f"token={token(customer)}") as first:
        cursor = first.received[0]["data"]["cursor"]
    await http_send(a, operator, theirs, "for the other customer")
    await http_send(b, foreigner, foreign, "another organization")
    mine_sent = await http_send(a, operator, mine, "for me")
    async with Client(b, f"token={token(customer)}&cursor={cursor}") as again:
        assert again.received[0]["data"]["resumed"] is True
        got = _messages(await _quiet_frames(again))
        assert [m["data"]["id"] for m in got] == [mine_sent["id"]]


async def test_a_cursor_the_log_no_longer_covers_means_refetch(servers, customer, operator):
    a, b = servers
    chat = await sync(support_chat)(customer)
    async with Client(a, f"token={token(operator)}") as first:
        cursor = first.received[0]["data"]["cursor"]
    # The servers keep 20 events per group (and trim in steps): far more than that go by.
    for i in range(160):
        await http_send(a, customer, chat, f"m{i}")
    async with Client(b, f"token={token(operator)}&cursor={cursor}") as again:
        assert again.received[0]["data"]["resumed"] is False
        assert _messages(await _quiet_frames(again, quiet=0.5)) == []


async def test_a_socket_that_stops_reading_is_closed_and_the_others_keep_up(
    servers, prefix, operator, customer
):
    """Big events straight into the log and channel the servers use, while one socket reads
    nothing: it passes the send buffer and is closed with 1013; every other socket receives
    every event."""
    a, b = servers
    chat = await sync(support_chat)(customer)
    slow = await asyncio.to_thread(_handshake_only, a, token(operator))
    fast = [await Client(server, f"token={token(operator)}").__aenter__() for server in (a, b)]
    try:
        log = RedisLog(prefix)
        redis = redis_client(settings.REDIS_URL)
        append = redis.register_script(log.APPEND)
        payload = {"chat_id": chat.id, "text": "x" * 20_000}
        count = 600  # 12 MB: more than the kernel's buffers and the server's
        group = f"staff.{operator.organization_id}"

        def publish() -> None:  # in a thread: the fast clients read meanwhile
            for i in range(count):
                event = Event.build("message:new", {**payload, "id": i}, groups=[group])
                keys, args = log.append_args([group], event.to_log())
                append(keys=keys, args=args)
                time.sleep(0.003)

        publishing = asyncio.create_task(asyncio.to_thread(publish))

        async def read_all(client) -> list[int]:
            received: list[int] = []
            while len(received) < count:
                frame = json.loads(await asyncio.wait_for(client.conn.recv(), 30))
                if frame["type"] == "message:new":
                    received.append(frame["data"]["id"])
            return received

        for received in await asyncio.gather(*(read_all(client) for client in fast)):
            assert received == list(range(count))
        await publishing
        metrics = await asyncio.to_thread(_metrics, a)
        slow_closed = [
            line
            for line in metrics.splitlines()
            if line.startswith('crm_websocket_slow_closed_total{transport="websocket"}')
        ]
        assert slow_closed and float(slow_closed[0].split()[-1]) >= 1, metrics[-2000:]
        # Reading now, it finds the connection closed by the server.
        assert await asyncio.to_thread(_read_until_closed, slow)
    finally:
        for client in fast:
            await client.__aexit__()
        slow.close()
