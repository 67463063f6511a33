"""Pieces every chat write shares: limits, the chat row lock, participants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chats.models import Chat, Membership, Message, MessageKind

MAX_TEXT_LENGTH = 10_000
MAX_CLIENT_ID_LENGTH = 64
MAX_ATTACHMENTS = 10
MAX_NAME_LENGTH = 200
MAX_PARTICIPANTS = 500
EDIT_WINDOW = timedelta(hours=24)
CUSTOMER_KINDS = frozenset(
    {
        MessageKind.TEXT,
        MessageKind.IMAGE,
        MessageKind.VIDEO,
        MessageKind.AUDIO,
        MessageKind.FILE,
        MessageKind.LINK,
    }
)
STAFF_KINDS = CUSTOMER_KINDS | {MessageKind.NOTE}


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool


def _locked(chats):
    """The chat row lock every write that changes a chat's messages or members takes.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: it serializes the writers of one chat just the
    same, but does not block the ``FOR KEY SHARE`` lock PostgreSQL takes on the chat when
    another transaction inserts a row that references it (a read pointer, a message). With
    ``FOR UPDATE`` a send waiting on a concurrent reader's new pointer row, while that reader's
    insert waits on the send's chat lock, deadlocks.
    """
    return chats.select_for_update(no_key=True)


def participant_ids_of(chat: Chat) -> list[int]:
    return list(
        Membership.objects.filter(chat=chat, is_participant=True).values_list("user_id", flat=True)
    )
