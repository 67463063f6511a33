"""Writes of chats and messages. Each runs in one transaction and emits its events on commit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Sum
from django.utils import timezone

from accounts.models import STAFF_ROLES, User
from chats import events
from chats.models import Chat, ChatKind, ChatStatus, Inbox, Membership, Message, MessageKind
from chats.selectors import chat_for, counted_messages_q, web_inbox_for
from crm import ratelimit
from crm.errors import NotFound, RateLimited, ValidationFailed
from crm.metrics import MESSAGES_SENT

MAX_TEXT_LENGTH = 10_000
MAX_CLIENT_ID_LENGTH = 64
MAX_ATTACHMENTS = 10
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


def participant_ids_of(chat: Chat) -> list[int]:
    return list(
        Membership.objects.filter(chat=chat, is_participant=True).values_list("user_id", flat=True)
    )


# --- Support chats --------------------------------------------------------------------------


def support_chat_get_or_create(
    *, customer: User, inbox: Inbox | None = None, subject: str = ""
) -> tuple[Chat, bool]:
    """The customer's support chat in ``inbox`` (the web inbox by default), created once even
    when several first requests race (a unique constraint decides)."""
    inbox = inbox or web_inbox_for(organization=customer.organization_id)
    if inbox.organization_id != customer.organization_id:
        raise NotFound("Inbox not found.", code="inbox_not_found")
    existing = Chat.objects.filter(kind=ChatKind.SUPPORT, inbox=inbox, customer=customer).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chat = Chat.objects.create(
                organization_id=customer.organization_id,
                kind=ChatKind.SUPPORT,
                inbox=inbox,
                customer=customer,
                subject=subject[:200],
            )
            Membership.objects.create(chat=chat, user=customer, is_participant=True)
            events.chat_new(chat)
            chat_opened(chat)
    except IntegrityError:
        return Chat.objects.get(kind=ChatKind.SUPPORT, inbox=inbox, customer=customer), False
    return chat, True


def chat_opened(chat: Chat) -> None:
    """A support chat was created or reopened: hand it to auto-assignment (operators app)."""
    from operators import hooks

    hooks.support_chat_opened(chat)


# --- Messages -------------------------------------------------------------------------------


def _validate_message_input(
    *, sender: User, kind: str, text: str, attachment_ids: list[int], client_id: str | None
) -> None:
    allowed = STAFF_KINDS if sender.is_staff else CUSTOMER_KINDS
    if kind not in allowed:
        raise ValidationFailed(
            f"Message kind {kind!r} is not allowed; use one of: {', '.join(sorted(allowed))}.",
            code="invalid_kind",
            fields={"kind": [f"{kind!r} is not allowed."]},
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationFailed(
            f"Message text is limited to {MAX_TEXT_LENGTH} characters ({len(text)} given).",
            code="text_too_long",
            fields={"text": [f"At most {MAX_TEXT_LENGTH} characters."]},
        )
    if not text.strip() and not attachment_ids:
        raise ValidationFailed(
            "A message needs text or an attachment.",
            code="empty_message",
            fields={"text": ["This field may not be blank."]},
        )
    if len(attachment_ids) > MAX_ATTACHMENTS:
        raise ValidationFailed(
            f"At most {MAX_ATTACHMENTS} attachments per message.", code="too_many_attachments"
        )
    if client_id is not None and not (0 < len(client_id) <= MAX_CLIENT_ID_LENGTH):
        raise ValidationFailed(
            f"client_id must be 1 to {MAX_CLIENT_ID_LENGTH} characters.", code="invalid_client_id"
        )


def _attachments_for(*, sender: User, chat: Chat, attachment_ids: list[int]):
    from media.selectors import attachable_media

    if not attachment_ids:
        return []
    files = attachable_media(uploader=sender, chat=chat, ids=attachment_ids)
    if len(files) != len(set(attachment_ids)):
        raise ValidationFailed(
            "Attachments must be your own uploaded files that are not attached elsewhere.",
            code="invalid_attachments",
            fields={"attachment_ids": ["Unknown or unusable file."]},
        )
    return files


def _ensure_staff_read_states(chat: Chat, *, since_message_id: int) -> None:
    """Staff read support chats without joining them; each gets a read pointer row the first
    time a message arrives (everything before it counts as seen)."""
    staff_ids = set(
        User.objects.filter(
            organization_id=chat.organization_id, role__in=STAFF_ROLES, is_active=True
        ).values_list("pk", flat=True)
    )
    have = set(Membership.objects.filter(chat=chat).values_list("user_id", flat=True))
    missing = staff_ids - have
    if missing:
        Membership.objects.bulk_create(
            [
                Membership(
                    chat=chat,
                    user_id=uid,
                    is_participant=False,
                    last_read_message_id=since_message_id,
                )
                for uid in missing
            ],
            ignore_conflicts=True,
        )


def _count_new_message_as_unread(message: Message) -> list[int]:
    """Add the message to the unread count of everyone it counts for; returns their ids."""
    if message.kind == MessageKind.SYSTEM or message.sender_id is None:
        return []
    rows = Membership.objects.filter(
        chat_id=message.chat_id, last_read_message_id__lt=message.pk
    ).exclude(user_id=message.sender_id)
    if message.staff_only:
        rows = rows.filter(user__role__in=STAFF_ROLES)
    user_ids = list(rows.values_list("user_id", flat=True))
    if user_ids:
        Membership.objects.filter(chat_id=message.chat_id, user_id__in=user_ids).update(
            unread_count=F("unread_count") + 1
        )
    return user_ids


def unread_totals(user_ids: list[int]) -> dict[int, int]:
    rows = (
        Membership.objects.filter(user_id__in=user_ids)
        .values("user_id")
        .annotate(total=Sum("unread_count"))
    )
    return {row["user_id"]: row["total"] or 0 for row in rows}


def _emit_unread(chat_id: int, user_ids: list[int]) -> None:
    if not user_ids:
        return
    totals = unread_totals(user_ids)
    counts = dict(
        Membership.objects.filter(chat_id=chat_id, user_id__in=user_ids).values_list(
            "user_id", "unread_count"
        )
    )
    for uid in user_ids:
        events.unread_updated(
            user_id=uid,
            chat_id=chat_id,
            unread_count=counts.get(uid, 0),
            total=totals.get(uid, 0),
        )


def message_send(
    *,
    sender: User,
    chat: Chat,
    text: str = "",
    kind: str = MessageKind.TEXT,
    attachment_ids: list[int] | None = None,
    client_id: str | None = None,
) -> SendResult:
    """Post a message as ``sender``. The same ``client_id`` from the same sender in the same
    chat returns the first message (``created=False``) instead of a second one."""
    attachment_ids = [int(a) for a in (attachment_ids or [])]
    text = text or ""
    client_id = client_id or None
    _validate_message_input(
        sender=sender, kind=kind, text=text, attachment_ids=attachment_ids, client_id=client_id
    )
    if client_id:
        existing = Message.objects.filter(chat=chat, sender=sender, client_id=client_id).first()
        if existing is not None:
            return SendResult(existing, False)
    decision = ratelimit.hit("messages_user", str(sender.pk))
    if not decision.allowed:
        raise RateLimited(
            "You are sending messages too fast.",
            code="messages_throttled",
            retry_after=decision.retry_after,
        )
    try:
        with transaction.atomic():
            return _message_send_locked(
                sender=sender,
                chat=chat,
                text=text,
                kind=kind,
                attachment_ids=attachment_ids,
                client_id=client_id,
            )
    except IntegrityError:
        if client_id:  # a racing twin won: answer with its message
            existing = Message.objects.filter(chat=chat, sender=sender, client_id=client_id).first()
            if existing is not None:
                return SendResult(existing, False)
        raise


def _message_send_locked(
    *,
    sender: User,
    chat: Chat,
    text: str,
    kind: str,
    attachment_ids: list[int],
    client_id: str | None,
) -> SendResult:
    # Locking the chat row serializes sends within one chat, so message ids grow in commit
    # order (clients use them as cursors) and last_message/unread updates never interleave.
    chat = chat_for(sender, chat.pk, queryset=_writable_chats(sender).select_for_update())
    if client_id:
        existing = Message.objects.filter(chat=chat, sender=sender, client_id=client_id).first()
        if existing is not None:
            return SendResult(existing, False)
    files = _attachments_for(sender=sender, chat=chat, attachment_ids=attachment_ids)
    now = timezone.now()
    previous_last_id = chat.last_message_id or 0
    message = Message.objects.create(
        chat=chat,
        sender=sender,
        kind=kind,
        text=text,
        client_id=client_id,
        staff_only=(kind == MessageKind.NOTE),
        created_at=now,
    )
    if files:
        message.attachments.set(files)
        from media.services import media_attach

        media_attach(files=files, chat=chat)
    update = {"last_message": message, "last_message_at": now}
    reopened = False
    if chat.is_support:
        if sender.is_staff and not message.staff_only and chat.first_response_at is None:
            update["first_response_at"] = now
        if not sender.is_staff and chat.status == ChatStatus.CLOSED:
            update.update(status=ChatStatus.OPEN, closed_at=None)
            reopened = True
        _ensure_staff_read_states(chat, since_message_id=previous_last_id)
    Chat.objects.filter(pk=chat.pk).update(**update)
    for field, value in update.items():
        setattr(chat, field, value)
    message.chat = chat
    # Writing in a chat means having read it: the sender's pointer moves to their message.
    sender_had_unread = Membership.objects.filter(
        chat=chat, user=sender, unread_count__gt=0
    ).exists()
    Membership.objects.filter(chat=chat, user=sender).update(
        last_read_message_id=message.pk, unread_count=0
    )
    MESSAGES_SENT.labels(kind=kind).inc()
    affected = _count_new_message_as_unread(message)
    participant_ids = [] if chat.is_support else participant_ids_of(chat)
    events.message_new(message, participant_ids=participant_ids)
    _emit_unread(chat.pk, affected + ([sender.pk] if sender_had_unread else []))
    if reopened:
        events.chat_updated(chat)
        chat_opened(chat)
    return SendResult(message, True)


def _writable_chats(user: User):
    from chats.selectors import chats_visible_to

    return chats_visible_to(user)


def message_post_system(
    *, chat: Chat, text: str, staff_only: bool = False, actor: User | None = None
) -> Message:
    """A system line in the chat ("Order #1042: confirmed → in progress", "Assigned to Ann").
    Staff-only system lines are hidden from the customer. Counts as unread for nobody."""
    with transaction.atomic():
        chat = Chat.objects.select_for_update().get(pk=chat.pk)
        now = timezone.now()
        message = Message.objects.create(
            chat=chat,
            sender=None,
            kind=MessageKind.SYSTEM,
            text=text[:MAX_TEXT_LENGTH],
            staff_only=staff_only,
            created_at=now,
        )
        Chat.objects.filter(pk=chat.pk).update(last_message=message, last_message_at=now)
        chat.last_message, chat.last_message_at = message, now
        message.chat = chat
        participant_ids = [] if chat.is_support else participant_ids_of(chat)
        events.message_new(message, participant_ids=participant_ids)
    return message


# --- Read state -----------------------------------------------------------------------------


def chat_mark_read(
    *, user: User, chat: Chat, up_to: int | None = None, message_ids: list[int] | None = None
) -> Membership:
    """Move the user's read pointer forward (never back) and recount their unread messages.

    ``up_to`` marks everything up to that id, ``message_ids`` up to the newest of them, neither
    everything. The pointer is clamped to the newest message the user can see now.
    """
    with transaction.atomic():
        chat = chat_for(user, chat.pk)
        membership, _ = Membership.objects.get_or_create(
            chat=chat, user=user, defaults={"is_participant": False}
        )
        # Lock the row first: a concurrent send's increment either committed before (and the
        # count below sees its message) or waits and then counts against the new pointer.
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        visible = Message.objects.filter(chat=chat)
        if not user.is_staff:
            visible = visible.filter(staff_only=False)
        newest = visible.aggregate(newest=Max("id"))["newest"] or 0
        if message_ids:
            target = max(int(m) for m in message_ids)
        elif up_to is not None:
            target = int(up_to)
        else:
            target = newest
        target = min(target, newest)
        if target > membership.last_read_message_id:
            membership.last_read_message_id = target
            membership.unread_count = (
                Message.objects.filter(chat=chat, id__gt=target)
                .filter(counted_messages_q(user))
                .count()
            )
            membership.save(update_fields=["last_read_message_id", "unread_count"])
            participant_ids = [] if chat.is_support else participant_ids_of(chat)
            events.messages_read(chat, user=user, up_to=target, participant_ids=participant_ids)
            _emit_unread(chat.pk, [user.pk])
    return membership


def unread_counts_rebuild(*, chat_ids: list[int] | None = None) -> int:
    """Recompute every cached unread count from the read pointers. Idempotent; returns the
    number of rows that were wrong."""
    from django.db.models import Count, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    rows = Membership.objects.all()
    if chat_ids is not None:
        rows = rows.filter(chat_id__in=chat_ids)
    base = (
        Message.objects.filter(
            chat_id=OuterRef("chat_id"),
            id__gt=OuterRef("last_read_message_id"),
            deleted_at__isnull=True,
        )
        .exclude(kind=MessageKind.SYSTEM)
        .exclude(sender_id=OuterRef("user_id"))
    )
    staff_count = base.values("chat_id").annotate(n=Count("id")).values("n")
    customer_count = (
        base.filter(staff_only=False).values("chat_id").annotate(n=Count("id")).values("n")
    )
    fixed = 0
    for staff, qs in ((True, staff_count), (False, customer_count)):
        subset = (
            rows.filter(user__role__in=STAFF_ROLES)
            if staff
            else rows.exclude(user__role__in=STAFF_ROLES)
        )
        expected = Coalesce(Subquery(qs[:1]), 0)
        wrong = subset.annotate(expected=expected).exclude(unread_count=F("expected"))
        ids = list(wrong.values_list("pk", flat=True))
        if ids:
            fixed += Membership.objects.filter(pk__in=ids).update(
                unread_count=Coalesce(Subquery(qs[:1]), 0)
            )
    return fixed
