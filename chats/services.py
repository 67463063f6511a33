"""Writes of chats and messages. Each runs in one transaction and emits its events on commit.

Unread state: each user's ``Membership.last_read_message_id`` is the truth. ``unread_count``
caches the number of messages after it that count for the user; every write that changes that
number (send, delete, read, join) updates it in the same transaction, under the chat's row lock
where messages change, and ``unread_counts_rebuild`` recomputes it from the pointers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from chats import events
from chats.models import (
    Chat,
    ChatKind,
    ChatStatus,
    Inbox,
    Membership,
    Message,
    MessageKind,
    Project,
)
from chats.selectors import (
    chat_for,
    chats_visible_to,
    counted_messages_q,
    staff_users_q,
    unread_totals,
    visible_messages_q,
    web_inbox_for,
)
from crm import ratelimit
from crm.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from crm.metrics import MESSAGES_SENT

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


# --- Internal chats -------------------------------------------------------------------------


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise Forbidden("Only staff can do this.", code="staff_only")


def _staff_members(*, organization_id: int, ids, field: str = "participant_ids") -> list[User]:
    """Active staff of the organization with these ids; anything else (unknown, another
    organization's, a customer) is refused alike, so ids of other tenants reveal nothing."""
    try:
        wanted = {int(i) for i in ids}
    except (TypeError, ValueError):
        raise ValidationFailed(
            "Participants are user ids.", code="invalid_participants", fields={field: ["Ids."]}
        ) from None
    if len(wanted) > MAX_PARTICIPANTS:
        raise ValidationFailed(
            f"At most {MAX_PARTICIPANTS} participants.", code="too_many_participants"
        )
    users = list(
        User.objects.filter(
            staff_users_q(), pk__in=wanted, organization_id=organization_id, is_active=True
        )
    )
    unknown = sorted(wanted - {u.pk for u in users})
    if unknown:
        raise ValidationFailed(
            "Participants must be active staff of your organization.",
            code="invalid_participants",
            fields={field: [f"Not a staff member of this organization: {unknown}."]},
        )
    return users


def _clean_name(name: str | None, *, required: bool) -> str:
    name = (name or "").strip()
    if required and not name:
        raise ValidationFailed(
            "A name is required.", code="name_required", fields={"name": ["Required."]}
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            f"Names are limited to {MAX_NAME_LENGTH} characters.",
            code="name_too_long",
            fields={"name": [f"At most {MAX_NAME_LENGTH} characters."]},
        )
    return name


def _add_members(chat: Chat, users: list[User]) -> None:
    """New participants see the history but none of it counts as unread."""
    pointer = chat.last_message_id or 0
    Membership.objects.bulk_create(
        [
            Membership(chat=chat, user=u, is_participant=True, last_read_message_id=pointer)
            for u in users
        ],
        ignore_conflicts=True,
    )
    # A staff member who read a chat before without taking part keeps their pointer.
    Membership.objects.filter(chat=chat, user__in=users, is_participant=False).update(
        is_participant=True
    )


def chat_direct_get_or_create(*, actor: User, other_id: int) -> tuple[Chat, bool]:
    """The one direct chat between two staff members; asking again returns the same chat."""
    _require_staff(actor)
    (other,) = _staff_members(organization_id=actor.organization_id, ids=[other_id])
    if other.pk == actor.pk:
        raise ValidationFailed(
            "A direct chat needs another staff member.",
            code="invalid_participants",
            fields={"participant_ids": ["Name one other staff member."]},
        )
    low, high = sorted((actor.pk, other.pk))
    key = f"{low}:{high}"
    existing = Chat.objects.filter(
        organization_id=actor.organization_id, kind=ChatKind.DIRECT, direct_key=key
    ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chat = Chat.objects.create(
                organization_id=actor.organization_id,
                kind=ChatKind.DIRECT,
                direct_key=key,
                created_by=actor,
            )
            _add_members(chat, [actor, other])
            events.chat_new(chat, participant_ids=[actor.pk, other.pk])
    except IntegrityError:  # both asked at the same time: the constraint picked one chat
        return Chat.objects.get(
            organization_id=actor.organization_id, kind=ChatKind.DIRECT, direct_key=key
        ), False
    return chat, True


@transaction.atomic
def chat_group_create(*, actor: User, name: str, participant_ids: list[int]) -> Chat:
    _require_staff(actor)
    name = _clean_name(name, required=True)
    members = _staff_members(organization_id=actor.organization_id, ids=participant_ids)
    chat = Chat.objects.create(
        organization_id=actor.organization_id, kind=ChatKind.GROUP, name=name, created_by=actor
    )
    users = {u.pk: u for u in [actor, *members]}
    _add_members(chat, list(users.values()))
    events.chat_new(chat, participant_ids=list(users))
    return chat


@transaction.atomic
def chat_project_get_or_create(
    *,
    actor: User,
    project_id: int | None = None,
    name: str = "",
    participant_ids: list[int] | None = None,
) -> tuple[Chat, bool]:
    """A project's chat: for an existing project (its chat if it has one), or a new project
    named ``name``. Its participants are the project's members (the actor joins)."""
    _require_staff(actor)
    extra = _staff_members(organization_id=actor.organization_id, ids=participant_ids or [])
    if project_id is not None:
        project = (
            Project.objects.select_for_update()
            .filter(organization_id=actor.organization_id, pk=project_id)
            .first()
        )
        if project is None:
            raise ValidationFailed(
                "No such project in your organization.",
                code="invalid_project",
                fields={"project_id": ["Unknown project."]},
            )
        existing = Chat.objects.filter(project=project).first()
        if existing is not None:
            if not Membership.objects.filter(
                chat=existing, user=actor, is_participant=True
            ).exists():
                raise Conflict(
                    "This project already has a chat; a participant can add you to it.",
                    code="project_chat_exists",
                )
            return existing, False
    else:
        project = Project.objects.create(
            organization_id=actor.organization_id, name=_clean_name(name, required=True)
        )
    members = list(User.objects.filter(staff_users_q(), projects=project, is_active=True)) + [
        actor,
        *extra,
    ]
    users = {u.pk: u for u in members}
    project.members.add(*users.values())
    chat = Chat.objects.create(
        organization_id=actor.organization_id,
        kind=ChatKind.PROJECT,
        name=project.name,
        project=project,
        created_by=actor,
    )
    _add_members(chat, list(users.values()))
    events.chat_new(chat, participant_ids=list(users))
    return chat, True


def _internal_chat_for_change(actor: User, chat_id: int) -> Chat:
    chat = chat_for(actor, chat_id, queryset=_locked(chats_visible_to(actor)))
    _require_staff(actor)
    if chat.kind not in (ChatKind.GROUP, ChatKind.PROJECT):
        raise ValidationFailed(
            "Only group and project chats have a changeable list of participants.",
            code="fixed_participants",
        )
    return chat


@transaction.atomic
def chat_participant_add(*, actor: User, chat: Chat, user_id: int) -> Chat:
    """A participant adds a staff member of the organization to a group or project chat."""
    chat = _internal_chat_for_change(actor, chat.pk)
    (user,) = _staff_members(organization_id=chat.organization_id, ids=[user_id], field="user_id")
    if Membership.objects.filter(chat=chat, user=user, is_participant=True).exists():
        return chat
    _add_members(chat, [user])
    if chat.project_id:
        chat.project.members.add(user)
    participant_ids = participant_ids_of(chat)
    events.chat_new(chat, participant_ids=[user.pk])
    events.chat_updated(chat, participant_ids=[p for p in participant_ids if p != user.pk])
    return chat


@transaction.atomic
def chat_participant_remove(*, actor: User, chat: Chat, user_id: int) -> Chat:
    """Anyone may leave; removing someone else takes the chat's creator or a manager."""
    chat = _internal_chat_for_change(actor, chat.pk)
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise NotFound("No such participant.", code="participant_not_found") from None
    if user_id != actor.pk and not (actor.is_manager or chat.created_by_id == actor.pk):
        raise Forbidden(
            "Only the chat's creator or a manager removes other participants.",
            code="not_chat_owner",
        )
    membership = Membership.objects.filter(chat=chat, user_id=user_id, is_participant=True).first()
    if membership is None:
        raise NotFound("No such participant.", code="participant_not_found")
    had_unread = membership.unread_count > 0
    membership.delete()
    if chat.project_id:
        chat.project.members.remove(user_id)
    remaining = participant_ids_of(chat)
    events.chat_updated(chat, participant_ids=[*remaining, user_id])
    if had_unread:
        _emit_unread(chat.pk, [user_id])
    return chat


@transaction.atomic
def chat_update(
    *,
    actor: User,
    chat: Chat,
    name: str | None = None,
    status: str | None = None,
    priority: str | None = None,
) -> Chat:
    """Staff rename a chat they see; a support chat's status and priority go through the
    operators' workflow (which checks who may change them)."""
    chat = chat_for(actor, chat.pk, queryset=_locked(chats_visible_to(actor)))
    _require_staff(actor)
    if (status is not None or priority is not None) and not chat.is_support:
        raise ValidationFailed("Only support chats have a status and priority.", code="not_support")
    if name is not None:
        if chat.kind == ChatKind.DIRECT:
            raise ValidationFailed("Direct chats have no name.", code="direct_chat_name")
        name = _clean_name(name, required=chat.kind in (ChatKind.GROUP, ChatKind.PROJECT))
        if name != chat.name:
            chat.name = name
            chat.save(update_fields=["name"])
            events.chat_updated(chat, participant_ids=participant_ids_of(chat))
    if status is not None or priority is not None:
        from operators.services import chat_update_support_fields

        chat = chat_update_support_fields(actor=actor, chat=chat, status=status, priority=priority)
    return chat


# --- Messages -------------------------------------------------------------------------------


def _validate_text(text: str, *, has_attachments: bool) -> None:
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationFailed(
            f"Message text is limited to {MAX_TEXT_LENGTH} characters ({len(text)} given).",
            code="text_too_long",
            fields={"text": [f"At most {MAX_TEXT_LENGTH} characters."]},
        )
    if not text.strip() and not has_attachments:
        raise ValidationFailed(
            "A message needs text or an attachment.",
            code="empty_message",
            fields={"text": ["This field may not be blank."]},
        )


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
    _validate_text(text, has_attachments=bool(attachment_ids))
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
    chat returns the first message (``created=False``) instead of a second one, also when two
    identical requests race (the chat lock orders them, a unique constraint backs it up)."""
    attachment_ids = [int(a) for a in (attachment_ids or [])]
    text = text or ""
    client_id = client_id or None
    _validate_message_input(
        sender=sender, kind=kind, text=text, attachment_ids=attachment_ids, client_id=client_id
    )
    if client_id:
        existing = _sent_before(sender=sender, chat_id=chat.pk, client_id=client_id)
        if existing is not None:  # a retry: not counted against the rate limit
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
            existing = _sent_before(sender=sender, chat_id=chat.pk, client_id=client_id)
            if existing is not None:
                return SendResult(existing, False)
        raise


def _sent_before(*, sender: User, chat_id: int, client_id: str) -> Message | None:
    return (
        Message.objects.filter(
            chat_id=chat_id,
            chat__in=chats_visible_to(sender),
            sender=sender,
            client_id=client_id,
        )
        .select_related("sender", "chat")
        .first()
    )


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
    chat = chat_for(sender, chat.pk, queryset=_locked(chats_visible_to(sender)))
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
    update = _last_message_update(message)
    reopened = False
    if chat.is_support:
        if sender.is_staff and not message.staff_only and chat.first_response_at is None:
            update["first_response_at"] = now
        if not sender.is_staff and chat.status == ChatStatus.CLOSED:
            update.update(status=ChatStatus.OPEN, closed_at=None)
            reopened = True
        _ensure_staff_read_states(chat, since_message_id=previous_last_id)
    _chat_apply(chat, update)
    message.chat = chat
    message.sender = sender
    # Writing in a chat means having read it: the sender's pointer moves to their message.
    sender_unread = (
        Membership.objects.filter(chat=chat, user=sender)
        .values_list("unread_count", flat=True)
        .first()
    )
    Membership.objects.filter(chat=chat, user=sender).update(
        last_read_message_id=message.pk, unread_count=0
    )
    MESSAGES_SENT.labels(kind=kind).inc()
    affected = _count_new_message_as_unread(message)
    participant_ids = [] if chat.is_support else participant_ids_of(chat)
    events.message_new(message, participant_ids=participant_ids)
    _emit_unread(chat.pk, affected + ([sender.pk] if sender_unread else []))
    if reopened:
        events.chat_updated(chat)
        chat_opened(chat)
    return SendResult(message, True)


def _last_message_update(message: Message) -> dict:
    update = {
        "last_message": message,
        "last_message_at": message.created_at,
        "last_activity_at": message.created_at,
    }
    if not message.staff_only:
        update["last_public_message"] = message
    return update


def _chat_apply(chat: Chat, update: dict) -> None:
    Chat.objects.filter(pk=chat.pk).update(**update)
    for field, value in update.items():
        setattr(chat, field, value)


def _count_new_message_as_unread(message: Message) -> list[int]:
    """Add the message to the unread count of everyone it counts for; returns their ids."""
    if not _counts_as_unread(message):
        return []
    rows = _counted_for_rows(message)
    rows.update(unread_count=F("unread_count") + 1)
    return list(rows.values_list("user_id", flat=True))


def message_post_system(
    *, chat: Chat, text: str, staff_only: bool = False, actor: User | None = None
) -> Message:
    """A system line in the chat ("Order #1042: confirmed → in progress", "Assigned to Ann").
    Staff-only system lines are hidden from the customer. Counts as unread for nobody."""
    with transaction.atomic():
        chat = _locked(Chat.objects).get(pk=chat.pk)
        message = Message.objects.create(
            chat=chat,
            sender=None,
            kind=MessageKind.SYSTEM,
            text=text[:MAX_TEXT_LENGTH],
            staff_only=staff_only,
            created_at=timezone.now(),
        )
        _chat_apply(chat, _last_message_update(message))
        message.chat = chat
        participant_ids = [] if chat.is_support else participant_ids_of(chat)
        events.message_new(message, participant_ids=participant_ids)
    return message


def _message_for_change(actor: User, message_id: int) -> tuple[Message, Chat]:
    """The message and its chat, both locked (the chat first, like sends, so no deadlock)."""
    row = (
        Message.objects.filter(pk=message_id, chat__in=chats_visible_to(actor))
        .filter(visible_messages_q(actor))
        .values_list("chat_id", flat=True)
        .first()
    )
    if row is None:
        raise NotFound("Message not found.", code="message_not_found")
    chat = _locked(Chat.objects).get(pk=row)
    message = (
        Message.objects.select_for_update(of=("self",)).select_related("sender").get(pk=message_id)
    )
    message.chat = chat
    return message, chat


@transaction.atomic
def message_edit(*, actor: User, message: Message, text: str) -> Message:
    """The sender changes their message's text within 24 hours of sending it."""
    message, chat = _message_for_change(actor, message.pk)
    if message.sender_id != actor.pk:
        raise Forbidden("You can only edit your own messages.", code="not_message_author")
    if message.deleted_at is not None:
        raise ValidationFailed("A deleted message cannot be edited.", code="message_deleted")
    if message.kind == MessageKind.SYSTEM:
        raise Forbidden("System messages cannot be edited.", code="not_message_author")
    if timezone.now() - message.created_at > EDIT_WINDOW:
        raise Forbidden(
            "Messages can be edited for 24 hours after sending.", code="edit_window_closed"
        )
    text = text or ""
    _validate_text(text, has_attachments=message.attachments.exists())
    if text != message.text:
        message.text = text
        message.edited_at = timezone.now()
        message.save(update_fields=["text", "edited_at"])
        participant_ids = [] if chat.is_support else participant_ids_of(chat)
        events.message_updated(message, participant_ids=participant_ids)
    return message


@transaction.atomic
def message_delete(*, actor: User, message: Message) -> Message:
    """Soft delete: the text and attachments disappear, the placeholder keeps its id. The
    sender deletes their own messages; managers any message of a chat they see. Unread counts
    that included it go down in the same transaction."""
    message, chat = _message_for_change(actor, message.pk)
    if message.sender_id != actor.pk and not actor.is_manager:
        raise Forbidden("You can only delete your own messages.", code="not_message_author")
    if message.deleted_at is not None:
        return message
    affected: list[int] = []
    if _counts_as_unread(message):
        # Lock the rows that count it, then lower them: a reader who moves their pointer
        # meanwhile either went first (and is no longer selected) or waits and recounts.
        rows = _counted_for_rows(message).filter(unread_count__gt=0)
        locked = list(rows.select_for_update(of=("self",)).values_list("pk", "user_id"))
        affected = [user_id for _, user_id in locked]
        Membership.objects.filter(pk__in=[pk for pk, _ in locked]).update(
            unread_count=F("unread_count") - 1
        )
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    participant_ids = [] if chat.is_support else participant_ids_of(chat)
    events.message_updated(message, participant_ids=participant_ids)
    _emit_unread(chat.pk, affected)
    return message


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
            _emit_unread(chat.pk, [user.pk])
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
