"""Dialects: the event names and field names of the clients the seeds were written for.

A connection picks one at connect (``auth.dialect`` on Socket.IO, ``?dialect=`` on ``/ws/``;
``/ws`` without the slash, the operator panel's address, defaults to ``operator-panel``). The
default (no dialect) speaks the spec's names, which are also those of seeds 002 and 004.

A dialect is data: which of its request names stand for which of ours, and which of its event
names each of our events goes out as, under which condition. Events a dialect does not rename
go out under our names. Every connection, in every dialect, accepts the older field names
(``FIELD_ALIASES``) in requests.

No dialect renames ``unread:updated``: every dialect hears it under our name, and like every
client only for its user's own reads (and sends that read), never for other people's messages;
its ``message:new`` under whatever name carries what counting needs (chat_id, sender, kind,
staff_only), and its ``connection:established`` (``connection_established`` for the operator
panel) the user's ``unread_total``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Older clients' field names → ours. A field given under both names keeps ours.
FIELD_ALIASES = {
    "chatId": "chat_id",
    "conversationId": "chat_id",
    "conversation_id": "chat_id",
    "content": "text",
    "messageType": "kind",
    "clientId": "client_id",
    "messageIds": "message_ids",
    "upTo": "up_to",
    "attachmentIds": "attachment_ids",
    "isTyping": "is_typing",
}


class Viewer(Protocol):
    """What a condition may know of the receiving connection."""

    is_staff: bool
    joined: set[int]


# Conditions an outgoing name depends on: (the event's hints, the receiving connection).
CONDITIONS: dict[str, Callable[[dict, Viewer], bool]] = {
    "always": lambda hints, viewer: True,
    # The chat's own readers: the customer, the members, and staff who opened it (chat:join).
    "reader": lambda hints, viewer: (
        not hints.get("support") or not viewer.is_staff or hints.get("chat_id") in viewer.joined
    ),
    # Staff hearing about any support chat of the organization.
    "staff_support": lambda hints, viewer: bool(hints.get("support")) and viewer.is_staff,
    "online": lambda hints, viewer: hints.get("is_online") is True,
    "offline": lambda hints, viewer: hints.get("is_online") is False,
    "support": lambda hints, viewer: bool(hints.get("support")),
}


@dataclass(frozen=True)
class Out:
    """Our event goes out as ``name`` when ``when`` holds, its payload with ``extra`` fields."""

    name: str
    when: str = "always"
    extra: dict | None = None


@dataclass(frozen=True)
class In:
    """A request of the dialect: ours is ``kind``, or ``otherwise`` when the request's field
    ``switch`` is false (``typing`` {is_typing: false} is a ``typing:stop``)."""

    kind: str
    switch: str | None = None
    otherwise: str | None = None


@dataclass(frozen=True)
class Dialect:
    name: str
    requests: dict[str, In] = field(default_factory=dict)
    events: dict[str, tuple[Out, ...]] = field(default_factory=dict)

    def request(self, name: str, data: dict) -> str:
        """Our request kind for the dialect's ``name`` (unknown names are returned as they
        are: the request handlers refuse them)."""
        found = self.requests.get(name)
        if found is None:
            return name
        if found.switch is not None and data.get(found.switch) is False:
            return found.otherwise or found.kind
        return found.kind

    def outgoing(self, event_type: str, hints: dict, viewer: Viewer) -> tuple[Out, ...]:
        """The names (with extra fields) our event goes out as to ``viewer``: none, one or
        several."""
        rules = self.events.get(event_type)
        if rules is None:
            return (Out(event_type),)
        return tuple(rule for rule in rules if CONDITIONS[rule.when](hints, viewer))


DEFAULT = Dialect("default")

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        DEFAULT,
        # Seed 000, the original CONNECTOR backend (customer cabinet and the admins' CRM).
        Dialect(
            "connector",
            requests={
                "join-chat": In("chat:join"),
                "leave-chat": In("chat:leave"),
                "send-message": In("message:send"),
                "mark-read": In("messages:read"),
            },
            events={
                "message:new": (
                    Out("new-message", "reader"),
                    Out("new-chat-message", "staff_support"),
                ),
                "messages:read": (Out("chat-read"),),
            },
        ),
        # Seed 003, the staff chat inside a CRM (direct and project conversations).
        Dialect(
            "conversations",
            requests={
                "join_conversation": In("chat:join"),
                "leave_conversation": In("chat:leave"),
                "send_message": In("message:send"),
                "typing": In("typing:start", switch="is_typing", otherwise="typing:stop"),
                "mark_as_read": In("messages:read"),
            },
            events={
                "message:new": (Out("new_message"),),
                "message:updated": (Out("message_update"),),
                "typing:start": (Out("user_typing", extra={"is_typing": True}),),
                "typing:stop": (Out("user_typing", extra={"is_typing": False}),),
                "user:status": (Out("user_online", "online"), Out("user_offline", "offline")),
                "chat:new": (Out("conversation_update"),),
                "chat:updated": (Out("conversation_update"),),
            },
        ),
        # Seed 001, the operators' panel: a plain WebSocket, frames {type, data}.
        Dialect(
            "operator-panel",
            events={
                "connection:established": (Out("connection_established"),),
                "message:new": (Out("new_message"),),
                "chat:updated": (Out("chat_status_change", "support"), Out("chat_update")),
                "chat:new": (Out("chat_update"),),
                "operator:status": (Out("operator_status_change"),),
            },
        ),
    )
}


def dialect_named(name: str | None, *, default: str | None = None) -> Dialect | None:
    """The dialect called ``name`` (``default`` when none is given); None when unknown."""
    name = name or default
    if not name:
        return DEFAULT
    return DIALECTS.get(name)


def dialect_names() -> str:
    return ", ".join(name for name in DIALECTS if name != DEFAULT.name)


def canonical_fields(data: dict) -> dict:
    """``data`` with the older clients' field names replaced by ours."""
    if not any(key in FIELD_ALIASES for key in data):
        return data
    fixed = dict(data)
    for alias, name in FIELD_ALIASES.items():
        if alias in fixed:
            value = fixed.pop(alias)
            fixed.setdefault(name, value)
    return fixed


# The REST bodies of seed 002 (the messenger): its names on our two create operations.
CHAT_CREATE_ALIASES = {
    "type": "kind",
    "participantIds": "participant_ids",
    "projectId": "project_id",
}
CHAT_KIND_ALIASES = {"private": "direct"}
LEGACY_MESSAGE_ALIASES = {
    "chatId": "chat_id",
    "conversationId": "chat_id",
    "messageType": "message_type",
    "clientId": "client_id",
    "attachmentIds": "attachment_ids",
}


def renamed_body(data, aliases: dict[str, str]):
    """A parsed JSON body with the older names in ``aliases`` replaced by ours (ours win when
    both are sent). Anything but a JSON object is returned as it is, for the serializer to
    refuse."""
    if not isinstance(data, dict) or not any(key in aliases for key in data):
        return data
    fixed = {key: value for key, value in data.items() if key not in aliases}
    for alias, name in aliases.items():
        if alias in data:
            fixed.setdefault(name, data[alias])
    return fixed
