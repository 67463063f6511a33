"""Socket.IO at /socket.io/ on the embedded default: python-socketio's own client (long-polling
and WebSocket) against a real daphne of the app (SQLite file, in-memory layer, no Redis).

The same requests, events, permissions and idempotency as /ws/ (chats.realtime); acks as SPEC
section 6a says; the handshake's credentials and Origin; presence over both transports; the
dialects' names both ways, on Socket.IO and on /ws/ (``?dialect=``, and ``/ws`` without the
slash for the operator panel).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import socketio
from websockets.asyncio.client import connect as ws_connect

from chats.tests.realtime_servers import seeded_server
from crm.tests.daphne_servers import http_json

pytestmark = [pytest.mark.slow]

TRANSPORTS = [["polling"], ["websocket"]]


@pytest.fixture(scope="module")
def embedded():
    with seeded_server() as (server, seed):
        yield server, seed


@pytest.fixture
def server(embedded):
    return embedded[0]


@pytest.fixture
def seed(embedded):
    return embedded[1]


class Client:
    """A python-socketio client with the events it received."""

    def __init__(self, server, *, transports=("websocket",), **auth):
        self.server = server
        self.transports = list(transports)
        self.auth = auth
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, object]] = []
        self.refused: object = None
        self.sio.on("*", self._on_any)
        self.sio.on("connect_error", self._on_refused)

    async def _on_any(self, event, data=None):
        self.received.append((event, data))

    async def _on_refused(self, data=None):
        self.refused = data

    async def __aenter__(self) -> Client:
        await self.sio.connect(
            self.server.url,
            auth=self.auth,
            transports=self.transports,
            socketio_path="socket.io",
            wait_timeout=10,
        )
        self.established = await self.next("connection:established")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, data=None):
        return await self.sio.call(event, data if data is not None else {}, timeout=10)

    async def next(self, event: str, wait: float = 5, **match):
        """The data of the first event named ``event`` (whose data has ``match``); events
        before it are kept for later ``next`` calls."""
        deadline = time.monotonic() + wait
        while True:
            for index, (name, data) in enumerate(self.received):
                if name == event and all(
                    isinstance(data, dict) and data.get(k) == v for k, v in match.items()
                ):
                    del self.received[index]
                    return data
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} {match} within {wait}s; got {self.received}")
            await asyncio.sleep(0.02)

    async def none_of(self, event: str, wait: float = 0.6, **match) -> None:
        with pytest.raises(AssertionError):
            await self.next(event, wait=wait, **match)


def token(seed, who: str) -> str:
    return seed["users"][who]["token"]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["polling", "websocket"])
async def test_a_send_with_an_ack_reaches_staff_and_customer(server, seed, transports):
    chat = seed["chats"]["support"]
    async with (
        Client(server, transports=transports, token=token(seed, "operator")) as staff,
        Client(server, transports=transports, token=token(seed, "customer")) as customer,
    ):
        text = f"hello {uuid.uuid4().hex[:6]}"
        ack = await customer.call("message:send", {"chat_id": chat, "text": text})
        assert ack["ok"] is True and ack["data"]["text"] == text
        got = await staff.next("message:new", id=ack["data"]["id"])
        assert got["chat_id"] == chat and got["sender"]["id"] == seed["users"]["customer"]["id"]
        await customer.next("message:new", id=ack["data"]["id"])
        # Staff count it from message:new: no unread:updated for someone else's message.
        await staff.none_of("unread:updated", chat_id=chat)


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["polling", "websocket"])
async def test_established_carries_the_unread_total(server, seed, transports):
    """Counted from there on by message:new: a reconnect brings the new total."""
    chat = seed["chats"]["support"]
    async with Client(server, transports=transports, token=token(seed, "operator")) as staff:
        before = staff.established["unread_total"]
        assert isinstance(before, int)
        assert staff.established["user"]["id"] == seed["users"]["operator"]["id"]
    async with Client(server, token=token(seed, "customer")) as customer:
        ack = await customer.call("message:send", {"chat_id": chat, "text": "count me"})
        assert ack["ok"] is True
    async with Client(server, transports=transports, token=token(seed, "operator")) as staff:
        assert staff.established["unread_total"] == before + 1


async def test_the_same_client_id_twice_is_one_message(server, seed):
    chat = seed["chats"]["support"]
    client_id = uuid.uuid4().hex
    async with (
        Client(server, token=token(seed, "admin")) as staff,
        Client(server, token=token(seed, "customer")) as customer,
    ):
        first = await customer.call(
            "message:send", {"chat_id": chat, "text": "once", "client_id": client_id}
        )
        again = await customer.call(
            "message:send", {"chat_id": chat, "text": "once", "client_id": client_id}
        )
        assert first["ok"] and again["ok"] and first["data"]["id"] == again["data"]["id"]
        await staff.next("message:new", id=first["data"]["id"])
        await staff.none_of("message:new", id=first["data"]["id"])
    status, page = await asyncio.to_thread(
        http_json, "GET", f"{server.url}/api/chats/{chat}/messages", token=token(seed, "customer")
    )
    assert status == 200
    assert [m["client_id"] for m in page["results"]].count(client_id) == 1


async def test_a_foreign_chat_is_refused_with_an_error_ack_and_nothing_changes(server, seed):
    foreign = seed["chats"]["foreign"]
    async with Client(server, token=token(seed, "admin")) as intruder:
        joined = await intruder.call("chat:join", {"chat_id": foreign})
        sent = await intruder.call("message:send", {"chat_id": foreign, "text": "hi"})
        for ack in (joined, sent):
            assert ack["ok"] is False and ack["error"]["code"] == "chat_not_found", ack
            assert ack["error"]["detail"]
    status, page = await asyncio.to_thread(
        http_json,
        "GET",
        f"{server.url}/api/chats/{foreign}/messages",
        token=token(seed, "other_customer"),
    )
    assert status == 200 and page["results"] == []


async def test_without_an_ack_a_failure_arrives_as_an_error_event(server, seed):
    async with Client(server, token=token(seed, "customer")) as client:
        await client.sio.emit("no:such", {})
        error = await client.next("error")
        assert error["code"] == "unknown_type" and "message:send" in error["detail"]
        await client.sio.emit("message:send", {"chat_id": "x"})
        assert (await client.next("error"))["chat_id"]  # the serializer's per-field map
        await client.sio.emit("ping", {})
        assert await client.next("pong") == {}


@pytest.mark.parametrize(
    "auth",
    [{"token": "not-a-jwt"}, {"ticket": "never-issued"}, {}, {"token": 42}],
    ids=["bad-token", "bad-ticket", "nothing", "not-a-string"],
)
async def test_a_bad_credential_is_refused_at_connect(server, seed, auth):
    client = Client(server, **auth)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=5)
    assert client.refused["data"]["code"] == "unauthorized", client.refused
    assert client.refused["data"]["detail"] == client.refused["message"]


async def test_a_ticket_opens_one_connection(server, seed):
    status, body = await asyncio.to_thread(
        http_json, "POST", f"{server.url}/api/auth/ws-ticket", token=token(seed, "operator")
    )
    assert status == 200
    async with Client(server, ticket=body["ticket"]) as client:
        assert client.sio.connected
    again = Client(server, ticket=body["ticket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.sio.connect(
            server.url, auth={"ticket": body["ticket"]}, transports=["websocket"], wait_timeout=5
        )
    assert again.refused["data"]["code"] == "unauthorized"


async def test_the_token_in_the_query_string_works_and_is_not_logged(server, seed):
    secret = token(seed, "customer")
    client = Client(server)
    await client.sio.connect(
        f"{server.url}?token={secret}", transports=["polling"], wait_timeout=10
    )
    try:
        await client.next("connection:established")
    finally:
        await client.sio.disconnect()
    await asyncio.sleep(0.3)
    log = server.log()
    assert "/socket.io/" in log and "token=[redacted]" in log
    assert secret not in log


async def test_another_sites_origin_is_refused(server, seed):
    def handshake(origin: str) -> int:
        status, _ = http_json(
            "GET", f"{server.url}/socket.io/?EIO=4&transport=polling&{origin}", timeout=5
        )
        return status

    import urllib.request

    def with_origin(origin: str) -> int:
        request = urllib.request.Request(
            f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert await asyncio.to_thread(with_origin, server.url) == 200
    assert await asyncio.to_thread(with_origin, "http://evil.example") == 400


async def test_the_session_cookie_needs_the_pages_origin(server, seed):
    # A session from the cabinet's login form is what a browser would send with its cookie.
    client = Client(server)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(
            server.url,
            headers={"Cookie": "sessionid=made-up"},
            transports=["websocket"],
            wait_timeout=5,
        )
    assert client.refused["data"]["code"] == "unauthorized"


async def test_a_deactivated_users_connections_close(server, seed):
    async with Client(server, token=token(seed, "leaver")) as leaver:
        closed = asyncio.Event()
        leaver.sio.on("disconnect", lambda *reason: closed.set())
        status, _ = await asyncio.to_thread(
            http_json,
            "PATCH",
            f"{server.url}/api/users/{seed['users']['leaver']['id']}",
            {"is_active": False},
            token=token(seed, "admin"),
        )
        assert status == 200
        await asyncio.wait_for(closed.wait(), 5)
        assert not leaver.sio.connected
    again = Client(server, token=token(seed, "leaver"))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.sio.connect(server.url, auth=again.auth, transports=["websocket"])
    assert again.refused["data"]["code"] == "unauthorized"


async def test_rooms_follow_the_chat_join_rules(server, seed):
    chat = seed["chats"]["support"]
    async with (
        Client(server, token=token(seed, "operator")) as staff,
        Client(server, token=token(seed, "customer")) as customer,
    ):
        # Typing needs chat:join first, and reaches the chat's joined connections only.
        refused = await customer.call("typing:start", {"chat_id": chat})
        assert refused["error"]["code"] == "chat_not_joined"
        for client in (staff, customer):
            assert (await client.call("chat:join", {"chat_id": chat}))["ok"]
            await client.next("chat:joined", chat_id=chat)
        viewers = await staff.next("chat:viewers", chat_id=chat)
        assert [v["id"] for v in viewers["viewers"]] == [seed["users"]["operator"]["id"]]
        await customer.none_of("chat:viewers")  # staff only
        assert (await customer.call("typing:start", {"chat_id": chat}))["ok"]
        typing = await staff.next("typing:start", chat_id=chat)
        assert typing["user_id"] == seed["users"]["customer"]["id"]
        await customer.none_of("typing:start")  # not to the typist
        # A note's typing is for staff only.
        assert (await staff.call("typing:start", {"chat_id": chat, "note": True}))["ok"]
        await customer.none_of("typing:start")
        assert (await customer.call("chat:leave", {"chat_id": chat}))["ok"]


async def test_presence_counts_socketio_and_ws_connections_together(server, seed):
    who = seed["users"]["customer"]
    async with Client(server, token=token(seed, "admin")) as watcher:
        tab = Client(server, token=token(seed, "customer"))
        await tab.__aenter__()
        await watcher.next("user:status", user_id=who["id"], is_online=True)
        plain = await ws_connect(
            f"ws://{server.url.split('//')[1]}/ws/?token={token(seed, 'customer')}",
            origin=server.origin,
            proxy=None,
        )
        assert json.loads(await plain.recv())["type"] == "connection:established"
        await tab.__aexit__()
        await watcher.none_of("user:status", wait=1.0, user_id=who["id"], is_online=False)
        await plain.close()
        await watcher.next("user:status", user_id=who["id"], is_online=False)


# --- Dialects --------------------------------------------------------------------------------


async def test_connector_dialect_names_both_ways(server, seed):
    chat = seed["chats"]["support"]
    async with (
        Client(server, token=token(seed, "admin"), dialect="connector") as admin,
        Client(server, token=token(seed, "customer"), dialect="connector") as customer,
    ):
        assert (await customer.call("join-chat", {"chatId": chat}))["ok"]
        sent = await customer.call(
            "send-message",
            {
                "chatId": chat,
                "content": "Где мой заказ?",
                "messageType": "text",
                "clientId": uuid.uuid4().hex,
            },
        )
        assert sent["ok"] and sent["data"]["text"] == "Где мой заказ?"
        mid = sent["data"]["id"]
        # The customer hears new-message; the admin (not in the chat) new-chat-message only.
        await customer.next("new-message", id=mid)
        await admin.next("new-chat-message", id=mid)
        await admin.none_of("new-message", id=mid)
        assert not [e for e, _ in admin.received if e == "message:new"]
        # Once the admin opened the chat, both names.
        assert (await admin.call("join-chat", {"chatId": chat}))["ok"]
        again = await customer.call("send-message", {"chatId": chat, "content": "ещё"})
        await admin.next("new-message", id=again["data"]["id"])
        await admin.next("new-chat-message", id=again["data"]["id"])
        read = await admin.call("mark-read", {"chatId": chat})
        assert read["ok"] and read["data"]["unread_count"] == 0
        receipt = await customer.next("chat-read", chat_id=chat)
        assert receipt["user_id"] == seed["users"]["admin"]["id"]


async def test_conversations_dialect_names_both_ways(server, seed):
    chat = seed["chats"]["direct"]
    async with (
        Client(server, token=token(seed, "admin"), dialect="conversations") as anna,
        Client(server, token=token(seed, "operator"), dialect="conversations") as boris,
    ):
        for client in (anna, boris):
            assert (await client.call("join_conversation", {"conversationId": chat}))["ok"]
        assert (await anna.call("typing", {"conversationId": chat, "isTyping": True}))["ok"]
        typing = await boris.next("user_typing", chat_id=chat)
        assert typing["is_typing"] is True and typing["user_id"] == seed["users"]["admin"]["id"]
        assert (await anna.call("typing", {"conversationId": chat, "isTyping": False}))["ok"]
        assert (await boris.next("user_typing", chat_id=chat))["is_typing"] is False
        sent = await anna.call("send_message", {"conversationId": chat, "content": "hi Boris"})
        await boris.next("new_message", id=sent["data"]["id"])
        assert (await boris.call("mark_as_read", {"conversationId": chat}))["ok"]
        assert (await boris.call("leave_conversation", {"conversationId": chat}))["ok"]
        # user_online / user_offline come from user:status.
        customer = Client(server, token=token(seed, "customer"))
        await customer.__aenter__()
        cid = seed["users"]["customer"]["id"]
        await anna.next("user_online", user_id=cid)
        await customer.__aexit__()
        await anna.next("user_offline", user_id=cid)
        assert not [e for e, _ in anna.received if e == "user:status"]


async def test_operator_panel_dialect_on_socketio(server, seed):
    chat = seed["chats"]["support"]
    client = Client(server, token=token(seed, "operator"), dialect="operator-panel")
    await client.sio.connect(
        server.url, auth=client.auth, transports=["websocket"], wait_timeout=10
    )
    try:
        hello = await client.next("connection_established")
        assert hello["user"]["id"] == seed["users"]["operator"]["id"]
        assert isinstance(hello["unread_total"], int)
        status, sent = await asyncio.to_thread(
            http_json,
            "POST",
            f"{server.url}/api/chats/{chat}/messages",
            {"text": "from the cabinet"},
            token=token(seed, "customer"),
        )
        assert status == 201
        await client.next("new_message", id=sent["id"])
    finally:
        await client.sio.disconnect()


async def test_an_unknown_dialect_is_refused(server, seed):
    client = Client(server, token=token(seed, "operator"), dialect="klingon")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(
            server.url, auth=client.auth, transports=["websocket"], wait_timeout=5
        )
    assert client.refused["data"]["code"] == "unknown_dialect"


_seen: dict[int, list[dict]] = {}


async def _frames_until(conn, kind: str, wait: float = 5) -> dict:
    """The next frame of ``kind``; frames of other kinds are kept for later calls (an event
    may come before the ack of the request that caused it)."""
    kept = _seen.setdefault(id(conn), [])
    for frame in kept:
        if frame["type"] == kind:
            kept.remove(frame)
            return frame
    deadline = time.monotonic() + wait
    while True:
        frame = json.loads(
            await asyncio.wait_for(conn.recv(), max(0.1, deadline - time.monotonic()))
        )
        if frame["type"] == kind:
            return frame
        kept.append(frame)


async def test_the_operator_panels_plain_websocket_at_ws(server, seed):
    """Seed 001's panel: ``ws://host/ws`` with {type, data} frames in its names."""
    chat = seed["chats"]["support"]
    host = server.url.split("//")[1]
    async with ws_connect(
        f"ws://{host}/ws?token={token(seed, 'admin')}", origin=server.origin, proxy=None
    ) as panel:
        first = json.loads(await panel.recv())
        assert first["type"] == "connection_established"
        assert first["data"]["user"]["id"] == seed["users"]["admin"]["id"]
        assert isinstance(first["data"]["unread_total"], int)
        status, sent = await asyncio.to_thread(
            http_json,
            "POST",
            f"{server.url}/api/chats/{chat}/messages",
            {"text": "panel?"},
            token=token(seed, "customer"),
        )
        assert status == 201
        got = await _frames_until(panel, "new_message")
        assert got["data"]["id"] == sent["id"]
        status, _ = await asyncio.to_thread(
            http_json,
            "PATCH",
            f"{server.url}/api/chats/{chat}",
            {"status": "pending"},
            token=token(seed, "admin"),
        )
        assert status == 200, _
        changed = await _frames_until(panel, "chat_status_change")
        assert changed["data"]["id"] == chat and changed["data"]["status"] == "pending"
        assert (await _frames_until(panel, "chat_update"))["data"]["id"] == chat


async def test_ws_with_a_dialect_in_the_query(server, seed):
    chat = seed["chats"]["support"]
    host = server.url.split("//")[1]
    async with ws_connect(
        f"ws://{host}/ws/?dialect=connector&token={token(seed, 'customer')}",
        origin=server.origin,
        proxy=None,
    ) as conn:
        assert json.loads(await conn.recv())["type"] == "connection:established"
        await conn.send(
            json.dumps(
                {"type": "send-message", "id": "s", "data": {"chatId": chat, "content": "x"}}
            )
        )
        ack = await _frames_until(conn, "ack")
        assert ack["id"] == "s" and ack["data"]["text"] == "x"
        assert (await _frames_until(conn, "new-message"))["data"]["id"] == ack["data"]["id"]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["polling", "websocket"])
async def test_auth_cursor_resumes_with_exactly_the_missed_events(server, seed, transports):
    """SPEC 6b on Socket.IO: a logged event's data carries its cursor; reconnecting with
    ``auth.cursor`` replays what was missed, in order, once, then live events."""
    chat = seed["chats"]["support"]
    operator = token(seed, "operator")

    async def send(text: str) -> dict:
        status, body = await asyncio.to_thread(
            http_json,
            "POST",
            f"{server.url}/api/chats/{chat}/messages",
            {"text": text},
            token=token(seed, "customer"),
        )
        assert status == 201, body
        return body

    async with Client(server, transports=transports, token=operator) as first:
        assert first.established["resumed"] is False and first.established["cursor"]
        seen = await send("seen")
        cursor = (await first.next("message:new", id=seen["id"]))["cursor"]
    missed = [await send(f"missed {i}") for i in range(3)]
    async with Client(server, transports=transports, token=operator, cursor=cursor) as again:
        assert again.established["resumed"] is True
        live = await send("live")
        await again.next("message:new", id=live["id"])
        await asyncio.sleep(0.3)
        got = [data["id"] for name, data in again.received if name == "message:new"]
        assert got == [m["id"] for m in missed]  # the live one was taken by next() above
    async with Client(server, transports=transports, token=operator, cursor="nope") as stale:
        assert stale.established["resumed"] is False
