"""What chats needs to know about messaging channels, without importing the connectors app:
the connectors register one ``ChannelSupport`` per inbox kind in their ``AppConfig.ready()``.

Chats asks it four things: are an inbox's settings valid, which URL does the provider call,
does a message leave through the channel (then it is stored with ``delivery=pending``), and
does the channel limit free-form replies to a window after the customer's last message
(``reply_window``, WhatsApp's 24 hours; the connector keeps ``Chat.reply_window_ends_at``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from django.utils import timezone

if TYPE_CHECKING:
    from chats.models import Chat, Inbox, Message


class ChannelSupport(Protocol):
    kind: str
    # How long after the customer's last message a free-form reply may leave (None: always).
    reply_window: timedelta | None

    def validate_settings(self, inbox: Inbox) -> None:
        """Raise ``crm.errors.ValidationFailed`` for settings this channel cannot work with."""

    def webhook_path(self, inbox: Inbox) -> str:
        """The path (under the site's base URL) the provider posts updates to."""


_channels: dict[str, ChannelSupport] = {}


def register(support: ChannelSupport) -> None:
    _channels[support.kind] = support


def channel_for(kind: str) -> ChannelSupport | None:
    return _channels.get(kind)


def validate_settings(inbox: Inbox) -> None:
    support = channel_for(inbox.kind)
    if support is not None:
        support.validate_settings(inbox)


def webhook_path(inbox: Inbox) -> str | None:
    support = channel_for(inbox.kind)
    return support.webhook_path(inbox) if support is not None else None


def leaves_through_channel(
    *, chat: Chat, kind: str, staff_only: bool, from_staff: bool, automated: bool = False
) -> bool:
    """A public staff (or automated) message in a support chat of a channel inbox goes out to
    the channel; notes, system lines and the customer's own messages never do."""
    from chats.models import MessageKind

    if not chat.is_support or chat.inbox_id is None or staff_only:
        return False
    if kind in (MessageKind.NOTE, MessageKind.SYSTEM) and not automated:
        return False
    if not (from_staff or automated):
        return False
    return chat.inbox.kind in _channels


def message_leaves_through_channel(message: Message) -> bool:
    sender = message.sender
    return leaves_through_channel(
        chat=message.chat,
        kind=message.kind,
        staff_only=message.staff_only,
        from_staff=bool(sender is not None and sender.is_staff),
        automated=bool(getattr(message, "automated", False)),
    )


def reply_window_of(kind: str) -> timedelta | None:
    support = channel_for(kind)
    return getattr(support, "reply_window", None) if support is not None else None


def reply_window_closed(*, chat: Chat, kind: str, staff_only: bool, from_staff: bool) -> bool:
    """Whether a message would leave through a channel whose reply window has closed (checked
    under the chat lock, before anything is stored). Notes and system lines are never refused."""
    if not leaves_through_channel(
        chat=chat, kind=kind, staff_only=staff_only, from_staff=from_staff
    ):
        return False
    if reply_window_of(chat.inbox.kind) is None:
        return False
    ends_at = chat.reply_window_ends_at
    return ends_at is None or ends_at <= timezone.now()
