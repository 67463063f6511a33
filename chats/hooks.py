"""Extension points of the chats app. Apps that react to chat activity (connectors sending a
reply out to a channel, inbox automation answering a customer, the operators' workflow
assigning support chats, tracking availability and keeping the audit log) register a callback
in their ``AppConfig.ready()``; chats calls them without importing those apps, so the
dependency points one way only: chats never imports them.

Callbacks run inside the transaction that stored the message, after its row and events exist:
whatever leaves the process (a Celery task, an HTTP call) must be deferred to commit
(``delay_on_commit``, ``transaction.on_commit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from chats import error_codes
from crm.errors import ValidationFailed

if TYPE_CHECKING:
    from accounts.models import User
    from chats.models import Chat, Inbox, Message

MessageCallback = Callable[["Message"], None]
ChatCallback = Callable[["Chat"], None]
# ``callback(*, user_id, is_online)``
PresenceCallback = Callable[..., None]
# ``callback(*, actor, inbox, verb, data)``
InboxCallback = Callable[..., None]
# ``handler(*, actor, chat, status, priority) -> Chat``
SupportFieldsHandler = Callable[..., "Chat"]

_message_stored: list[MessageCallback] = []
# Callbacks that may post messages in answer (inbox automation): they run after all the
# others, so that every callback hears of a message before the answers to it.
_message_answered: list[MessageCallback] = []


def on_message_stored(callback: MessageCallback, *, answers: bool = False) -> MessageCallback:
    """Register ``callback(message)`` for every newly stored message (not for a retry that
    returned an existing one). ``answers=True`` for a callback that posts messages in reply.
    Usable as a decorator; registering twice is a no-op."""
    callbacks = _message_answered if answers else _message_stored
    if callback not in callbacks:
        callbacks.append(callback)
    return callback


def message_stored(message: Message) -> None:
    for callback in [*_message_stored, *_message_answered]:
        callback(message)


# --- Support workflow (the operators app) ----------------------------------------------------

_support_chat_opened: list[ChatCallback] = []
_presence_changed: list[PresenceCallback] = []
_inbox_changed: list[InboxCallback] = []
_support_fields: list[SupportFieldsHandler] = []


def _register(callbacks: list, callback):
    if callback not in callbacks:
        callbacks.append(callback)
    return callback


def on_support_chat_opened(callback: ChatCallback) -> ChatCallback:
    """Register ``callback(chat)`` for a support chat created or reopened, inside the caller's
    transaction; it may update ``chat`` in place (its assignee)."""
    return _register(_support_chat_opened, callback)


def support_chat_opened(chat: Chat) -> None:
    for callback in _support_chat_opened:
        callback(chat)


def on_presence_changed(callback: PresenceCallback) -> PresenceCallback:
    """Register ``callback(*, user_id, is_online)``, called from synchronous code after a
    user's first connection opened or their last one closed (the change already saved)."""
    return _register(_presence_changed, callback)


def presence_changed(*, user_id: int, is_online: bool) -> None:
    for callback in _presence_changed:
        callback(user_id=user_id, is_online=is_online)


def on_inbox_changed(callback: InboxCallback) -> InboxCallback:
    """Register ``callback(*, actor, inbox, verb, data)`` for an inbox an admin created
    (``inbox.created``), changed (``inbox.updated``) or deleted (``inbox.deleted``), inside
    that write's transaction (the audit log)."""
    return _register(_inbox_changed, callback)


def inbox_changed(*, actor: User, inbox: Inbox, verb: str, data: dict) -> None:
    for callback in _inbox_changed:
        callback(actor=actor, inbox=inbox, verb=verb, data=data)


def set_support_fields_handler(handler: SupportFieldsHandler) -> SupportFieldsHandler:
    """The one workflow that changes a support chat's status and priority (who may, audit,
    assignment): ``handler(*, actor, chat, status, priority)`` returns the updated chat."""
    _support_fields[:] = [handler]
    return handler


def support_fields_update(
    *, actor: User, chat: Chat, status: str | None, priority: str | None
) -> Chat:
    if not _support_fields:
        raise ValidationFailed(
            _("Status and priority are not managed here."), code=error_codes.NOT_SUPPORT
        )
    return _support_fields[0](actor=actor, chat=chat, status=status, priority=priority)
