"""A server process holds a handful of Redis connections whatever its number of sockets: 200
real WebSocket clients on one daphne (PostgreSQL + Redis) connect, send frames (rate limited),
join chats (viewers), beat (presence) and close, while the process's Redis connections, found
in ``CLIENT LIST`` by the process's own sockets, stay within the budget."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import connect

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from chats.presence import RedisConnections
from chats.tests.factories import support_chat
from crm.redis import connections_of
from crm.tests.daphne_servers import server_environment, start_daphne

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SOCKETS, PER_USER = 200, 10
BUDGET = 20  # Redis connections of one server process (issue 14)
HEARTBEAT, TIMEOUT = 1, 3


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def server(transactional_db):
    prefix = f"{settings.TEST_REDIS_PREFIX}:pool:{uuid.uuid4().hex[:6]}"
    env = server_environment(
        database_url=_database_url(),
        redis_url=settings.REDIS_URL,
        key_prefix=prefix,
        PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        PRESENCE_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    started = start_daphne(env)
    started.prefix = prefix
    try:
        yield started
    finally:
        deadline = time.monotonic() + 10  # the closes' presence work, before the flush
        while User.objects.filter(is_online=True).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        started.stop()


async def frame_of(ws, kind: str, wait: float = 10) -> dict:
    deadline = time.monotonic() + wait
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["type"] == kind or frame.get("id") and frame["type"] in ("ack", "error"):
            return frame


async def test_two_hundred_sockets_share_a_handful_of_redis_connections(server, organization):
    from asgiref.sync import sync_to_async

    def people():
        staff = [UserFactory(organization=organization, role=Role.OPERATOR) for _ in range(5)]
        customers = [UserFactory(organization=organization, role=Role.CUSTOMER) for _ in range(15)]
        chats = [support_chat(c) for c in customers]
        return staff, customers, chats

    staff, customers, chats = await sync_to_async(people)()
    users = staff + customers
    pid = server.process.pid
    counts: list[int] = []

    def sample() -> int:
        counts.append(len(connections_of(pid)))
        return counts[-1]

    async def open_one(user):
        ws = await connect(
            f"{server.ws_url}?token={AccessToken.for_user(user)}",
            origin=server.origin,
            proxy=None,
            ping_interval=None,
            max_queue=None,
        )
        assert (await frame_of(ws, "connection:established"))["type"] == "connection:established"
        return user, ws

    sockets = []
    for start in range(0, SOCKETS, 50):
        batch = [users[i % len(users)] for i in range(start, start + 50)]
        sockets += await asyncio.gather(*(open_one(u) for u in batch))
        sample()
    assert len(sockets) == SOCKETS

    async def talk(n: int, user, ws) -> None:
        await ws.send(json.dumps({"type": "ping", "id": f"p{n}"}))
        assert (await frame_of(ws, "pong"))["type"] == "pong"
        if user.is_staff:
            chat = chats[n % len(chats)]
            await ws.send(
                json.dumps({"type": "chat:join", "id": f"j{n}", "data": {"chat_id": chat.id}})
            )
            assert (await frame_of(ws, "ack"))["type"] == "ack"

    await asyncio.gather(*(talk(n, u, ws) for n, (u, ws) in enumerate(sockets)))
    sample()

    # Past the timeout: only the process's heartbeat keeps 200 entries alive.
    for _ in range(4):
        await asyncio.sleep(HEARTBEAT)
        sample()
    store = RedisConnections(settings.REDIS_URL, server.prefix)
    alive = await asyncio.to_thread(store.alive, [u.pk for u in users])
    assert alive == {u.pk: PER_USER for u in users}
    assert await sync_to_async(
        User.objects.filter(pk__in=[u.pk for u in users], is_online=True).count
    )() == len(users)

    await asyncio.gather(*(ws.close() for _, ws in sockets))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sample()
        if not await sync_to_async(User.objects.filter(is_online=True).exists)():
            break
        await asyncio.sleep(0.2)
    online = User.objects.filter(is_online=True).values_list("pk", flat=True)
    assert await sync_to_async(list)(online) == []
    assert await asyncio.to_thread(store.alive, [u.pk for u in users]) == {u.pk: 0 for u in users}
    sample()

    assert min(counts) > 0, "the server's Redis connections were not found"
    held = Counter(c.get("name") or c.get("cmd") for c in connections_of(pid))
    assert max(counts) <= BUDGET, (counts, held)
