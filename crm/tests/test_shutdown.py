"""Graceful shutdown of a real server (``python -m crm.server``, the Procfile's web process):
on SIGTERM it stops accepting, closes sockets with 1012 and lets requests in flight finish."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from crm.tests.daphne_servers import http_json, server_environment, start_daphne
from faults.stack import PrivateDatabase, PrivateRedis, database_count, seed

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def stack():
    redis = PrivateRedis()
    redis.start()
    db = PrivateDatabase()
    env = server_environment(
        database_url=db.url, redis_url=redis.url, key_prefix="crm", JWT_ACCESS_MINUTES="60"
    )
    try:
        db.create(env)
        yield env, db, seed(env, tenants=1, customers=1)[0]
    finally:
        redis.close()
        db.drop()


async def test_sigterm_closes_sockets_with_1012_and_finishes_requests_in_flight(stack):
    env, db, people = stack
    server = start_daphne(env, graceful=True)
    customer = people["customers"][0]
    client_id = uuid.uuid4().hex
    try:
        sock = await connect(
            f"{server.ws_url}?token={people['operator']['token']}",
            origin=server.origin,
            proxy=None,
            ping_interval=None,
        )
        assert json.loads(await sock.recv())["type"] == "connection:established"

        # A send held up by a lock on its chat row: in flight when the signal comes.
        locker = psycopg.connect(db.url)
        locker.execute("SELECT id FROM chats_chat WHERE id = %s FOR UPDATE", (customer["chat"],))
        pool = ThreadPoolExecutor(1)
        in_flight = pool.submit(
            http_json,
            "POST",
            f"{server.url}/api/chats/{customer['chat']}/messages",
            {"text": "sent as the server stops", "client_id": client_id},
            token=customer["token"],
            timeout=30,
        )
        await asyncio.sleep(1)
        assert not in_flight.done()

        server.process.terminate()
        started = time.monotonic()
        try:
            async with asyncio.timeout(5):
                while True:
                    await sock.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012
        closed_after = time.monotonic() - started
        assert closed_after < 2

        # No new connections while it drains.
        await asyncio.sleep(0.3)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            pass

        threading.Timer(1.5, locker.close).start()  # the lock goes; the request completes
        status, body = in_flight.result(timeout=20)
        assert status == 201, body
        assert server.process.wait(timeout=20) == 0
        rows = database_count(
            db.url, "SELECT count(*) FROM chats_message WHERE client_id = %s", client_id
        )
        assert rows == [(1,)]
        assert "closed with 1012" in server.log()
    finally:
        server.stop()
