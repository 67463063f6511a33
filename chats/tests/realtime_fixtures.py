"""Fixtures and helpers for WebSocket tests: real ASGI stack (Origin check, auth, consumer),
real channel layer (in-memory, or Redis with REDIS_URL), real services.

Import the fixtures into a test module with ``from chats.tests.realtime_fixtures import *``
(``ws``, ``fresh_layer``) and use the helpers directly.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from crm.asgi import application

ORIGIN = b"http://testserver"
QUIET = 0.15  # seconds of silence that count as "nothing more is coming"


@pytest.fixture
def fresh_layer(monkeypatch):
    """A new channel layer per test: each test runs in its own event loop."""
    monkeypatch.setattr(channel_layers, "backends", {})


@pytest.fixture
async def ws(fresh_layer):
    """``await ws(user)``: an open connection authenticated with the user's access token, its
    ``connection:established`` frame already read. ``query=``/``headers=`` for other ways in;
    ``established=False`` returns right after the handshake. Disconnected after the test."""
    opened: list[WebsocketCommunicator] = []

    async def connect(
        user=None,
        *,
        query: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        origin: bytes | None = ORIGIN,
        established: bool = True,
    ) -> WebsocketCommunicator:
        if query is None:
            query = f"token={AccessToken.for_user(user)}" if user is not None else ""
        all_headers = list(headers or [])
        if origin is not None:
            all_headers.append((b"origin", origin))
        comm = WebsocketCommunicator(
            application, f"/ws/?{query}" if query else "/ws/", headers=all_headers
        )
        opened.append(comm)
        if established:
            connected, _ = await comm.connect()
            assert connected
            first = await comm.receive_json_from()
            assert first["type"] == "connection:established", first
            comm.established = first
        return comm

    yield connect
    for comm in opened:
        if not comm.future.done():  # still running: a disconnect error would fail the test
            await comm.disconnect()


def _kept(comm: WebsocketCommunicator) -> list[dict]:
    """Frames ``request`` passed over while it waited for its ack (an event may come before
    the ack of the request that caused it): the next reads see them first."""
    if not hasattr(comm, "kept_frames"):
        comm.kept_frames = []
    return comm.kept_frames


async def frames(comm: WebsocketCommunicator, quiet: float = QUIET) -> list[dict]:
    """Every frame that arrives until the connection has been quiet for ``quiet`` seconds."""
    received = list(_kept(comm))
    _kept(comm).clear()
    while not await comm.receive_nothing(timeout=quiet):
        output = await comm.receive_output()
        if output["type"] == "websocket.close":
            received.append({"type": "websocket.close", "code": output.get("code")})
            break
        received.append(json.loads(output["text"]))
    return received


async def types_of(comm: WebsocketCommunicator, quiet: float = QUIET) -> list[str]:
    return [frame["type"] for frame in await frames(comm, quiet)]


async def receive_type(comm: WebsocketCommunicator, kind: str, wait: float = 2) -> dict:
    """The next frame of type ``kind``, skipping others (presence, unread counts...)."""
    skipped = []
    kept = _kept(comm)
    while True:
        frame = kept.pop(0) if kept else await comm.receive_json_from(timeout=wait)
        if frame["type"] == kind:
            return frame
        skipped.append(frame["type"])
        assert len(skipped) < 100, f"no {kind} among {skipped}"


async def request(comm: WebsocketCommunicator, kind: str, data=None, *, rid="r1") -> dict:
    """Send a request with an id and return its ack or error (other frames are kept for the
    next ``receive_type`` / ``frames``)."""
    await comm.send_json_to({"type": kind, "data": data or {}, "id": rid})
    while True:
        frame = await comm.receive_json_from(timeout=2)
        if frame.get("id") == rid and frame["type"] in ("ack", "error", "pong"):
            return frame
        _kept(comm).append(frame)


def sync(fn):
    """Run ORM code from an async test (in a thread, closing connections like the consumer)."""
    return database_sync_to_async(fn)


__all__ = ["fresh_layer", "ws"]
