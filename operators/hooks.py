"""Entry points other apps call when something happens that operators' workflow reacts to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chats.models import Chat


def support_chat_opened(chat: Chat) -> None:
    """A support chat was created or reopened (inside the caller's transaction).

    Auto-assignment hooks in here; until it exists the chat simply waits unassigned.
    """
