"""What goes on the wire for chats and messages: one shape for API responses and events."""

from __future__ import annotations

from accounts.avatars import avatar_url
from accounts.models import User
from chats.models import Chat, Message
from media.payloads import media_data


def user_brief(user: User | None) -> dict | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "name": user.name or (user.email or "").split("@")[0] or f"Customer #{user.pk}",
        "avatar": avatar_url(user),
        "role": user.role,
        "is_online": user.is_online,
    }


def customer_data(user: User | None) -> dict | None:
    """Staff see the customer's email; the brief is shared with everyone else."""
    data = user_brief(user)
    if data is not None:
        data["email"] = user.email
    return data


def message_data(message: Message) -> dict:
    """Expects ``sender`` selected and ``attachments`` prefetched when used on lists."""
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "chat_id": message.chat_id,
        "sender": user_brief(message.sender),
        "kind": message.kind,
        "text": "" if deleted else message.text,
        "attachments": [] if deleted else [media_data(f) for f in message.attachments.all()],
        "client_id": message.client_id,
        "external_id": message.external_id,
        "delivery": message.delivery,
        "delivery_error": message.delivery_error,
        "staff_only": message.staff_only,
        "automated": message.automated,
        "created_at": message.created_at,
        "edited_at": message.edited_at,
        "deleted_at": message.deleted_at,
    }


def chat_data(
    chat: Chat,
    *,
    unread_count: int | None = None,
    participants: list[User] | None = None,
    last_message: Message | None = None,
    viewer_is_staff: bool = True,
) -> dict:
    """Expects ``customer``, ``assignee``, ``inbox`` (and the last message with its sender)
    selected by the caller on lists (``chats.selectors.chats_for_list`` does). Customers see
    the newest message they may read as ``last_message``, never a note."""
    if last_message is None:
        if viewer_is_staff:
            last_message = chat.last_message if chat.last_message_id else None
        else:
            last_message = chat.last_public_message if chat.last_public_message_id else None
    if last_message is not None and last_message.staff_only and not viewer_is_staff:
        last_message = None
    if viewer_is_staff:
        last_message_at, last_activity_at = chat.last_message_at, chat.last_activity_at
    else:
        # A note must not show the customer that staff wrote something: their times follow
        # the newest message they may read (or the chat's creation), never a note.
        last_message_at = last_message.created_at if last_message is not None else None
        last_activity_at = max(filter(None, (last_message_at, chat.created_at)))
    data = {
        "id": chat.pk,
        "kind": chat.kind,
        "name": chat.name or str(chat),
        "subject": chat.subject,
        "status": chat.status if chat.is_support else None,
        "priority": chat.priority if chat.is_support else None,
        "inbox": (
            {"id": chat.inbox_id, "kind": chat.inbox.kind, "name": chat.inbox.name}
            if chat.inbox_id
            else None
        ),
        "customer": (
            (customer_data if viewer_is_staff else user_brief)(chat.customer)
            if chat.customer_id
            else None
        ),
        "assignee": user_brief(chat.assignee) if chat.assignee_id else None,
        "assigned_at": chat.assigned_at,
        "first_response_at": chat.first_response_at,
        "closed_at": chat.closed_at,
        "project_id": chat.project_id,
        "last_message": message_data(last_message) if last_message is not None else None,
        "last_message_at": last_message_at,
        "last_activity_at": last_activity_at,
        "reply_window_ends_at": chat.reply_window_ends_at,
        "created_at": chat.created_at,
        "unread_count": unread_count,
        "participants": [user_brief(u) for u in participants or ()],
    }
    return data
