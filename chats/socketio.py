"""Socket.IO at ``/socket.io/``: the same events and requests as ``/ws/`` for Socket.IO clients.

python-socketio's ``AsyncServer`` beside Channels (``crm.asgi`` mounts it). Long-polling and
WebSocket both work; behind a load balancer long-polling needs sticky sessions (every request
of one session must reach the process that holds it).

- **Auth** in the handshake, the first of: ``auth.ticket`` (single use, ``POST
  /api/auth/ws-ticket``), ``auth.token`` (access JWT), ``?ticket=``, ``?token=``, the session
  cookie. A credential that is given but bad is refused (the client's ``connect_error`` carries
  ``{"code", "detail"}`` in ``data``), never replaced by the cookie. The Origin rule is
  ``/ws/``'s (an Origin must be one of ``ALLOWED_HOSTS``, or of ``CORS_ALLOWED_ORIGINS``);
  a client without an Origin header (not a browser) may connect with a ticket or token, not
  with the cookie.
- **Rooms** are named like the Channels groups (``crm.events``): the user's, the staff's of
  the organization, and each chat the connection joined (``chat:join``, same rules).
- **Events** come from ``crm.events`` once per event: over the manager's Redis channel to every
  process with ``REDIS_URL`` (``AsyncRedisManager``), straight to this server otherwise. Each
  process encodes the packet once per event and name, and sends it to the local members of the
  event's rooms, in each one's dialect (``auth.dialect``, see ``chats.dialects``).
- **Requests** are client emits, in ``chats.realtime`` (the same validation, permissions,
  rate limits and services as ``/ws/``). With an ack callback the answer is
  ``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "detail"}}``; without
  one, a failure arrives as an ``error`` event.

Redis being down never ends a process: publishing and listening report the outage once
(``crm.outage``), listening retries every few seconds, and events meanwhile are lost (clients
catch up over HTTP, as on ``/ws/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

import socketio
from channels.auth import get_user as session_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import translation
from django.utils.translation import gettext
from engineio import packet as eio_packet
from socketio.exceptions import ConnectionRefusedError as Refused

from chats import error_codes, realtime
from chats.dialects import DEFAULT, dialect_named, dialect_names
from chats.realtime import MAX_FRAME_BYTES, Connection
from crm import events, outage
from crm.events import CLOSE, Event, FrameCache, with_extra
from crm.i18n import language_for_environ
from crm.ws_auth import origin_allowed, ticket_redeem, user_for_access_token

logger = logging.getLogger(__name__)

NAMESPACE = "/"
# Listening again after Redis failed: at most this long between tries.
MAX_RETRY_SECONDS = 5.0

# Whether the client asked for an ack of the event being handled.
_ack_wanted: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_wanted", default=False)


class _Json:
    """Packets' JSON: what the API renders (datetimes, decimals, UUIDs) goes out the same."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, cls=DjangoJSONEncoder, **kwargs)

    loads = staticmethod(json.loads)


# --- Delivering published events --------------------------------------------------------------

_packets = FrameCache()


def event_packet(event: Event, name: str, extra: dict | None = None) -> eio_packet.Packet:
    """The Engine.IO packet of a Socket.IO EVENT ``[name, payload]``, built once per process."""

    def build() -> eio_packet.Packet:
        text = "2[" + json.dumps(name) + "," + with_extra(event.payload, extra) + "]"
        return eio_packet.Packet(eio_packet.MESSAGE, text)

    return _packets.get((event.id, name, json.dumps(extra) if extra else None), build)


class EventDelivery:
    """The part of a client manager that sends ``crm.events`` events to this process's
    members of their rooms."""

    server: Server

    async def deliver(self, event: Event) -> None:
        server = self.server
        if server is None:
            return
        members = list(self.get_participants(NAMESPACE, list(event.groups)))
        if event.type == CLOSE:
            for sid, _ in members:
                await server.disconnect(sid, ignore_queue=True)
            return
        for sid, eio_sid in members:
            conn = server.connections.get(sid)
            if conn is None:
                continue
            if conn.dialect is DEFAULT:
                if conn.receives(event):
                    await server._send_eio_packet(eio_sid, event_packet(event, event.type))
                continue
            for out in conn.outgoing(event):
                await server._send_eio_packet(eio_sid, event_packet(event, out.name, out.extra))


class LocalManager(EventDelivery, socketio.AsyncManager):
    """One process (the embedded default): events come straight from ``crm.events``."""

    def initialize(self) -> None:
        super().initialize()
        events.local_transport_add(self.deliver)


class RedisManager(EventDelivery, socketio.AsyncRedisManager):
    """Several processes: events, and python-socketio's own messages, over one Redis channel.
    Outages are reported once (``crm.outage``) and never end the process."""

    async def _handle_emit(self, message: dict) -> None:
        published = message.get("crm_event")
        if published is not None:
            await self.deliver(Event.from_message(published, published.get("groups") or ()))
            return
        await super()._handle_emit(message)

    async def _publish(self, data: dict) -> None:
        try:
            if not self.connected:
                self._redis_connect()
            await asyncio.wait_for(
                self.redis.publish(self.channel, self.json.dumps(data)),
                settings.REDIS_SOCKET_TIMEOUT * 2,
            )
        except Exception as exc:
            self.connected = False
            outage.report("socketio_publish", exc)

    async def _redis_listen_with_retries(self):
        retry = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    if self.pubsub is not None:
                        with contextlib.suppress(Exception):
                            await self.pubsub.aclose()
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry = 0.5
                    outage.recovered("socketio_listen")
                async for message in self.pubsub.listen():
                    yield message
                subscribed = False  # the subscription ended without an error: subscribe again
                await asyncio.sleep(retry)
            except Exception as exc:
                outage.report("socketio_listen", exc)
                subscribed = False
                await asyncio.sleep(retry)
                retry = min(retry * 2, MAX_RETRY_SECONDS)


# --- The server -------------------------------------------------------------------------------


class SocketTransport:
    """``chats.realtime``'s transport for one Socket.IO connection."""

    def __init__(self, server: Server, sid: str):
        self.server = server
        self.sid = sid
        self.closed = False

    async def group_add(self, conn: Connection, group: str) -> None:
        await self.server.enter_room(self.sid, group)

    async def group_discard(self, conn: Connection, group: str) -> None:
        if not self.closed:  # a closed connection leaves its rooms by itself
            await self.server.leave_room(self.sid, group)

    async def send_event(self, conn: Connection, event_type: str, data: dict) -> None:
        for out in conn.dialect.outgoing(event_type, {}, conn):
            await self.server.emit(
                out.name, {**data, **(out.extra or {})}, to=self.sid, ignore_queue=True
            )


class Server(socketio.AsyncServer):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.connections: dict[str, Connection] = {}

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        _ack_wanted.set(id is not None)
        return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def _manager() -> socketio.AsyncManager:
    if settings.REDIS_URL:
        return RedisManager(
            settings.REDIS_URL,
            channel=events.socketio_channel(),
            redis_options={
                # Listening blocks until a message comes: no read timeout (redis-py 8 would
                # otherwise drop an idle subscription after a few seconds). Connecting is
                # bounded; publishing is bounded by _publish.
                "socket_timeout": None,
                "socket_connect_timeout": settings.REDIS_SOCKET_TIMEOUT,
                "socket_keepalive": True,
            },
        )
    return LocalManager()


def _cors_allowed(origin: str | None, environ: dict | None = None) -> bool:
    return origin is None or origin_allowed(origin)


def build_server() -> Server:
    server = Server(
        async_mode="asgi",
        client_manager=_manager(),
        json=_Json,
        cors_allowed_origins=_cors_allowed,
        # Requests of one connection run one after another, as on /ws/.
        async_handlers=False,
        max_http_buffer_size=MAX_FRAME_BYTES,
        ping_interval=settings.SOCKETIO_PING_INTERVAL,
        ping_timeout=settings.SOCKETIO_PING_TIMEOUT,
        logger=False,
        engineio_logger=False,
    )

    # python-socketio awaits handlers that are coroutine functions.
    async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
        return await _connect(server, sid, environ, auth)

    async def disconnect(sid: str, reason: Any = None) -> None:
        await _disconnect(server, sid)

    async def request(event: str, sid: str, *args: Any) -> Any:
        return await _request(server, event, sid, *args)

    server.on("connect", connect)
    server.on("disconnect", disconnect)
    server.on("*", request)
    return server


# --- Connecting -------------------------------------------------------------------------------


def _refused(code: str, detail: str) -> Refused:
    return Refused(detail, {"code": code, "detail": detail})


def _session_scope(environ: dict) -> dict | None:
    cookie = SimpleCookie()
    with contextlib.suppress(Exception):
        cookie.load(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    return {"session": store(morsel.value)}


async def authenticate(environ: dict, auth: dict) -> tuple[Any, str | None]:
    """(the user or None, how they signed in: ticket, token, session or None)."""
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    for method, given in (
        ("ticket", auth.get("ticket")),
        ("token", auth.get("token")),
        ("ticket", query.get("ticket")),
        ("token", query.get("token")),
    ):
        if given is None:
            continue
        if not isinstance(given, str):
            return None, method
        if method == "ticket":
            return await ticket_redeem(given), method
        return await user_for_access_token(given), method
    scope = _session_scope(environ)
    if scope is None:
        return None, None
    found = await session_user(scope)
    return (found if found.is_authenticated else None), "session"


async def _connect(server: Server, sid: str, environ: dict, auth: Any) -> bool:
    auth = auth if isinstance(auth, dict) else {}
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    dialect = dialect_named(auth.get("dialect") or query.get("dialect"))
    if dialect is None:
        raise _refused(
            error_codes.UNKNOWN_DIALECT,
            gettext("Unknown dialect; one of: %(names)s.") % {"names": dialect_names()},
        )
    try:
        user, method = await authenticate(environ, auth)
    except Exception as exc:
        if outage.part_down(exc) is None:
            raise
        outage.report("socketio", exc)
        raise _refused(
            error_codes.SERVICE_UNAVAILABLE, gettext("Live events are unavailable; retry.")
        ) from None
    if user is None or not user.is_active:
        raise _refused(
            error_codes.UNAUTHORIZED, gettext("Sign in: a valid ticket, token or session.")
        )
    if method == "session" and not environ.get("HTTP_ORIGIN"):
        # The cookie proves a browser's visitor only with the browser's Origin beside it.
        raise _refused(
            error_codes.UNAUTHORIZED,
            gettext("Signing in with the session cookie needs the page's Origin."),
        )
    conn = Connection(
        user=user, id=f"sio:{sid}", transport=SocketTransport(server, sid), dialect=dialect
    )
    try:
        # Its requests' errors in the user's language (each request runs in a task of its own).
        conn.language = await database_sync_to_async(language_for_environ)(environ, user)
        await realtime.connection_join_groups(conn)
        await realtime.connection_counted(conn)
        greeting = await realtime.connection_greeting(conn)
    except Exception as exc:
        if outage.part_down(exc) is None:
            raise
        outage.report("socketio", exc)
        raise _refused(
            error_codes.SERVICE_UNAVAILABLE, gettext("Live events are unavailable; retry.")
        ) from None
    server.connections[sid] = conn
    realtime.connection_heartbeat_start(conn)
    # After the handshake's answer: the client hears connection:established once connected.
    task = asyncio.create_task(conn.transport.send_event(conn, "connection:established", greeting))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return True


_background: set[asyncio.Task] = set()


async def _disconnect(server: Server, sid: str) -> None:
    conn = server.connections.pop(sid, None)
    if conn is None:
        return
    conn.transport.closed = True
    await realtime.connection_closed(conn)


# --- Requests ---------------------------------------------------------------------------------


async def _request(server: Server, event: str, sid: str, *args: Any) -> Any:
    conn = server.connections.get(sid)
    if conn is None:
        return None
    # Each request runs in a task of its own: its texts in the connection's language.
    with translation.override(conn.language):
        return await _request_on(server, conn, event, sid, *args)


async def _request_on(server: Server, conn: Connection, event: str, sid: str, *args: Any) -> Any:
    ack = _ack_wanted.get()
    allowed, error, close = await realtime.frame_allowed(conn)
    if not allowed:
        if close:
            await server.emit("error", error, to=sid, ignore_queue=True)
            await server.disconnect(sid, ignore_queue=True)
            return None
        return await _failed(server, sid, error, ack)
    try:
        if len(args) > 1:
            raise realtime.RequestError(
                error_codes.INVALID_FRAME, gettext("Send one argument: the request's data object.")
            )
        data = realtime.request_data(args[0] if args else None)
        kind = realtime.request_kind(conn, event, data)
        result = await realtime.request_handle(conn, kind, data)
    except Exception as exc:
        return await _failed(server, sid, realtime.error_body(conn, exc), ack)
    if kind == "ping" and not ack:
        await server.emit("pong", {}, to=sid, ignore_queue=True)
    return {"ok": True, "data": result}


async def _failed(server: Server, sid: str, error: dict, ack: bool) -> dict | None:
    if ack:
        return {"ok": False, "error": error}
    await server.emit("error", error, to=sid, ignore_queue=True)
    return None


sio = build_server()
