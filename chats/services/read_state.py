"""Read pointers and unread counts.

Each user's ``Membership.last_read_message_id`` is the truth. ``unread_count`` caches the
number of messages after it that count for the user; every write that changes that number
(send, delete, read, join) updates it in the same transaction, under the chat's row lock where
messages change, and ``unread_counts_rebuild`` recomputes it from the pointers.

``unread:updated`` goes only to the user whose own count changed by their own action (a read,
a send that implicitly reads, leaving or being removed from a chat): clients count other
people's messages from ``message:new`` and get their total in ``connection:established``.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

from accounts.models import User
from chats import events
from chats.models import Chat, Membership, Message, MessageKind
from chats.selectors import (
    chat_for,
    counted_messages_q,
    staff_users_q,
    unread_totals,
    visible_messages_q,
)
from chats.services.common import _locked, participant_ids_of


def _ensure_staff_read_states(chat: Chat, *, since_message_id: int) -> None:
    """Staff read support chats without joining them; each gets a read pointer row the first
    time a message arrives (everything before it counts as seen). One query when nothing is
    missing, which is the usual case."""
    missing = list(
        User.objects.filter(staff_users_q(), organization_id=chat.organization_id, is_active=True)
        .exclude(memberships__chat=chat)
        .values_list("pk", flat=True)
    )
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


def _counted_for_rows(message: Message):
    """Membership rows the message counts as unread for, whose pointer is before it."""
    rows = Membership.objects.filter(
        chat_id=message.chat_id, last_read_message_id__lt=message.pk
    ).exclude(user_id=message.sender_id)
    if message.staff_only:
        rows = rows.filter(staff_users_q("user__"))
    return rows


def _counts_as_unread(message: Message) -> bool:
    return message.kind != MessageKind.SYSTEM


def _emit_own_unread(user_id: int, chat_id: int, *, count: int, total: int | None = None) -> None:
    """Tell the user's own connections (every tab) their count in the chat and their total.

    Only for a change the user made themselves (a read, a send that reads, leaving a chat) or
    one made to their own place (removed from a chat, its count is gone): other people's
    messages change counts without an event, each client counts them from ``message:new``
    (the rule of ``counted_messages_q``), so a message costs the same number of publishes
    whatever the number of staff. ``total`` is looked up when not given."""
    if total is None:
        total = unread_totals([user_id])[user_id]
    events.unread_updated(user_id=user_id, chat_id=chat_id, unread_count=count, total=total)


# --- Read state -----------------------------------------------------------------------------


def chat_mark_read(
    *, user: User, chat: Chat, up_to: int | None = None, message_ids: list[int] | None = None
) -> Membership:
    """Move the user's read pointer forward (never back) and recount their unread messages.

    ``up_to`` marks everything up to that id, ``message_ids`` up to the newest of them that is
    in this chat, neither everything. The pointer is clamped to the newest message the user can
    see now. A staff member without a row on a support chat has implicitly read it all.
    """
    with transaction.atomic():
        chat = chat_for(user, chat.pk)
        visible = Message.objects.filter(chat=chat).filter(visible_messages_q(user))
        membership = Membership.objects.filter(chat=chat, user=user).first()
        if membership is None:
            newest = visible.aggregate(newest=Max("id"))["newest"] or 0
            membership, _ = Membership.objects.get_or_create(
                chat=chat,
                user=user,
                defaults={"is_participant": False, "last_read_message_id": newest},
            )
        # Lock the row first: a concurrent send's increment either committed before (and the
        # count below sees its message) or waits and then counts against the new pointer.
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        newest = visible.aggregate(newest=Max("id"))["newest"] or 0
        if message_ids:
            ids = [int(m) for m in message_ids]
            target = visible.filter(id__in=ids).aggregate(newest=Max("id"))["newest"] or 0
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
            _emit_own_unread(user.pk, chat.pk, count=membership.unread_count)
    return membership


def _expected_unread(*, staff: bool) -> Coalesce:
    """The unread count of the outer Membership row, recomputed from its pointer."""
    counted = (
        Message.objects.filter(
            chat_id=OuterRef("chat_id"),
            id__gt=OuterRef("last_read_message_id"),
            deleted_at__isnull=True,
        )
        .exclude(kind=MessageKind.SYSTEM)
        .exclude(sender_id=OuterRef("user_id"))
    )
    if not staff:
        counted = counted.filter(staff_only=False)
    n = counted.values("chat_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(n[:1]), 0)


def unread_counts_rebuild(*, chat_ids: list[int] | None = None, batch_size: int = 500) -> int:
    """Recompute every cached unread count from the read pointers. Idempotent; returns the
    number of rows that were wrong.

    Works chat batch by chat batch, each under the chats' row locks (taken in id order, like
    sends take one), so no message can arrive or vanish between counting and writing.
    """
    chats = Chat.objects.order_by("pk")
    if chat_ids is not None:
        chats = chats.filter(pk__in=chat_ids)
    fixed = 0
    last_id = 0
    while True:
        batch = list(chats.filter(pk__gt=last_id).values_list("pk", flat=True)[:batch_size])
        if not batch:
            return fixed
        last_id = batch[-1]
        with transaction.atomic():
            list(_locked(Chat.objects.filter(pk__in=batch)).order_by("pk").values("pk"))
            rows = Membership.objects.filter(chat_id__in=batch)
            for staff in (True, False):
                is_staff = staff_users_q("user__")
                subset = rows.filter(is_staff) if staff else rows.exclude(is_staff)
                wrong = list(
                    subset.annotate(expected=_expected_unread(staff=staff))
                    .exclude(unread_count=F("expected"))
                    .values_list("pk", flat=True)
                )
                if wrong:
                    fixed += Membership.objects.filter(pk__in=wrong).update(
                        unread_count=_expected_unread(staff=staff)
                    )
