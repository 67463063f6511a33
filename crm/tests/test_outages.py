"""What clients see while Redis or PostgreSQL is down, against a real daphne on a private
``redis-server`` (stopped and started again) and a private PostgreSQL database (made to refuse
connections and cut), both created here: never the shared ones.

With Redis down sends still succeed (the message is stored; events are hints); rate limits
count in the process. With PostgreSQL down requests answer 503 with ``Retry-After`` and the
API's error body within seconds, WebSocket requests get an error frame, and sockets the server
cannot serve close with 1011.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from crm.tests.daphne_servers import http_json, server_environment, start_daphne
from faults.stack import PrivateDatabase, PrivateRedis, database_count, seed

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack():
    redis = PrivateRedis()
    redis.start()
    db = PrivateDatabase()
    env = server_environment(
        database_url=db.url,
        redis_url=redis.url,
        key_prefix="crm",
        JWT_ACCESS_MINUTES="60",
        RATE_LIMITS="messages_user=40/min",
    )
    server = None
    try:
        db.create(env)
        people = seed(env, tenants=1, customers=3)[0]
        server = start_daphne(env)
        yield {"redis": redis, "db": db, "server": server, "people": people}
    finally:
        if server is not None:
            server.stop()
        redis.close()
        db.drop()


def send(server, customer, client_id: str, timeout: float = 15) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, body = http_json(
        "POST",
        f"{server.url}/api/chats/{customer['chat']}/messages",
        {"text": f"hello {client_id}", "client_id": client_id},
        token=customer["token"],
        timeout=timeout,
    )
    return status, body, time.monotonic() - started


def stored(db, client_ids: list[str]) -> dict[str, int]:
    rows = database_count(
        db.url,
        "SELECT client_id, count(*) FROM chats_message WHERE client_id = ANY(%s) GROUP BY 1",
        client_ids,
    )
    return dict(rows)


async def open_socket(server, token: str):
    return await connect(
        f"{server.ws_url}?token={token}", origin=server.origin, proxy=None, ping_interval=None
    )


async def next_frame(conn, kind: str, wait: float = 5, **match) -> dict:
    deadline = time.monotonic() + wait
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind} {match} within {wait}s"
        try:
            frame = json.loads(await asyncio.wait_for(conn.recv(), remaining))
        except TimeoutError:
            continue
        data = frame.get("data") or {}
        if frame["type"] == kind and all(data.get(k) == v for k, v in match.items()):
            return frame


async def close_code(conn, wait: float = 10) -> int | None:
    """The code the server closed ``conn`` with (frames before it are skipped)."""
    try:
        async with asyncio.timeout(wait):
            while True:
                await conn.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def ready_within(server, seconds: float) -> float:
    started, last = time.monotonic(), None
    while time.monotonic() - started < seconds:
        try:
            last = http_json("GET", f"{server.url}/health/ready", timeout=5)
            if last[0] == 200:
                return time.monotonic() - started
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"/health/ready not 200 within {seconds}s: {last}")


async def test_redis_down_sends_succeed_and_sockets_reconnect(stack):
    server, redis, db, people = stack["server"], stack["redis"], stack["db"], stack["people"]
    alice, bob = people["customers"][0], people["customers"][1]
    operator = await open_socket(server, people["operator"]["token"])
    await next_frame(operator, "connection:established")
    run = uuid.uuid4().hex[:6]
    try:
        redis.stop()
        # The process stopped hearing events: it closes the socket so the client reconnects.
        assert await close_code(operator) == 1011

        ids = [f"{run}-a{i}" for i in range(30)]
        results = [send(server, alice, cid) for cid in ids]
        assert [r[0] for r in results] == [201] * 30, results[:3]
        assert max(r[2] for r in results) < 3, "a send waited on Redis"
        assert stored(db, ids) == dict.fromkeys(ids, 1)

        # A retry of the same client id answers with the stored message, not a second one.
        assert send(server, alice, ids[0])[0] == 200
        assert stored(db, ids[:1]) == {ids[0]: 1}

        # Rate limits count in the process meanwhile (40/min here): they still hold.
        bob_ids = [f"{run}-b{i}" for i in range(45)]
        statuses = [send(server, bob, cid)[0] for cid in bob_ids]
        assert statuses.count(201) == 40 and statuses[40:] == [429] * 5

        # History is read from PostgreSQL alone.
        status, body = http_json(
            "GET", f"{server.url}/api/chats/{alice['chat']}/messages", token=alice["token"]
        )
        assert status == 200 and body["results"][-1]["client_id"] == ids[-1]

        # What needs Redis says so with a 503 instead of failing: a WebSocket ticket.
        status, body = http_json(
            "POST", f"{server.url}/api/auth/ws-ticket", {}, token=alice["token"]
        )
        assert status == 503 and body["code"] == "service_unavailable", body

        # A socket opened now is accepted and closed with 1011: the client retries later.
        started = time.monotonic()
        late = await open_socket(server, people["operator"]["token"])
        assert await close_code(late) == 1011
        assert time.monotonic() - started < 5

        status, body = http_json("GET", f"{server.url}/health/ready", timeout=10)
        assert status == 503 and "channel_layer" in body["failed"]
    finally:
        redis.start()

    assert ready_within(server, 30) < 30
    operator = await open_socket(server, people["operator"]["token"])
    try:
        await next_frame(operator, "connection:established")
        status, body, _ = send(server, alice, f"{run}-after")
        assert status == 201
        await next_frame(operator, "message:new", id=body["id"])
    finally:
        await operator.close()
    # One warning per outage and part, not one per failed event or socket.
    log = server.log()
    for part in ("event_listen", "event_publish"):
        assert 1 <= log.count(f"{part} unavailable") <= 2, log[-3000:]


async def test_database_down_answers_503_quickly_and_nothing_half_written(stack):
    server, db, people = stack["server"], stack["db"], stack["people"]
    carol = people["customers"][2]
    ready_within(server, 30)
    sock = await open_socket(server, carol["token"])
    await next_frame(sock, "connection:established")
    run = uuid.uuid4().hex[:6]
    try:
        db.refuse()
        ids = [f"{run}-c{i}" for i in range(5)]
        for cid in ids:
            status, body, took = send(server, carol, cid)
            assert status == 503, (status, body)
            assert body["code"] == "service_unavailable" and body["detail"]
            assert took < 10
        status, body = http_json("GET", f"{server.url}/api/chats", token=carol["token"])
        assert status == 503 and body["code"] == "service_unavailable"

        # The open socket stays; its requests are refused with an error frame.
        await sock.send(
            json.dumps(
                {
                    "type": "message:send",
                    "id": "r1",
                    "data": {"chat_id": carol["chat"], "text": "x", "client_id": f"{run}-ws"},
                }
            )
        )
        frame = await next_frame(sock, "error", wait=15)
        assert frame["id"] == "r1" and frame["data"]["code"] == "service_unavailable"

        # A new socket cannot be authenticated: accepted, then closed with 1011.
        late = await open_socket(server, carol["token"])
        assert await close_code(late, wait=15) == 1011

        status, body = http_json("GET", f"{server.url}/health/ready", timeout=15)
        assert status == 503 and "database" in body["failed"]
    finally:
        db.allow()

    recovery = ready_within(server, 30)
    assert recovery < 30
    status, body, _ = send(server, carol, f"{run}-after")
    assert status == 201, body
    await next_frame(sock, "message:new", id=body["id"])
    await sock.close()
    # Nothing a refused request tried to write is there, half or whole.
    assert stored(db, ids + [f"{run}-ws"]) == {}
    assert server.process.poll() is None
    assert " 500 " not in server.log()
