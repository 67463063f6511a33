"""Operator workflow: status and priority of support chats (assignment builds on this)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from chats import events as chat_events
from chats.models import Chat, ChatStatus, Priority
from chats.selectors import chat_for
from crm.errors import Forbidden, ValidationFailed


@transaction.atomic
def chat_update_support_fields(
    *, actor: User, chat: Chat, status: str | None = None, priority: str | None = None
) -> Chat:
    """Staff change a support chat's status and/or priority; emits ``chat:updated``."""
    if not actor.is_staff:
        raise Forbidden("Only staff change a chat's status or priority.")
    chat = chat_for(actor, chat.pk, queryset=Chat.objects.select_for_update())
    if not chat.is_support:
        raise ValidationFailed("Only support chats have a status and priority.", code="not_support")
    if chat.organization_id != actor.organization_id:
        raise Forbidden()
    changed: list[str] = []
    if status is not None and status != chat.status:
        if status not in ChatStatus.values:
            raise ValidationFailed(f"Unknown status {status!r}.", code="invalid_status")
        chat.status = status
        chat.closed_at = timezone.now() if status == ChatStatus.CLOSED else None
        changed += ["status", "closed_at"]
    if priority is not None and priority != chat.priority:
        if priority not in Priority.values:
            raise ValidationFailed(f"Unknown priority {priority!r}.", code="invalid_priority")
        chat.priority = priority
        changed.append("priority")
    if changed:
        chat.save(update_fields=changed)
        chat_events.chat_updated(chat)
    return chat
