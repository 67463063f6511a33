"""Chat events: which payload goes to which groups. Sent on commit through crm.events."""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import User
from chats.models import Chat, Message
from chats.payloads import chat_data, message_data
from crm.events import send_event, staff_group, user_group


def chat_audience(chat: Chat, *, participant_ids: Iterable[int], staff_only: bool = False):
    """Groups that hear about a chat: the organization's staff and the customer for support
    chats (the customer not for staff-only content), the participants for internal chats."""
    if chat.is_support:
        groups = [staff_group(chat.organization_id)]
        if chat.customer_id and not staff_only:
            groups.append(user_group(chat.customer_id))
        return groups
    return [user_group(uid) for uid in participant_ids]


def _hints(chat: Chat) -> dict:
    """What the dialects decide by (chats.dialects): a support chat's news reach all staff."""
    return {"support": chat.is_support}


def message_new(message: Message, *, participant_ids: Iterable[int]) -> None:
    send_event(
        "message:new",
        message_data(message),
        groups=chat_audience(
            message.chat, participant_ids=participant_ids, staff_only=message.staff_only
        ),
        hints=_hints(message.chat),
    )


def message_updated(message: Message, *, participant_ids: Iterable[int]) -> None:
    send_event(
        "message:updated",
        message_data(message),
        groups=chat_audience(
            message.chat, participant_ids=participant_ids, staff_only=message.staff_only
        ),
        hints=_hints(message.chat),
    )


def messages_read(chat: Chat, *, user: User, up_to: int, participant_ids: Iterable[int]) -> None:
    send_event(
        "messages:read",
        {"chat_id": chat.pk, "user_id": user.pk, "up_to": up_to},
        groups=chat_audience(chat, participant_ids=participant_ids),
        hints=_hints(chat),
    )


def unread_updated(*, user_id: int, chat_id: int, unread_count: int, total: int) -> None:
    send_event(
        "unread:updated",
        {"chat_id": chat_id, "unread_count": unread_count, "total": total},
        groups=[user_group(user_id)],
    )


def _chat_event(event_type: str, chat: Chat, *, participant_ids: Iterable[int]) -> None:
    """``participant_ids`` (internal chats) are who hears it; the payload lists every current
    participant."""
    if chat.is_support:
        # Staff and the customer get different views (the customer's never shows a note).
        hints = {**_hints(chat), "chat_id": chat.pk}
        send_event(
            event_type, chat_data(chat), groups=[staff_group(chat.organization_id)], hints=hints
        )
        if chat.customer_id:
            send_event(
                event_type,
                chat_data(chat, viewer_is_staff=False),
                groups=[user_group(chat.customer_id)],
                hints=hints,
            )
        return
    from chats.selectors import participants_of

    send_event(
        event_type,
        chat_data(chat, participants=participants_of(chat)),
        groups=chat_audience(chat, participant_ids=participant_ids),
    )


def chat_new(chat: Chat, *, participant_ids: Iterable[int] = ()) -> None:
    _chat_event("chat:new", chat, participant_ids=participant_ids)


def chat_updated(chat: Chat, *, participant_ids: Iterable[int] = ()) -> None:
    _chat_event("chat:updated", chat, participant_ids=participant_ids)
