"""Entry points other apps call when something happens that the operators' workflow reacts to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from chats.models import Chat


def support_chat_opened(chat: Chat) -> None:
    """A support chat was created or reopened (inside the caller's transaction).

    Auto-assignment: the chat goes to the least busy online operator with room, or waits in
    the backlog. ``chat`` is updated in place with its assignee.
    """
    from operators.services import chat_auto_assign

    chat_auto_assign(chat=chat)


def user_presence_changed(*, user_id: int, is_online: bool) -> None:
    """A user's first connection opened (``is_online``) or their last one closed / lapsed.

    Called after the presence change is saved, from synchronous code (wrap it in
    ``database_sync_to_async`` in a consumer). An operator who connects gets back the
    availability presence took from them; one whose last socket closed stops receiving chats
    after ``OPERATOR_OFFLINE_GRACE_SECONDS`` and is turned offline by a delayed task (and by
    the periodic sweep, should that task be lost).
    """
    from operators import services, tasks

    if is_online:
        services.operator_connected(user_id=user_id)
    elif services.operator_disconnected(user_id=user_id):
        tasks.operator_presence_lapse.apply_async_on_commit(
            args=[user_id], countdown=settings.OPERATOR_OFFLINE_GRACE_SECONDS + 1
        )
