"""Writes of chats and messages. Each runs in one transaction and emits its events on commit.

Split by subject: ``chats`` (support and internal chats, participants), ``messages`` (send,
system lines, edit, delete), ``automated`` (the inbox's own replies), ``read_state`` (read
pointers, unread counts, their rebuild), ``common`` (limits, the chat row lock). Other apps
import from ``chats.services``.
"""

from chats.selectors import unread_totals
from chats.services.automated import message_post_automated
from chats.services.chats import (
    chat_direct_get_or_create,
    chat_group_create,
    chat_opened,
    chat_participant_add,
    chat_participant_remove,
    chat_project_get_or_create,
    chat_update,
    support_chat_get_or_create,
)
from chats.services.common import (
    CUSTOMER_KINDS,
    EDIT_WINDOW,
    MAX_ATTACHMENTS,
    MAX_CLIENT_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARTICIPANTS,
    MAX_TEXT_LENGTH,
    STAFF_KINDS,
    SendResult,
    participant_ids_of,
)
from chats.services.inboxes import inbox_create, inbox_delete, inbox_update
from chats.services.messages import (
    message_delete,
    message_edit,
    message_post_system,
    message_send,
)
from chats.services.read_state import chat_mark_read, unread_counts_rebuild

__all__ = [
    "CUSTOMER_KINDS",
    "EDIT_WINDOW",
    "MAX_ATTACHMENTS",
    "MAX_CLIENT_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PARTICIPANTS",
    "MAX_TEXT_LENGTH",
    "STAFF_KINDS",
    "SendResult",
    "chat_direct_get_or_create",
    "chat_group_create",
    "chat_mark_read",
    "chat_opened",
    "chat_participant_add",
    "chat_participant_remove",
    "chat_project_get_or_create",
    "chat_update",
    "inbox_create",
    "inbox_delete",
    "inbox_update",
    "message_delete",
    "message_edit",
    "message_post_automated",
    "message_post_system",
    "message_send",
    "participant_ids_of",
    "support_chat_get_or_create",
    "unread_counts_rebuild",
    "unread_totals",
]
