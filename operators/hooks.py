"""The operators' workflow plugged into ``chats.hooks`` (registered in ``OperatorsConfig.ready``):
auto-assignment of support chats, operator availability following presence, the audit log of
inbox changes and the status/priority workflow of support chats. chats calls these through its
hooks and never imports the operators app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from accounts.models import User
    from chats.models import Chat, Inbox


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


def inbox_changed(*, actor: User, inbox: Inbox, verb: str, data: dict) -> None:
    """An admin created, changed or deleted an inbox: one audit row, in the same transaction."""
    from operators.services import audit_record

    audit_record(
        actor=actor, organization=inbox.organization_id, verb=verb, target=inbox, data=data
    )


def support_fields_update(
    *, actor: User, chat: Chat, status: str | None, priority: str | None
) -> Chat:
    """Staff change a support chat's status and/or priority through the chats API."""
    from operators.services import chat_update_support_fields

    return chat_update_support_fields(actor=actor, chat=chat, status=status, priority=priority)


def register() -> None:
    """Plug the operators' workflow into the chats app's hooks."""
    from chats import hooks

    hooks.on_support_chat_opened(support_chat_opened)
    hooks.on_presence_changed(user_presence_changed)
    hooks.on_inbox_changed(inbox_changed)
    hooks.set_support_fields_handler(support_fields_update)
