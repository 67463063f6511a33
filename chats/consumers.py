"""The plain WebSocket endpoint, ``/ws/``: live events for a signed-in user, and a few requests.

The requests, the connection's state and who receives what live in ``chats.realtime``, shared
with Socket.IO; this module is the Channels transport. Every frame is
``{"type", "data", "id"}``; a request with an ``id`` gets an ``ack`` or an ``error`` carrying
that id. A bad frame gets an ``error`` and the connection stays usable; a client that keeps
sending past the ``ws_frames`` limit is closed with 4429.

Events arrive from the channel layer as the JSON of their payload (``crm.events``); the frame
is built once per event and dialect in the process and every socket sends the same text.
``?dialect=`` picks the event names of an older client (``chats.dialects``); ``/ws`` without
the slash, the operator panel's address, speaks ``operator-panel`` unless told otherwise.

While PostgreSQL is down requests get an ``error`` with code ``service_unavailable`` (and
``retry_after``); a connection whose channel layer (Redis) fails is closed with 1011 so the
client reconnects and catches up over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext

from chats import error_codes, realtime
from chats.dialects import dialect_named, dialect_names
from chats.realtime import MAX_FRAME_BYTES, MAX_REQUEST_ID_LENGTH, Connection, RequestError
from crm import outage, parsers
from crm.events import Event, ws_text
from crm.logging import bind_socket
from crm.metrics import WS_CONNECTIONS

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_UNAVAILABLE = 1011
CLOSE_FLOOD = 4429
CLOSE_BAD_REQUEST = 4400


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    """The Channels side of ``chats.realtime``: one ``Connection`` per socket."""

    default_dialect: str | None = None
    conn: Connection | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            if outage.part_down(exc) is None:
                raise
            # The channel layer (or the database at connect) failed under the connection:
            # tidy up what this process counts and close so that the client reconnects.
            outage.report("websocket", exc)
            await self._release()
            with contextlib.suppress(Exception):
                await self.base_send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})

    async def dispatch(self, message: dict) -> None:
        # Channels hops to a thread before every handler to close stale database connections.
        # Forwarding an event never touches the database, and it is the hot path (one call per
        # socket per event), so it skips the hop; everything else keeps it.
        if message["type"] == "crm.event":
            await self.crm_event(message)
        else:
            await super().dispatch(message)

    # --- The transport, as chats.realtime sees it ---

    async def group_add(self, conn: Connection, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)

    async def group_discard(self, conn: Connection, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)

    async def send_event(self, conn: Connection, event_type: str, data: dict) -> None:
        for out in conn.dialect.outgoing(event_type, {}, conn):
            await self._send_frame(out.name, {**data, **(out.extra or {})})

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
        conn = Connection(user=user, id=self.channel_name, transport=self, dialect=dialect)
        WS_CONNECTIONS.inc()
        self.conn = conn
        self._released = False
        try:
            await realtime.connection_join_groups(conn)
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
        await self.send_event(conn, "connection:established", greeting)
        realtime.connection_heartbeat_start(conn)

    async def disconnect(self, code: int) -> None:
        if self.conn is None or self._released:
            return  # refused at connect: nothing was set up
        try:
            await realtime.connection_closed(self.conn)
        finally:
            await self._release()

    async def _release(self) -> None:
        """Forget this connection in the process: heartbeat, typing timers, the gauge."""
        if self.conn is None or getattr(self, "_released", True):
            return
        self._released = True
        realtime.connection_release(self.conn)
        WS_CONNECTIONS.dec()

    # --- From the channel layer ---

    async def crm_event(self, message: dict) -> None:
        conn = self.conn
        if conn is None:
            return
        if "text" in message:  # a frame encoded elsewhere (benchmarks' floor)
            await self.send(text_data=message["text"])
            return
        if message.get("skip_user") == conn.user.pk:
            return
        if message.get("staff_only") and not conn.is_staff:
            return
        if conn.dialect.name == "default":  # the hot path: no renaming
            await self.send(text_data=ws_text(message["id"], message["event"], message["payload"]))
            return
        event = Event.from_message(message)
        for out in conn.outgoing(event):
            await self.send(text_data=ws_text(event.id, out.name, event.payload, out.extra))

    async def crm_close(self, event: dict) -> None:
        await self.close(code=event.get("code", CLOSE_UNAUTHORIZED))

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


class OperatorPanelConsumer(RealtimeConsumer):
    """``/ws`` without the slash: the operator panel's address (seed 001), its names."""

    default_dialect = "operator-panel"
