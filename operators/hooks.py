"""Entry points other apps call when something happens that operators' workflow reacts to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chats.models import Chat


def support_chat_opened(chat: Chat) -> None:
    """A support chat was created or reopened (inside the caller's transaction).

    Auto-assignment hooks in here; until it exists the chat simply waits unassigned.
    """


def user_presence_changed(*, user_id: int, is_online: bool) -> None:
    """A user's first connection opened (``is_online``) or their last one closed / lapsed.

    Called after the presence change is saved. Operator availability for auto-assignment
    hooks in here (an operator whose last socket closed goes offline after a grace period).
    """
