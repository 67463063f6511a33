"""The one WebSocket endpoint, ``/ws/``: live events for a signed-in user, and a few requests.

On connect a connection joins its user's group and, for staff, the organization's staff group:
every event about a chat the user may read reaches it without joining the chat (the services
choose the groups, see ``chats.events``). ``chat:join`` adds the chat's own group, which carries
typing. Events arrive from the channel layer already encoded (``crm.events``) and are forwarded
as they are: one JSON encoding per event, not per socket.

Requests go through the same services as HTTP (validation, idempotency, permissions, rate
limits, events). Every frame is ``{"type", "data", "id"}``; a request with an ``id`` gets an
``ack`` or an ``error`` carrying that id. A bad frame gets an ``error`` and the connection stays
usable; a client that keeps sending past the ``ws_frames`` limit is closed with 4429.

While PostgreSQL is down requests get an ``error`` with code ``service_unavailable`` (and
``retry_after``); a connection whose channel layer (Redis) fails is closed with 1011 so the
client reconnects and catches up over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import APIException

from accounts.api import user_payload
from accounts.models import User
from chats import error_codes, presence, viewers
from chats.payloads import message_data
from chats.selectors import chat_for
from chats.services import chat_mark_read, message_send
from crm import outage, parsers, ratelimit
from crm.errors import DomainError, api_exception_handler
from crm.events import chat_group, encode, staff_group, user_group
from crm.logging import bind_socket
from crm.metrics import WS_CONNECTIONS
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

CLOSE_UNAUTHORIZED = 4401
CLOSE_UNAVAILABLE = 1011
CLOSE_FLOOD = 4429


class FrameError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


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
    chat = chat_for(user, data["chat_id"])
    result = message_send(
        sender=user,
        chat=chat,
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


# --- The consumer ---------------------------------------------------------------------------


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    user: User

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
        self.user = user
        # Log lines of this connection carry its id; each frame's also a request id of its own.
        self.connection_request_id = bind_socket(user_id=user.pk)
        self.joined: set[int] = set()
        # chat id → (when it was last announced, the expiry task, staff only: a note)
        self.typing: dict[int, tuple[float, asyncio.Task, bool]] = {}
        self.heartbeat: asyncio.Task | None = None
        self.closing = asyncio.Event()
        self.member_groups = [user_group(user.pk)]
        if user.is_staff:
            self.member_groups.append(staff_group(user.organization_id))
        WS_CONNECTIONS.inc()
        self._released = False
        try:
            try:
                await self._join(self.member_groups)
            except outage.REDIS_ERRORS:  # a pooled connection Redis closed: once more
                await self._join(self.member_groups)
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
        # Counted before the client hears it is connected: once a tab has its
        # connection:established, another tab closing on another server cannot show the user
        # offline (on a cold server the first count takes a while).
        try:
            await presence.connection_refresh(user_id=user.pk, connection=self.channel_name)
        except Exception as exc:  # presence catches up at the next heartbeat
            if outage.part_down(exc) is None:
                raise
            outage.report("presence", exc)
        await self.accept()
        profile = await database_sync_to_async(user_payload)(user)
        await self.send_json(
            {
                "type": "connection:established",
                "data": {"user": profile, "server_time": timezone.now()},
            }
        )
        self.heartbeat = asyncio.create_task(self._heartbeat())

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "member_groups"):
            return  # refused at connect: nothing was set up
        if self.heartbeat is not None:
            # Let a heartbeat in flight finish first: landing after the drop below, it would
            # count this closed connection again until the entry lapses.
            self.closing.set()
            await asyncio.gather(self.heartbeat, return_exceptions=True)
        try:
            for chat_id in list(self.typing):
                await self._typing_stop(chat_id)
            for chat_id in list(self.joined):
                await self._viewers_change(chat_id, add=False)
            for group in self.member_groups + [chat_group(cid) for cid in self.joined]:
                await self.channel_layer.group_discard(group, self.channel_name)
            await presence.connection_closed(user_id=self.user.pk, connection=self.channel_name)
        except Exception as exc:  # Redis or PostgreSQL down: groups and presence lapse alone
            if outage.part_down(exc) is None:
                raise
            outage.report("websocket", exc)
        finally:
            await self._release()

    async def _join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _release(self) -> None:
        """Forget this connection in the process: heartbeat, typing timers, the gauge."""
        if getattr(self, "_released", True):
            return
        self._released = True
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        for _, task in self.typing.values():
            task.cancel()
        WS_CONNECTIONS.dec()

    async def _heartbeat(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.closing.wait(), settings.PRESENCE_HEARTBEAT_SECONDS)
            except TimeoutError:
                pass
            else:
                return  # the connection is closing
            try:
                await presence.connection_refresh(
                    user_id=self.user.pk, connection=self.channel_name
                )
                await self._viewers_refresh()
            except Exception as exc:  # a Redis or database hiccup must not end the connection
                if outage.part_down(exc) is None:
                    logger.exception("Presence heartbeat failed for user %s", self.user.pk)
                else:
                    outage.report("presence", exc)

    # --- From the channel layer ---

    async def crm_event(self, event: dict) -> None:
        if event.get("skip_user") == self.user.pk:
            return
        if event.get("staff_only") and not self.user.is_staff:
            return
        await self.send(text_data=event["text"])

    async def crm_close(self, event: dict) -> None:
        await self.close(code=event.get("code", CLOSE_UNAUTHORIZED))

    # --- From the client ---

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        bind_socket(connection_request_id=getattr(self, "connection_request_id", None))
        if not await self._frame_allowed():
            return
        request_id = None
        try:
            frame = self._decode(text_data)
            request_id = self._request_id(frame)
            kind, data = self._kind_and_data(frame)
            handler = self.REQUESTS[kind]
            logger.debug("WebSocket frame %s", kind)
            result = await handler(self, data)
            if kind == "ping":
                await self._send_frame("pong", result, request_id)
            elif request_id is not None:
                await self._send_frame("ack", result, request_id)
        except FrameError as exc:
            await self._send_error(exc.code, exc.detail, request_id)
        except (DomainError, APIException) as exc:
            # The API's exception handler: the same error body as over HTTP.
            await self._send_frame("error", api_exception_handler(exc, {}).data, request_id)
        except Exception as exc:
            if outage.part_down(exc) is None:
                logger.exception("WebSocket request failed for user %s", self.user.pk)
                await self._send_error(
                    error_codes.SERVER_ERROR, "The request failed; try again.", request_id
                )
                return
            outage.report("websocket requests", exc)
            await self._send_frame(
                "error",
                {
                    "code": error_codes.SERVICE_UNAVAILABLE,
                    "detail": "The service is unavailable; try again shortly.",
                    "retry_after": outage.RETRY_AFTER_SECONDS,
                },
                request_id,
            )

    async def _frame_allowed(self) -> bool:
        decision = await ratelimit.ahit("ws_frames", f"user:{self.user.pk}")
        if decision.allowed:
            return True
        if decision.count > decision.limit * FLOOD_CLOSE_FACTOR:
            await self._send_error(error_codes.FLOOD, "Too many frames: closing the connection.")
            await self.close(code=CLOSE_FLOOD)
        else:
            await self._send_frame(
                "error",
                {
                    "code": error_codes.THROTTLED,
                    "detail": "Too many frames; slow down.",
                    "retry_after": decision.retry_after,
                },
            )
        return False

    @staticmethod
    def _decode(text_data: str | None) -> dict:
        if text_data is None:
            raise FrameError(error_codes.BINARY_FRAME, "Frames are JSON text, not binary.")
        if len(text_data) > MAX_FRAME_BYTES or len(text_data.encode()) > MAX_FRAME_BYTES:
            raise FrameError(
                error_codes.FRAME_TOO_LARGE, f"A frame is at most {MAX_FRAME_BYTES} bytes."
            )
        try:
            frame = parsers.loads(text_data)  # bounded: nesting past 1,024 levels is refused
        except ValueError:
            raise FrameError(error_codes.INVALID_JSON, "A frame must be valid JSON.") from None
        if not isinstance(frame, dict):
            raise FrameError(
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
            raise FrameError(
                error_codes.INVALID_FRAME, "id must be a string or number (64 characters)."
            )
        return request_id

    def _kind_and_data(self, frame: dict) -> tuple[str, dict]:
        kind = frame.get("type")
        if kind is not None and not isinstance(kind, str):
            raise FrameError(
                error_codes.INVALID_FRAME, 'type must be a string, such as "chat:join".'
            )
        if kind not in self.REQUESTS:
            raise FrameError(
                error_codes.UNKNOWN_TYPE,
                f"Unknown frame type {(kind or '')[:64]!r}; "
                f"one of: {', '.join(sorted(self.REQUESTS))}.",
            )
        data = frame.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise FrameError(error_codes.INVALID_FRAME, "data must be an object.")
        return kind, data

    # --- Requests ---

    async def on_chat_join(self, data: dict) -> dict:
        chat_id = _valid(ChatRef, data)["chat_id"]
        if chat_id not in self.joined:
            if len(self.joined) >= MAX_JOINED_CHATS:
                raise FrameError(
                    error_codes.TOO_MANY_CHATS, f"Join at most {MAX_JOINED_CHATS} chats."
                )
            await database_sync_to_async(chat_for)(self.user, chat_id)
            await self.channel_layer.group_add(chat_group(chat_id), self.channel_name)
            self.joined.add(chat_id)
        await self.send_json({"type": "chat:joined", "data": {"chat_id": chat_id}})
        await self._viewers_change(chat_id, add=True)
        return {"chat_id": chat_id}

    async def on_chat_leave(self, data: dict) -> dict:
        chat_id = _valid(ChatRef, data)["chat_id"]
        if chat_id in self.joined:
            await self._typing_stop(chat_id)
            await self.channel_layer.group_discard(chat_group(chat_id), self.channel_name)
            self.joined.discard(chat_id)
            await self._viewers_change(chat_id, add=False)
        return {"chat_id": chat_id}

    async def on_message_send(self, data: dict) -> dict:
        valid = _valid(MessageSendInput, data)
        message = await database_sync_to_async(_message_send)(self.user, valid)
        await self._typing_stop(valid["chat_id"])
        return message

    async def on_messages_read(self, data: dict) -> dict:
        valid = _valid(MessagesReadInput, data)
        return await database_sync_to_async(_messages_read)(self.user, valid)

    async def on_typing_start(self, data: dict) -> dict:
        valid = _valid(TypingInput, data)
        chat_id = self._joined_chat(valid)
        note = valid["note"] and self.user.is_staff
        loop = asyncio.get_running_loop()
        previous = self.typing.pop(chat_id, None)
        announced_at = previous[0] if previous else None
        if previous:
            previous[1].cancel()
            if previous[2] != note:  # from a note to a reply or back: a new audience
                await self._typing_send("typing:stop", chat_id, note=previous[2])
                announced_at = None
        if announced_at is None or loop.time() - announced_at >= TYPING_REPEAT_SECONDS:
            await self._typing_send("typing:start", chat_id, note=note)
            announced_at = loop.time()
        expiry = asyncio.create_task(self._typing_expire(chat_id, note))
        self.typing[chat_id] = (announced_at, expiry, note)
        return {"chat_id": chat_id}

    async def on_typing_stop(self, data: dict) -> dict:
        chat_id = self._joined_chat(data)
        await self._typing_stop(chat_id)
        return {"chat_id": chat_id}

    async def on_ping(self, data: dict) -> dict:
        return {}

    REQUESTS: dict[str, Callable[[RealtimeConsumer, dict], Awaitable[Any]]] = {
        "chat:join": on_chat_join,
        "chat:leave": on_chat_leave,
        "message:send": on_message_send,
        "messages:read": on_messages_read,
        "typing:start": on_typing_start,
        "typing:stop": on_typing_stop,
        "ping": on_ping,
    }

    # --- Typing ---

    def _joined_chat(self, data: dict) -> int:
        chat_id = _valid(ChatRef, data)["chat_id"]
        if chat_id not in self.joined:
            raise FrameError(error_codes.CHAT_NOT_JOINED, "Send chat:join for this chat first.")
        return chat_id

    async def _typing_expire(self, chat_id: int, note: bool) -> None:
        await asyncio.sleep(TYPING_TIMEOUT_SECONDS)
        self.typing.pop(chat_id, None)
        await self._typing_send("typing:stop", chat_id, note=note)

    async def _typing_stop(self, chat_id: int) -> None:
        state = self.typing.pop(chat_id, None)
        if state is not None:
            state[1].cancel()
            await self._typing_send("typing:stop", chat_id, note=state[2])

    async def _typing_send(self, event: str, chat_id: int, *, note: bool = False) -> None:
        # Ephemeral and outside any transaction: straight to the layer, not through send_event.
        # Typing a note reaches staff connections only (crm_event drops it for customers).
        data: dict[str, Any] = {"chat_id": chat_id, "user_id": self.user.pk}
        if note:
            data["note"] = True
        await self.channel_layer.group_send(
            chat_group(chat_id),
            {
                "type": "crm.event",
                "event": event,
                "text": encode(event, data),
                "skip_user": self.user.pk,
                "staff_only": note,
            },
        )

    # --- Viewers: staff who have a chat open (chats.viewers) ---

    async def _viewers_change(self, chat_id: int, *, add: bool) -> None:
        if not self.user.is_staff:
            return
        try:
            await viewers.announce(
                self.channel_layer,
                organization_id=self.user.organization_id,
                chat_id=chat_id,
                user_id=self.user.pk,
                name=self.user.name or self.user.email.split("@")[0],
                connection=self.channel_name,
                add=add,
            )
        except Exception:  # a Redis hiccup must not fail the join or the disconnect
            logger.exception("Could not update the viewers of chat %s", chat_id)

    async def _viewers_refresh(self) -> None:
        if self.user.is_staff and self.joined:
            await viewers.refresh(
                self.channel_layer,
                organization_id=self.user.organization_id,
                chat_ids=list(self.joined),
                user_id=self.user.pk,
                name=self.user.name or self.user.email.split("@")[0],
                connection=self.channel_name,
            )

    # --- Output ---

    @classmethod
    async def encode_json(cls, content: dict) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def _send_frame(self, kind: str, data: dict, request_id: Any = None) -> None:
        frame: dict[str, Any] = {"type": kind, "data": data}
        if request_id is not None:
            frame["id"] = request_id
        await self.send_json(frame)

    async def _send_error(self, code: str, detail: str, request_id: Any = None) -> None:
        await self._send_frame("error", {"code": code, "detail": detail}, request_id)
