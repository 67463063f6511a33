"""Reads of chats and messages, always through what the viewer may see."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Organization, User
from chats.models import INTERNAL_KINDS, Chat, ChatKind, Inbox, InboxKind, Membership, Message
from crm.errors import NotFound
from crm.tenancy import scoped


def web_inbox_for(*, organization: Organization | int) -> Inbox:
    """The organization's web (cabinet) inbox, created on first use."""
    org_id = organization if isinstance(organization, int) else organization.pk
    inbox = Inbox.objects.filter(organization_id=org_id, kind=InboxKind.WEB).first()
    if inbox is not None:
        return inbox
    try:
        with transaction.atomic():
            return Inbox.objects.create(organization_id=org_id, kind=InboxKind.WEB, name="Website")
    except IntegrityError:  # created concurrently
        return Inbox.objects.get(organization_id=org_id, kind=InboxKind.WEB)


def chats_visible_to(user: User) -> QuerySet[Chat]:
    """Customers: their own support chats. Staff: the organization's support chats and the
    internal chats they take part in. Nothing of another organization."""
    chats = scoped(Chat.objects.all(), user.organization_id)
    if not user.is_staff:
        return chats.filter(kind=ChatKind.SUPPORT, customer=user)
    participates = Membership.objects.filter(chat=OuterRef("pk"), user=user, is_participant=True)
    return chats.filter(
        Q(kind=ChatKind.SUPPORT) | Q(kind__in=INTERNAL_KINDS) & Exists(participates)
    )


def chat_for(user: User, chat_id: int | str, *, queryset: QuerySet[Chat] | None = None) -> Chat:
    """A chat the user may read, or NotFound (also for another organization's chat)."""
    chats = chats_visible_to(user) if queryset is None else queryset
    try:
        return chats.get(pk=int(chat_id))
    except (Chat.DoesNotExist, ValueError, TypeError):
        raise NotFound("Chat not found.", code="chat_not_found") from None


def counted_messages_q(user: User) -> Q:
    """Messages that count as unread for ``user`` (against their read pointer): not deleted,
    not system, not their own; notes and staff-only messages only for staff."""
    q = Q(deleted_at__isnull=True) & ~Q(kind="system") & ~Q(sender_id=user.pk)
    if not user.is_staff:
        q &= Q(staff_only=False)
    return q


def visible_messages_q(user: User) -> Q:
    """Messages the user may see in a chat they can read: customers never see staff-only ones."""
    return Q() if user.is_staff else Q(staff_only=False)


def messages_of(chat: Chat, *, viewer: User) -> QuerySet[Message]:
    return Message.objects.filter(chat=chat).filter(visible_messages_q(viewer))
