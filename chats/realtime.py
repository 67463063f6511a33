"""Real-time requests and connection state, whichever transport carries them.

The Channels consumer (``/ws/``, ``chats.consumers``) and the Socket.IO server
(``/socket.io/``, ``chats.socketio``) each parse their frames, then hand a request (a kind,
its data, the ``Connection``) to ``request_handle``; it answers with a result or raises a
``RequestError`` / domain error, which ``error_body`` turns into the one error shape
``{"code", "detail"}`` both transports send. The same serializers validate, the same
services write, the same rate limits count (``ws_frames`` per frame, ``messages_user`` in the
send service), whatever the transport.

A connection is in its user's group and, for staff, the organization's staff group; every
event about a chat the user may read reaches it there (the services choose the groups, see
``chats.events``). ``chat:join`` adds the chat's own group, which carries typing. Presence and
viewers count every connection of both transports (``chats.presence``, ``chats.viewers``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import serializers
from rest_framework.exceptions import APIException

from accounts.api import user_payload
from accounts.models import User
from chats import error_codes, heartbeat, presence, viewers
from chats.dialects import DEFAULT, Dialect, Out, canonical_fields
from chats.payloads import message_data
from chats.selectors import chat_for, unread_totals
from chats.services import chat_mark_read, message_send
from crm import events, hub, outage, ratelimit
from crm.errors import DomainError, api_exception_handler
from crm.events import Event, chat_group, staff_group, user_group
from crm.hub import Entry, Member
from crm.query import ID_MAX

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
MAX_REQUEST_ID_LENGTH = 64
MAX_JOINED_CHATS = 100
# A typist who goes quiet is announced as stopped after this long; a renewed typing:start is
# passed on at most once per TYPING_REPEAT_SECONDS (late joiners still see it).
TYPING_TIMEOUT_SECONDS = 6.0
TYPING_REPEAT_SECONDS = 3.0
# Frames past the ws_frames limit get errors; past this multiple of it the connection closes.
FLOOD_CLOSE_FACTOR = 2


class RequestError(Exception):
    """A request refused before any service ran: a bad frame, an unknown type..."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Transport(Protocol):
    """What the request handlers and the hub need of a transport for one connection."""

    async def send_event(self, connection: Connection, event_type: str, data: dict) -> None:
        """A frame to this connection only (``chat:joined``), named in its dialect."""

    def push(self, connection: Connection, entry: Entry) -> None:
        """Frame a published event for this connection and write it, without waiting."""

    def overflow(self, connection: Connection) -> None:
        """The connection's send buffer is full: close it so that it resumes (1013)."""

    def lost(self, connection: Connection) -> None:
        """The process stopped hearing events: close it so that it resumes elsewhere (1011)."""


class Connection(Member):
    """One open connection of a signed-in user, over either transport; its place in the
    process's hub (``crm.hub``)."""

    def __init__(self, *, user: User, id: str, transport: Transport, dialect: Dialect = DEFAULT):
        self.user = user
        self.id = id  # unique across processes: presence and viewers count by it
        self.transport = transport
        self.dialect = dialect
        self.is_staff = user.is_staff
        self.joined: set[int] = set()
        # chat id → (when it was last announced, the expiry task, staff only: a note)
        self.typing: dict[int, tuple[float, asyncio.Task, bool]] = {}
        self.member_groups = [user_group(user.pk)]
        if user.is_staff:
            self.member_groups.append(staff_group(user.organization_id))
        self.hub: hub.Hub | None = None

    # --- From the hub ---

    def push(self, entry: Entry) -> None:
        self.transport.push(self, entry)

    def overflow(self) -> None:
        self.transport.overflow(self)

    def lost(self) -> None:
        self.transport.lost(self)

    # --- Which events reach it, under which names ---

    def receives(self, event: Event) -> bool:
        if event.skip_user is not None and event.skip_user == self.user.pk:
            return False
        return not (event.staff_only and not self.is_staff)

    def outgoing(self, event: Event) -> tuple[Out, ...]:
        if not self.receives(event):
            return ()
        return self.dialect.outgoing(event.type, event.hints, self)


# --- Request bodies -------------------------------------------------------------------------


class ChatRef(serializers.Serializer):
    chat_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)


class TypingInput(ChatRef):
    # Staff writing an internal note: the typing is shown to staff only.
    note = serializers.BooleanField(default=False)


class MessageSendInput(ChatRef):
    text = serializers.CharField(allow_blank=True, default="", trim_whitespace=False)
    kind = serializers.CharField(default="text", max_length=16)
    attachment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), default=list, max_length=50
    )
    client_id = serializers.CharField(required=False, allow_null=True, max_length=200)


class MessagesReadInput(ChatRef):
    up_to = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=ID_MAX)
    message_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        max_length=500,
    )


def _valid(serializer_class: type[serializers.Serializer], data: dict) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Work done in a thread: one selector and one service each -------------------------------


def _message_send(user: User, data: dict) -> dict:
    # The service reads the chat once, locked, as the sender sees it (NotFound otherwise).
    result = message_send(
        sender=user,
        chat=int(data["chat_id"]),
        text=data["text"],
        kind=data["kind"],
        attachment_ids=data["attachment_ids"],
        client_id=data.get("client_id"),
    )
    return message_data(result.message)


def _messages_read(user: User, data: dict) -> dict:
    chat = chat_for(user, data["chat_id"])
    membership = chat_mark_read(
        user=user, chat=chat, up_to=data.get("up_to"), message_ids=data.get("message_ids")
    )
    return {
        "chat_id": chat.pk,
        "up_to": membership.last_read_message_id,
        "unread_count": membership.unread_count,
    }


# --- Requests -------------------------------------------------------------------------------


async def chat_join(conn: Connection, data: dict) -> dict:
    chat_id = _valid(ChatRef, data)["chat_id"]
    if chat_id not in conn.joined:
        if len(conn.joined) >= MAX_JOINED_CHATS:
            raise RequestError(
                error_codes.TOO_MANY_CHATS,
                gettext("Join at most %(count)s chats.") % {"count": MAX_JOINED_CHATS},
            )
        await database_sync_to_async(chat_for)(conn.user, chat_id)
        if conn.hub is not None:
            conn.hub.join(conn, [chat_group(chat_id)])
        conn.joined.add(chat_id)
    await conn.transport.send_event(conn, "chat:joined", {"chat_id": chat_id})
    await _viewers_change(conn, chat_id, add=True)
    return {"chat_id": chat_id}


async def chat_leave(conn: Connection, data: dict) -> dict:
    chat_id = _valid(ChatRef, data)["chat_id"]
    if chat_id in conn.joined:
        await _typing_stop(conn, chat_id)
        if conn.hub is not None:
            conn.hub.leave(conn, [chat_group(chat_id)])
        conn.joined.discard(chat_id)
        await _viewers_change(conn, chat_id, add=False)
    return {"chat_id": chat_id}


async def message_send_request(conn: Connection, data: dict) -> dict:
    valid = _valid(MessageSendInput, data)
    message = await database_sync_to_async(_message_send)(conn.user, valid)
    await _typing_stop(conn, valid["chat_id"])
    return message


async def messages_read_request(conn: Connection, data: dict) -> dict:
    valid = _valid(MessagesReadInput, data)
    return await database_sync_to_async(_messages_read)(conn.user, valid)


async def typing_start(conn: Connection, data: dict) -> dict:
    valid = _valid(TypingInput, data)
    chat_id = _joined_chat(conn, valid)
    note = valid["note"] and conn.is_staff
    loop = asyncio.get_running_loop()
    previous = conn.typing.pop(chat_id, None)
    announced_at = previous[0] if previous else None
    if previous:
        previous[1].cancel()
        if previous[2] != note:  # from a note to a reply or back: a new audience
            await _typing_send(conn, "typing:stop", chat_id, note=previous[2])
            announced_at = None
    if announced_at is None or loop.time() - announced_at >= TYPING_REPEAT_SECONDS:
        await _typing_send(conn, "typing:start", chat_id, note=note)
        announced_at = loop.time()
    expiry = asyncio.create_task(_typing_expire(conn, chat_id, note))
    conn.typing[chat_id] = (announced_at, expiry, note)
    return {"chat_id": chat_id}


async def typing_stop(conn: Connection, data: dict) -> dict:
    chat_id = _joined_chat(conn, data)
    await _typing_stop(conn, chat_id)
    return {"chat_id": chat_id}


async def ping(conn: Connection, data: dict) -> dict:
    return {}


REQUESTS: dict[str, Callable[[Connection, dict], Awaitable[Any]]] = {
    "chat:join": chat_join,
    "chat:leave": chat_leave,
    "message:send": message_send_request,
    "messages:read": messages_read_request,
    "typing:start": typing_start,
    "typing:stop": typing_stop,
    "ping": ping,
}


def request_kind(conn: Connection, name: Any, data: dict) -> str:
    """Our request kind for a frame's type in the connection's dialect; RequestError when it
    is none of ours."""
    if name is not None and not isinstance(name, str):
        raise RequestError(
            error_codes.INVALID_FRAME, gettext('type must be a string, such as "chat:join".')
        )
    kind = conn.dialect.request(name or "", data)
    if kind not in REQUESTS:
        known = sorted({*REQUESTS, *conn.dialect.requests})
        raise RequestError(
            error_codes.UNKNOWN_TYPE,
            gettext("Unknown frame type %(name)r; one of: %(known)s.")
            % {"name": (name or "")[:64], "known": ", ".join(known)},
        )
    return kind


def request_data(data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RequestError(error_codes.INVALID_FRAME, gettext("data must be an object."))
    return canonical_fields(data)


async def request_handle(conn: Connection, kind: str, data: dict) -> Any:
    """Run one request (``kind`` from ``request_kind``, ``data`` from ``request_data``)."""
    return await REQUESTS[kind](conn, data)


async def frame_allowed(conn: Connection) -> tuple[bool, dict | None, bool]:
    """Count a frame against ``ws_frames``: (allowed, the error to send, close the connection)."""
    decision = await ratelimit.ahit("ws_frames", f"user:{conn.user.pk}")
    if decision.allowed:
        return True, None, False
    if decision.count > decision.limit * FLOOD_CLOSE_FACTOR:
        return (
            False,
            {
                "code": error_codes.FLOOD,
                "detail": gettext("Too many frames: closing the connection."),
            },
            True,
        )
    return (
        False,
        {
            "code": error_codes.THROTTLED,
            "detail": gettext("Too many frames; slow down."),
            "retry_after": decision.retry_after,
        },
        False,
    )


def error_body(conn: Connection, exc: Exception) -> dict:
    """The ``{"code", "detail"}`` body for a failed request (logged when unexpected)."""
    if isinstance(exc, RequestError):
        return {"code": exc.code, "detail": exc.detail}
    if isinstance(exc, DomainError | APIException):
        # The API's exception handler: the same error body as over HTTP.
        return api_exception_handler(exc, {}).data
    if outage.part_down(exc) is None:
        logger.error("Real-time request failed for user %s", conn.user.pk, exc_info=exc)
        return {
            "code": error_codes.SERVER_ERROR,
            "detail": gettext("The request failed; try again."),
        }
    outage.report("websocket requests", exc)
    return {
        "code": error_codes.SERVICE_UNAVAILABLE,
        "detail": gettext("The service is unavailable; try again shortly."),
        "retry_after": outage.RETRY_AFTER_SECONDS,
    }


# --- Lifecycle ------------------------------------------------------------------------------


async def connection_subscribe(conn: Connection, cursor: Any = None) -> tuple[bool, str, list]:
    """Join the process's hub in the user's (and staff's) groups, from ``cursor`` when the
    client resumes: (resumed, the cursor to greet with, the missed events to ``replay``).
    Outages propagate: the transport refuses the connection."""
    conn.hub = hub.hub()
    return await conn.hub.subscribe(conn, conn.member_groups, cursor)


def connection_replay(conn: Connection, missed: list) -> None:
    """After the greeting: the missed events, then the live ones held meanwhile."""
    if conn.hub is not None:
        conn.hub.replay(conn, missed)


def _greeting(user: User) -> dict:
    try:
        total = unread_totals([user.pk])[user.pk]
    except Exception as exc:  # the connection stands; the client asks over HTTP later
        if outage.part_down(exc) is None:
            raise
        outage.report("websocket", exc)
        total = None
    return {"user": user_payload(user), "server_time": timezone.now(), "unread_total": total}


async def connection_greeting(conn: Connection) -> dict:
    """``connection:established``'s data, for either transport: the user, the server's time
    and the user's unread total over all their chats. A (re)connecting client starts counting
    from it: other people's messages raise it (``message:new``), the user's own reads set it
    (``unread:updated``). ``None`` when the database could not say."""
    return await database_sync_to_async(_greeting)(conn.user)


async def connection_counted(conn: Connection) -> None:
    """Count the connection in presence before the client hears it is connected: once a tab
    has its connection:established, another tab closing on another server cannot show the
    user offline."""
    try:
        await presence.connection_refresh(user_id=conn.user.pk, connection=conn.id)
    except Exception as exc:  # presence catches up at the next heartbeat
        if outage.part_down(exc) is None:
            raise
        outage.report("presence", exc)


def connection_heartbeat_start(conn: Connection) -> None:
    """From now on the process's heartbeat (chats.heartbeat) keeps the connection counted."""
    heartbeat.join(conn)
    owner = asyncio.current_task()
    if owner is not None:
        owner.add_done_callback(lambda task: _abandoned(conn, task))


_closing: set[asyncio.Task] = set()


def _abandoned(conn: Connection, owner: asyncio.Task) -> None:
    """The task that opened the connection was killed before its close ran (daphne cancels an
    application that does not finish within its close timeout, e.g. a handshake that timed out
    while the server was busy): close it here, or the heartbeat would count it forever."""
    if owner.cancelled() and heartbeat.holds(conn):
        task = asyncio.get_running_loop().create_task(connection_closed(conn))
        _closing.add(task)
        task.add_done_callback(_closing.discard)


async def connection_closed(conn: Connection) -> None:
    """The connection closed: typing and viewing end, groups and presence forget it."""
    # A heartbeat in flight lands first: after the drop below, it would count this closed
    # connection again until the entry lapses.
    await heartbeat.leave(conn)
    try:
        for chat_id in list(conn.typing):
            await _typing_stop(conn, chat_id)
        for chat_id in list(conn.joined):
            await _viewers_change(conn, chat_id, add=False)
        if conn.hub is not None:
            conn.hub.leave(conn)
    except Exception as exc:  # Redis down: typing and viewers lapse alone
        if outage.part_down(exc) is None:
            connection_release(conn)
            raise
        outage.report("websocket", exc)
    try:  # whatever became of the groups: an entry left behind shows the user online
        await presence.connection_closed(user_id=conn.user.pk, connection=conn.id)
    except Exception as exc:  # Redis or PostgreSQL down: the entry lapses alone
        if outage.part_down(exc) is None:
            raise
        outage.report("presence", exc)
    finally:
        connection_release(conn)


def connection_release(conn: Connection) -> None:
    """Forget the connection's heartbeat, timers and hub place in this process."""
    heartbeat.forget(conn)
    if conn.hub is not None:
        conn.hub.leave(conn)
    for _, task in conn.typing.values():
        task.cancel()


# --- Typing ---------------------------------------------------------------------------------


def _joined_chat(conn: Connection, data: dict) -> int:
    chat_id = _valid(ChatRef, data)["chat_id"]
    if chat_id not in conn.joined:
        raise RequestError(
            error_codes.CHAT_NOT_JOINED, gettext("Send chat:join for this chat first.")
        )
    return chat_id


async def _typing_expire(conn: Connection, chat_id: int, note: bool) -> None:
    await asyncio.sleep(TYPING_TIMEOUT_SECONDS)
    conn.typing.pop(chat_id, None)
    await _typing_send(conn, "typing:stop", chat_id, note=note)


async def _typing_stop(conn: Connection, chat_id: int) -> None:
    state = conn.typing.pop(chat_id, None)
    if state is not None:
        state[1].cancel()
        await _typing_send(conn, "typing:stop", chat_id, note=state[2])


async def _typing_send(conn: Connection, event: str, chat_id: int, *, note: bool = False) -> None:
    # Ephemeral and outside any transaction: published now, not on commit. Typing a note
    # reaches staff connections only; the typist's own connections never hear it.
    data: dict[str, Any] = {"chat_id": chat_id, "user_id": conn.user.pk}
    if note:
        data["note"] = True
    await events.publish(
        event, data, groups=[chat_group(chat_id)], skip_user=conn.user.pk, staff_only=note
    )


# --- Viewers: staff who have a chat open (chats.viewers) ------------------------------------


def _display_name(user: User) -> str:
    return user.name or user.email.split("@")[0]


async def _viewers_change(conn: Connection, chat_id: int, *, add: bool) -> None:
    if not conn.is_staff:
        return
    try:
        await viewers.announce(
            organization_id=conn.user.organization_id,
            chat_id=chat_id,
            user_id=conn.user.pk,
            name=_display_name(conn.user),
            connection=conn.id,
            add=add,
        )
    except Exception:  # a Redis hiccup must not fail the join or the disconnect
        logger.exception("Could not update the viewers of chat %s", chat_id)
