"""The plain WebSocket endpoint, ``/ws/``: live events for a signed-in user, and a few requests.

The requests, the connection's state and who receives what live in ``chats.realtime``, shared
with Socket.IO; this module is the Channels transport. Every frame is
``{"type", "data", "id"}``; a request with an ``id`` gets an ``ack`` or an ``error`` carrying
that id. A bad frame gets an ``error`` and the connection stays usable; a client that keeps
sending past the ``ws_frames`` limit is closed with 4429.

Events reach the socket from the process's hub (``crm.hub``), not through the channel layer:
the frame is built once per event and dialect in the process (under daphne framed once for
every socket, autobahn's prepared message) and written to the socket without a task or queue
of its own. Each event frame carries the event's ``cursor``; ``?cursor=`` resumes (SPEC 6b).
A socket whose unsent frames pass ``WS_SEND_BUFFER_BYTES`` is closed with 1013 and resumes.
``?dialect=`` picks the event names of an older client (``chats.dialects``); ``/ws`` without
the slash, the operator panel's address, speaks ``operator-panel`` unless told otherwise.

While PostgreSQL is down requests get an ``error`` with code ``service_unavailable`` (and
``retry_after``); when the process stops hearing events (Redis fails) its sockets are closed
with 1011 so that clients reconnect and resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext

from chats import error_codes, realtime
from chats.dialects import dialect_named, dialect_names
from chats.realtime import MAX_FRAME_BYTES, MAX_REQUEST_ID_LENGTH, Connection, RequestError
from crm import outage, parsers
from crm.events import CLOSE, ws_prepared, ws_text
from crm.hub import Entry, daphne_protocol, pending_bytes
from crm.logging import bind_socket
from crm.metrics import WS_CONNECTIONS, WS_SLOW_CLOSED

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_UNAVAILABLE = 1011
CLOSE_FLOOD = 4429
CLOSE_BAD_REQUEST = 4400
CLOSE_SLOW = 1013


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    """The Channels side of ``chats.realtime``: one ``Connection`` per socket."""

    # Events come from crm.hub: no channel-layer channel, queue or receive task per socket.
    channel_layer_alias = "__none__"
    default_dialect: str | None = None
    conn: Connection | None = None

    async def __call__(self, scope, receive, send) -> None:
        self._protocol = daphne_protocol(send)
        self._limit = settings.WS_SEND_BUFFER_BYTES
        self._outbox: deque[str] | None = None
        self._outbox_bytes = 0
        self._writer: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            if outage.part_down(exc) is None:
                raise
            # Redis (or the database at connect) failed under the connection: tidy up what
            # this process counts and close so that the client reconnects.
            outage.report("websocket", exc)
            await self._release()
            with contextlib.suppress(Exception):
                await self.base_send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})
        finally:
            if self._writer is not None:
                self._writer.cancel()

    # --- The transport, as chats.realtime and the hub see it ---

    async def send_event(self, conn: Connection, event_type: str, data: dict) -> None:
        for out in conn.dialect.outgoing(event_type, {}, conn):
            await self._send_frame(out.name, {**data, **(out.extra or {})})

    def push(self, conn: Connection, entry: Entry) -> None:
        event = entry.event
        if self._closing:
            return
        if event.type == CLOSE:
            self._close_soon(int(json.loads(event.payload).get("code", CLOSE_UNAUTHORIZED)))
            return
        if not conn.receives(event):
            return
        if conn.dialect.name == "default":  # the hot path: no renaming
            self._write(event.id, event.type, event.payload, None, entry.cursor)
            return
        for out in conn.dialect.outgoing(event.type, event.hints, conn):
            self._write(event.id, out.name, event.payload, out.extra, entry.cursor)

    def overflow(self, conn: Connection) -> None:
        self._close_soon(CLOSE_SLOW)

    def lost(self, conn: Connection) -> None:
        self._close_soon(CLOSE_UNAVAILABLE)

    def _write(self, event_id, name, payload, extra, cursor) -> None:
        """One frame to this socket, without waiting: straight into daphne's transport, or
        into this socket's outbox under any other server. Past the buffer: closed (1013)."""
        limit = self._limit
        protocol = self._protocol
        if protocol is not None:
            if protocol.state != protocol.STATE_OPEN:
                return
            transport = protocol.transport
            if pending_bytes(transport) > limit:
                self._close_soon(CLOSE_SLOW)
                return
            prepared = ws_prepared(event_id, name, payload, extra, cursor)
            if protocol._perMessageCompress is None and not protocol.send_queue:
                # What autobahn's sendPreparedMessage does, without formatting a debug line
                # per frame (a quarter of the fan-out's time).
                transport.write(prepared.payloadHybi)
            else:
                protocol.sendPreparedMessage(prepared)
            return
        text = ws_text(event_id, name, payload, extra, cursor)
        if self._outbox is None:
            self._outbox, self._wake = deque(), asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        self._outbox.append(text)
        self._outbox_bytes += len(text)
        if self._outbox_bytes > limit:
            self._outbox.clear()
            self._outbox_bytes = 0
            self._close_soon(CLOSE_SLOW)
            return
        self._wake.set()

    async def _drain(self) -> None:
        outbox, wake = self._outbox, self._wake
        while True:
            await wake.wait()
            wake.clear()
            while outbox:
                text = outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.base_send({"type": "websocket.send", "text": text})

    def _close_soon(self, code: int) -> None:
        if self._closing:
            return
        self._closing = True
        if code == CLOSE_SLOW:
            WS_SLOW_CLOSED.labels("websocket").inc()
            logger.info("Closing a socket that fell behind (1013): it resumes from its cursor")
        if self.conn is not None and self.conn.hub is not None:
            self.conn.hub.leave(self.conn)  # no more frames for it here
        task = asyncio.get_running_loop().create_task(self.close(code=code))
        _closing_tasks.add(task)
        task.add_done_callback(_closing_tasks.discard)

    # --- Lifecycle ---

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self._send_error(
                error_codes.UNAUTHORIZED, "Sign in: a valid ticket, token or session."
            )
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        dialect = dialect_named(query.get("dialect"), default=self.default_dialect)
        if dialect is None:
            await self.accept()
            await self._send_error(
                error_codes.UNKNOWN_DIALECT,
                gettext("Unknown dialect; one of: %(names)s.") % {"names": dialect_names()},
            )
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        # Log lines of this connection carry its id; each frame's also a request id of its own.
        self.connection_request_id = bind_socket(user_id=user.pk)
        conn = Connection(user=user, id=f"ws:{uuid.uuid4().hex}", transport=self, dialect=dialect)
        WS_CONNECTIONS.inc()
        self.conn = conn
        self._released = False
        try:
            resumed, cursor, missed = await realtime.connection_subscribe(conn, query.get("cursor"))
        except Exception as exc:
            if outage.part_down(exc) is None:
                raise
            outage.report("websocket", exc)
            await self._release()
            await self.accept()
            await self._send_error(
                error_codes.SERVICE_UNAVAILABLE, "Live events are unavailable; retry."
            )
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await realtime.connection_counted(conn)
        await self.accept()
        greeting = await realtime.connection_greeting(conn)
        greeting.update(resumed=resumed, cursor=cursor)
        await self.send_event(conn, "connection:established", greeting)
        realtime.connection_replay(conn, missed)
        realtime.connection_heartbeat_start(conn)

    async def disconnect(self, code: int) -> None:
        if self.conn is None or self._released:
            return  # refused at connect: nothing was set up
        try:
            await realtime.connection_closed(self.conn)
        finally:
            await self._release()

    async def _release(self) -> None:
        """Forget this connection in the process: hub, heartbeat, typing timers, the gauge."""
        if self.conn is None or getattr(self, "_released", True):
            return
        self._released = True
        realtime.connection_release(self.conn)
        WS_CONNECTIONS.dec()

    # --- From the client ---

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        bind_socket(connection_request_id=getattr(self, "connection_request_id", None))
        conn = self.conn
        if conn is None:
            return
        allowed, error, close = await realtime.frame_allowed(conn)
        if not allowed:
            await self._send_frame("error", error)
            if close:
                await self.close(code=CLOSE_FLOOD)
            return
        request_id = None
        try:
            frame = self._decode(text_data)
            request_id = self._request_id(frame)
            data = realtime.request_data(frame.get("data"))
            kind = realtime.request_kind(conn, frame.get("type"), data)
            logger.debug("WebSocket frame %s", kind)
            result = await realtime.request_handle(conn, kind, data)
            if kind == "ping":
                await self._send_frame("pong", result, request_id)
            elif request_id is not None:
                await self._send_frame("ack", result, request_id)
        except Exception as exc:
            await self._send_frame("error", realtime.error_body(conn, exc), request_id)

    @staticmethod
    def _decode(text_data: str | None) -> dict:
        if text_data is None:
            raise RequestError(
                error_codes.BINARY_FRAME, gettext("Frames are JSON text, not binary.")
            )
        if len(text_data) > MAX_FRAME_BYTES or len(text_data.encode()) > MAX_FRAME_BYTES:
            raise RequestError(
                error_codes.FRAME_TOO_LARGE,
                gettext("A frame is at most %(size)s bytes.") % {"size": MAX_FRAME_BYTES},
            )
        try:
            frame = parsers.loads(text_data)  # bounded: nesting past 1,024 levels is refused
        except ValueError:
            raise RequestError(
                error_codes.INVALID_JSON, gettext("A frame must be valid JSON.")
            ) from None
        if not isinstance(frame, dict):
            raise RequestError(
                error_codes.INVALID_FRAME, 'A frame is an object: {"type", "data", "id"}.'
            )
        return frame

    @staticmethod
    def _request_id(frame: dict) -> str | int | None:
        request_id = frame.get("id")
        if request_id is not None and (
            isinstance(request_id, bool)
            or not isinstance(request_id, str | int)
            or len(str(request_id)) > MAX_REQUEST_ID_LENGTH
        ):
            raise RequestError(
                error_codes.INVALID_FRAME, gettext("id must be a string or number (64 characters).")
            )
        return request_id

    # --- Output ---

    @classmethod
    async def encode_json(cls, content: dict) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def _send_frame(self, kind: str, data: dict | None, request_id: Any = None) -> None:
        frame: dict[str, Any] = {"type": kind, "data": data}
        if request_id is not None:
            frame["id"] = request_id
        await self.send_json(frame)

    async def _send_error(self, code: str, detail: str, request_id: Any = None) -> None:
        await self._send_frame("error", {"code": code, "detail": detail}, request_id)


_closing_tasks: set[asyncio.Task] = set()


class OperatorPanelConsumer(RealtimeConsumer):
    """``/ws`` without the slash: the operator panel's address (seed 001), its names."""

    default_dialect = "operator-panel"
