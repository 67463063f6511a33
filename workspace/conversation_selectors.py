"""Reads for the conversation page: the chat, its newest history, the customer's orders and
earlier conversations. A fixed number of queries whatever the history's length."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from chats.models import ChannelIdentity, Chat, ChatKind, Membership, Message
from chats.selectors import chat_detail_for, message_history
from orders.models import Order
from orders.selectors import orders_visible_to, with_payload_relations

CONVERSATION_HISTORY_PAGE = 50
CONVERSATION_SIDE_LIMIT = 10


@dataclass(frozen=True)
class Conversation:
    chat: Chat
    messages: list[Message]
    has_more: bool
    customer_read_up_to: int
    orders: list[Order]
    earlier: list[Chat]
    identities: list[ChannelIdentity] = ()


def conversation_customer_read_up_to(chat: Chat) -> int:
    """The id of the newest message the customer has read (their receipt), 0 for none."""
    if not chat.customer_id:
        return 0
    pointer = (
        Membership.objects.filter(chat=chat, user_id=chat.customer_id)
        .values_list("last_read_message_id", flat=True)
        .first()
    )
    return pointer or 0


def conversation_orders(viewer: User, chat: Chat) -> list[Order]:
    if not chat.customer_id:
        return []
    orders = orders_visible_to(viewer).filter(customer_id=chat.customer_id)
    return list(
        with_payload_relations(orders).order_by("-created_at", "-id")[:CONVERSATION_SIDE_LIMIT]
    )


def conversation_earlier(chat: Chat) -> list[Chat]:
    """The customer's other support chats, newest first."""
    if not chat.customer_id:
        return []
    return list(
        Chat.objects.filter(
            organization_id=chat.organization_id,
            kind=ChatKind.SUPPORT,
            customer_id=chat.customer_id,
        )
        .exclude(pk=chat.pk)
        .select_related("inbox")
        .order_by("-last_activity_at", "-id")[:CONVERSATION_SIDE_LIMIT]
    )


def conversation_identities(chat: Chat) -> list[ChannelIdentity]:
    """Who the customer is on the messaging channels (in the chat's organization)."""
    if not chat.customer_id:
        return []
    return list(
        ChannelIdentity.objects.filter(
            customer_id=chat.customer_id, inbox__organization_id=chat.organization_id
        )
        .select_related("inbox")
        .order_by("created_at", "pk")[:CONVERSATION_SIDE_LIMIT]
    )


def conversation_for(viewer: User, chat_id: int) -> Conversation:
    """Everything the page renders first; NotFound for a chat the viewer may not read (another
    organization's, an internal chat they are not in)."""
    chat = chat_detail_for(viewer, chat_id)
    page = message_history(chat=chat, viewer=viewer, limit=CONVERSATION_HISTORY_PAGE)
    return Conversation(
        chat=chat,
        messages=page.messages,
        has_more=page.has_more,
        customer_read_up_to=conversation_customer_read_up_to(chat),
        orders=conversation_orders(viewer, chat),
        earlier=conversation_earlier(chat),
        identities=conversation_identities(chat),
    )
