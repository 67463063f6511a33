"""Socket.IO through a Redis outage (PostgreSQL + a private redis-server): the server process
lives on, HTTP sends still succeed at once, its Socket.IO clients are disconnected (the process
no longer hears events, so they must resume), the outage is logged once per burst, and once
Redis is back a client that resumes from its cursor is told to refetch (the restarted Redis
lost the log) and hears live events again."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import socketio
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import sync
from crm.tests.daphne_servers import free_port, http_json, server_environment, start_daphne
from faults.stack import PrivateRedis

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def private_redis():
    redis_server = PrivateRedis(port=free_port())
    redis_server.start()
    yield redis_server
    redis_server.close()


async def _send(server, user, chat, text: str) -> tuple[int, dict]:
    return await asyncio.to_thread(
        http_json,
        "POST",
        f"{server.url}/api/chats/{chat.id}/messages",
        {"text": text, "client_id": uuid.uuid4().hex},
        token=str(AccessToken.for_user(user)),
    )


async def test_redis_down_and_back(private_redis, customer, operator):
    chat = await sync(support_chat)(customer)
    env = server_environment(
        database_url=await sync(_database_url)(),
        redis_url=private_redis.url,
        key_prefix=f"sio-outage-{uuid.uuid4().hex[:6]}",
        LOG_LEVEL="WARNING",
    )
    server = await asyncio.to_thread(start_daphne, env, port=free_port())
    auth = {"token": str(AccessToken.for_user(operator))}
    client = socketio.AsyncClient(reconnection=False)
    heard: list[dict] = []
    greetings: list[dict] = []
    client.on("message:new", lambda data: heard.append(data))
    client.on("connection:established", lambda data: greetings.append(data))
    try:
        await client.connect(server.url, auth=auth, transports=["websocket"])
        status, before = await _send(server, customer, chat, "before")
        assert status == 201
        await _until(lambda: any(m["id"] == before["id"] for m in heard))
        cursor = next(m for m in heard if m["id"] == before["id"])["cursor"]

        private_redis.stop()
        sent_during = []
        for i in range(5):
            started = time.monotonic()
            status, body = await _send(server, customer, chat, f"during {i}")
            assert status == 201, body  # PostgreSQL holds the truth; events are hints
            assert time.monotonic() - started < 5
            sent_during.append(body["id"])
            await asyncio.sleep(0.3)
        assert server.process.poll() is None
        await _until(lambda: not client.connected, wait=10)

        private_redis.start()
        # The hub subscribes again within a few seconds; the client resumes from its cursor.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                await client.connect(
                    server.url, auth={**auth, "cursor": cursor}, transports=["websocket"]
                )
                break
            except socketio.exceptions.ConnectionError:
                await asyncio.sleep(0.5)
        assert client.connected
        await _until(lambda: len(greetings) == 2)
        assert greetings[1]["resumed"] is False  # Redis came back empty: refetch over HTTP
        status, after = await _send(server, customer, chat, "after")
        assert status == 201
        await _until(lambda: any(m["id"] == after["id"] for m in heard))
        assert not any(m["id"] in sent_during for m in heard)
        assert server.process.poll() is None
        log = server.log()
        assert "Traceback" not in log, log[-3000:]
        # Logged once per burst, not once per failed call.
        for what in ("event_publish", "event_listen"):
            assert 1 <= log.count(f"{what} unavailable") <= 2, log[-3000:]
    finally:
        if client.connected:
            await client.disconnect()
        server.stop()


async def _until(condition, wait: float = 5) -> None:
    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within the wait")
        await asyncio.sleep(0.05)
