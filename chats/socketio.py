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
- **Groups** are ``/ws/``'s (``crm.events``): the user's, the staff's of the organization, and
  each chat the connection joined (``chat:join``, same rules).
- **Events** come from the process's hub (``crm.hub``), like ``/ws/``'s: each is encoded once
  per event and name in the process and put straight into each socket's Engine.IO queue (at
  most ``WS_SEND_BUFFER_FRAMES`` waiting, else the client is disconnected and resumes). A
  logged event's data carries its ``cursor``; ``auth.cursor`` resumes (SPEC 6b).
- **Requests** are client emits, in ``chats.realtime`` (the same validation, permissions,
  rate limits and services as ``/ws/``). With an ack callback the answer is
  ``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "detail"}}``; without
  one, a failure arrives as an ``error`` event.

Redis being down never ends a process: the hub reports the outage once (``crm.outage``),
disconnects its sockets so that they resume, and listens again every few seconds.
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
from crm import outage
from crm.events import CLOSE, Event, FrameCache, with_extra
from crm.i18n import language_for_environ
from crm.metrics import WS_SLOW_CLOSED
from crm.ws_auth import origin_allowed, ticket_redeem, user_for_access_token

logger = logging.getLogger(__name__)

NAMESPACE = "/"

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


def event_packet(
    event: Event, name: str, extra: dict | None = None, cursor: str | None = None
) -> eio_packet.Packet:
    """The Engine.IO packet of a Socket.IO EVENT ``[name, payload]``, built once per process;
    a logged event's data carries its ``cursor``."""

    def build() -> eio_packet.Packet:
        added = {**(extra or {}), "cursor": cursor} if cursor is not None else extra
        text = "2[" + json.dumps(name) + "," + with_extra(event.payload, added) + "]"
        return eio_packet.Packet(eio_packet.MESSAGE, text)

    return _packets.get((event.id, name, json.dumps(extra) if extra else None), build)


# --- The server -------------------------------------------------------------------------------


class SocketTransport:
    """``chats.realtime``'s transport for one Socket.IO connection: events from the process's
    hub go straight into the Engine.IO socket's queue, bounded by ``WS_SEND_BUFFER_FRAMES``."""

    def __init__(self, server: Server, sid: str, eio_sid: str):
        self.server = server
        self.sid = sid
        self.eio_sid = eio_sid
        self.closed = False

    async def send_event(self, conn: Connection, event_type: str, data: dict) -> None:
        for out in conn.dialect.outgoing(event_type, {}, conn):
            await self.server.emit(
                out.name, {**data, **(out.extra or {})}, to=self.sid, ignore_queue=True
            )

    def push(self, conn: Connection, entry) -> None:
        event = entry.event
        if self.closed:
            return
        if event.type == CLOSE:
            self._disconnect_soon()
            return
        socket = self.server.eio.sockets.get(self.eio_sid)
        if socket is None or socket.closed:
            return
        if conn.dialect is DEFAULT:
            outs = ((event.type, None),) if conn.receives(event) else ()
        else:
            outs = tuple((out.name, out.extra) for out in conn.outgoing(event))
        for name, extra in outs:
            if socket.queue.qsize() >= settings.WS_SEND_BUFFER_FRAMES:
                self.overflow(conn)
                return
            socket.queue.put_nowait(event_packet(event, name, extra, entry.cursor))

    def overflow(self, conn: Connection) -> None:
        if not self.closed:
            WS_SLOW_CLOSED.labels("socketio").inc()
            logger.info("Disconnecting a Socket.IO client that fell behind: it resumes")
        self._disconnect_soon()

    def lost(self, conn: Connection) -> None:
        self._disconnect_soon()

    def _disconnect_soon(self) -> None:
        if self.closed:
            return
        self.closed = True
        conn = self.server.connections.get(self.sid)
        if conn is not None and conn.hub is not None:
            conn.hub.leave(conn)
        _background_task(self.server.disconnect(self.sid, ignore_queue=True))


class Server(socketio.AsyncServer):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.connections: dict[str, Connection] = {}

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        _ack_wanted.set(id is not None)
        return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def _cors_allowed(origin: str | None, environ: dict | None = None) -> bool:
    return origin is None or origin_allowed(origin)


def build_server() -> Server:
    server = Server(
        async_mode="asgi",
        # Events reach sockets through crm.hub, not Socket.IO rooms: one process's manager.
        client_manager=socketio.AsyncManager(),
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
    eio_sid = server.manager.eio_sid_from_sid(sid, NAMESPACE)
    conn = Connection(
        user=user,
        id=f"sio:{sid}",
        transport=SocketTransport(server, sid, eio_sid),
        dialect=dialect,
    )
    try:
        # Its requests' errors in the user's language (each request runs in a task of its own).
        conn.language = await database_sync_to_async(language_for_environ)(environ, user)
        resumed, cursor, missed = await realtime.connection_subscribe(conn, auth.get("cursor"))
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
    # After the handshake's answer: the client hears connection:established once connected,
    # then the events it missed, then live ones.
    greeting.update(resumed=resumed, cursor=cursor)

    async def greet() -> None:
        await conn.transport.send_event(conn, "connection:established", greeting)
        realtime.connection_replay(conn, missed)

    _background_task(greet())
    return True


_background: set[asyncio.Task] = set()


def _background_task(coroutine) -> None:
    task = asyncio.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


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
