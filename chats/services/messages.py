"""Writes of messages: send (idempotent on the client's id), system lines, edit, soft delete.
Each runs in one transaction under the chat's row lock and emits its events on commit."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from accounts.models import User
from chats import channels, error_codes, events, hooks
from chats.models import Chat, ChatStatus, Delivery, Membership, Message, MessageKind
from chats.selectors import chat_for, chats_visible_to, staff_users_q, visible_messages_q
from chats.services.chats import chat_opened
from chats.services.common import (
    CUSTOMER_KINDS,
    EDIT_WINDOW,
    MAX_ATTACHMENTS,
    MAX_CLIENT_ID_LENGTH,
    MAX_TEXT_LENGTH,
    STAFF_KINDS,
    SendResult,
    _locked,
    participant_ids_of,
)
from chats.services.read_state import (
    _counted_for_rows,
    _counts_as_unread,
    _emit_own_unread,
    _ensure_staff_read_states,
)
from crm import ratelimit
from crm.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from crm.i18n import organization_of, organization_override
from crm.metrics import MESSAGES_SENT

# --- Messages -------------------------------------------------------------------------------


def _validate_text(text: str, *, has_attachments: bool) -> None:
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationFailed(
            _("Message text is limited to %(MAX_TEXT_LENGTH)s characters (%(len)s given).")
            % {"MAX_TEXT_LENGTH": MAX_TEXT_LENGTH, "len": len(text)},
            code=error_codes.TEXT_TOO_LONG,
            fields={
                "text": [
                    _("At most %(MAX_TEXT_LENGTH)s characters.")
                    % {"MAX_TEXT_LENGTH": MAX_TEXT_LENGTH}
                ]
            },
        )
    if not text.strip() and not has_attachments:
        raise ValidationFailed(
            _("A message needs text or an attachment."),
            code=error_codes.EMPTY_MESSAGE,
            fields={"text": [_("This field may not be blank.")]},
        )


def _validate_message_input(
    *, sender: User, kind: str, text: str, attachment_ids: list[int], client_id: str | None
) -> None:
    allowed = STAFF_KINDS if sender.is_staff else CUSTOMER_KINDS
    if kind not in allowed:
        raise ValidationFailed(
            _("Message kind %(kind)r is not allowed; use one of: %(join)s.")
            % {"kind": kind, "join": ", ".join(sorted(allowed))},
            code=error_codes.INVALID_KIND,
            fields={"kind": [_("%(kind)r is not allowed.") % {"kind": kind}]},
        )
    _validate_text(text, has_attachments=bool(attachment_ids))
    if len(attachment_ids) > MAX_ATTACHMENTS:
        raise ValidationFailed(
            _("At most %(MAX_ATTACHMENTS)s attachments per message.")
            % {"MAX_ATTACHMENTS": MAX_ATTACHMENTS},
            code=error_codes.TOO_MANY_ATTACHMENTS,
        )
    if client_id is not None and not (0 < len(client_id) <= MAX_CLIENT_ID_LENGTH):
        raise ValidationFailed(
            _("client_id must be 1 to %(MAX_CLIENT_ID_LENGTH)s characters.")
            % {"MAX_CLIENT_ID_LENGTH": MAX_CLIENT_ID_LENGTH},
            code=error_codes.INVALID_CLIENT_ID,
        )


def _attachments_for(*, sender: User, chat: Chat, attachment_ids: list[int]):
    from media.selectors import attachable_media

    if not attachment_ids:
        return []
    files = attachable_media(uploader=sender, chat=chat, ids=attachment_ids)
    if len(files) != len(set(attachment_ids)):
        raise ValidationFailed(
            _("Attachments must be your own uploaded files that are not attached elsewhere."),
            code=error_codes.INVALID_ATTACHMENTS,
            fields={"attachment_ids": [_("Unknown or unusable file.")]},
        )
    return files


def message_send(
    *,
    sender: User,
    chat: Chat | int,
    text: str = "",
    kind: str = MessageKind.TEXT,
    attachment_ids: list[int] | None = None,
    client_id: str | None = None,
    outside_reply_window: bool = False,
) -> SendResult:
    """Post a message as ``sender`` in ``chat`` (the chat or its id: the chat is read once,
    locked, and NotFound if the sender cannot see it). The same ``client_id`` from the same
    sender in the same chat returns the first message (``created=False``) instead of a second
    one, also when two identical requests race (the chat lock orders them, a unique constraint
    backs it up); a retry is not counted against the rate limit.

    A reply that would leave through a channel whose reply window has closed (WhatsApp, 24 h
    after the customer's last message) is refused with 409 ``reply_window_closed`` before
    anything is stored; ``outside_reply_window`` is for what the provider accepts anyway (an
    approved template, sent by the channel's own service)."""
    chat_id = chat if isinstance(chat, int) else chat.pk
    attachment_ids = [int(a) for a in (attachment_ids or [])]
    text = text or ""
    client_id = client_id or None
    try:
        with transaction.atomic():
            locked = _chat_locked(sender, chat_id, client_id=client_id)
            _validate_message_input(
                sender=sender,
                kind=kind,
                text=text,
                attachment_ids=attachment_ids,
                client_id=client_id,
            )
            existing = _sent_before_locked(locked, sender=sender)
            if existing is not None:  # a retry: not counted against the rate limit
                return SendResult(existing, False)
            decision = ratelimit.hit("messages_user", str(sender.pk))
            if not decision.allowed:
                raise RateLimited(
                    _("You are sending messages too fast."),
                    code=error_codes.MESSAGES_THROTTLED,
                    retry_after=decision.retry_after,
                )
            return _message_store(
                sender=sender,
                chat=locked,
                text=text,
                kind=kind,
                attachment_ids=attachment_ids,
                client_id=client_id,
                outside_reply_window=outside_reply_window,
            )
    except IntegrityError:
        if client_id:  # a racing twin won: answer with its message
            existing = _sent_before(sender=sender, chat_id=chat_id, client_id=client_id)
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


def _chat_locked(sender: User, chat_id: int, *, client_id: str | None = None) -> Chat:
    """The chat, locked, as the sender sees it (NotFound otherwise), with its inbox joined (to
    know its channel; only the chat row is locked). Locking the chat row serializes sends
    within one chat, so message ids grow in commit order (clients use them as cursors) and
    last_message/unread updates never interleave. With a ``client_id``, the same query tells
    whether the sender already stored a message with it (``sent_before_id``): a twin that
    commits while this one waits for the lock is caught by the unique constraint instead."""
    chats = (
        chats_visible_to(sender)
        .select_related("inbox")
        .select_for_update(no_key=True, of=("self",))
    )
    if client_id:
        twins = Message.objects.filter(
            chat_id=OuterRef("pk"), sender_id=sender.pk, client_id=client_id
        )
        chats = chats.annotate(sent_before_id=Subquery(twins.values("pk")[:1]))
    return chat_for(sender, chat_id, queryset=chats.annotate(staff_missing=_staff_missing()))


def _staff_missing() -> Exists:
    """Whether an active staff member of the chat's organization has no read pointer row on
    it yet (``_ensure_staff_read_states`` then creates them): asked with the lock, so the
    usual send, where nobody is missing, spends no query on it."""
    has_row = Membership.objects.filter(chat_id=OuterRef(OuterRef("pk")), user_id=OuterRef("pk"))
    staff = User.objects.filter(
        staff_users_q(), organization_id=OuterRef("organization_id"), is_active=True
    )
    return Exists(staff.filter(~Exists(has_row)))


def _sent_before_locked(chat: Chat, *, sender: User) -> Message | None:
    message_id = getattr(chat, "sent_before_id", None)
    if message_id is None:
        return None
    message = Message.objects.get(pk=message_id)
    message.chat = chat
    message.sender = sender
    return message


def _message_send_locked(
    *,
    sender: User,
    chat: Chat,
    text: str,
    kind: str,
    attachment_ids: list[int],
    client_id: str | None,
    external_id: str | None = None,
    files: list | None = None,
    outside_reply_window: bool = False,
) -> SendResult:
    chat = _chat_locked(sender, chat.pk)
    if client_id:
        existing = Message.objects.filter(chat=chat, sender=sender, client_id=client_id).first()
        if existing is not None:
            return SendResult(existing, False)
    if external_id:  # a channel delivered the same message again
        existing = Message.objects.filter(chat=chat, external_id=external_id).first()
        if existing is not None:
            return SendResult(existing, False)
    return _message_store(
        sender=sender,
        chat=chat,
        text=text,
        kind=kind,
        attachment_ids=attachment_ids,
        client_id=client_id,
        external_id=external_id,
        files=files,
        outside_reply_window=outside_reply_window,
    )


def _message_store(
    *,
    sender: User,
    chat: Chat,
    text: str,
    kind: str,
    attachment_ids: list[int],
    client_id: str | None,
    external_id: str | None = None,
    files: list | None = None,
    outside_reply_window: bool = False,
) -> SendResult:
    """Store the message in ``chat``, locked by the caller (``_chat_locked``)."""
    staff_only = kind == MessageKind.NOTE
    if not outside_reply_window and channels.reply_window_closed(
        chat=chat, kind=kind, staff_only=staff_only, from_staff=sender.is_staff
    ):
        raise Conflict(
            _(
                "The customer last wrote more than 24 hours ago: WhatsApp only delivers an "
                "approved template now. Send a template to reopen the conversation."
            ),
            code=error_codes.REPLY_WINDOW_CLOSED,
        )
    if files is None:
        files = _attachments_for(sender=sender, chat=chat, attachment_ids=attachment_ids)
    now = timezone.now()
    previous_last_id = chat.last_message_id or 0
    outbound = channels.leaves_through_channel(
        chat=chat, kind=kind, staff_only=staff_only, from_staff=sender.is_staff
    )
    message = Message.objects.create(
        chat=chat,
        sender=sender,
        kind=kind,
        text=text,
        client_id=client_id,
        external_id=external_id,
        delivery=Delivery.PENDING if outbound else None,
        staff_only=staff_only,
        created_at=now,
    )
    if files:
        message.attachments.set(files)
        from media.services import media_attach

        media_attach(files=files, chat=chat)
    else:  # a new message without files: its payload needs no query to say so
        message._prefetched_objects_cache = {"attachments": message.attachments.none()}
    update = _last_message_update(message)
    reopened = False
    if chat.is_support:
        if sender.is_staff and not message.staff_only and chat.first_response_at is None:
            update["first_response_at"] = now
        if not sender.is_staff and chat.status == ChatStatus.CLOSED:
            update.update(status=ChatStatus.OPEN, closed_at=None)
            reopened = True
        if getattr(chat, "staff_missing", True):
            _ensure_staff_read_states(chat, since_message_id=previous_last_id)
    _chat_apply(chat, update)
    message.chat = chat
    message.sender = sender
    MESSAGES_SENT.labels(kind=kind).inc()
    sender_unread, sender_total = _count_sent_message(message)
    participant_ids = [] if chat.is_support else participant_ids_of(chat)
    events.message_new(message, participant_ids=participant_ids)
    if sender_unread:  # writing read the chat: the sender's other tabs hear their count
        _emit_own_unread(sender.pk, chat.pk, count=0, total=sender_total)
    if reopened:
        events.chat_updated(chat)
        chat_opened(chat)
    hooks.message_stored(message)
    return SendResult(message, True)


def _count_sent_message(message: Message) -> tuple[int, int]:
    """One UPDATE for every read pointer the new message touches: the sender's moves to it
    (writing in a chat means having read it) and everyone it counts for gets one more unread.
    Nobody is told: their clients count the message from ``message:new``.

    Returns the sender's count before and, when it was not zero (a second statement then
    zeroes it), the sender's unread total after (for their own ``unread:updated``)."""
    table = connection.ops.quote_name(Membership._meta.db_table)
    counted = "FALSE"
    params: list = [message.sender_id, message.sender_id, message.pk, message.chat_id]
    params.append(message.sender_id)
    if _counts_as_unread(message):
        counted = "last_read_message_id < %s"
        params.append(message.pk)
        if message.staff_only:
            staff_sql, staff_params = (
                User.objects.filter(staff_users_q()).values("pk").query.sql_with_params()
            )
            counted += f" AND user_id IN ({staff_sql})"
            params.extend(staff_params)
    # Only quoted names and this module's fragments are formatted in; values are parameters.
    sql = (
        f"UPDATE {table} SET"  # noqa: S608
        " unread_count = CASE WHEN user_id = %s THEN unread_count ELSE unread_count + 1 END,"
        " last_read_message_id = CASE WHEN user_id = %s THEN %s ELSE last_read_message_id END"
        f" WHERE chat_id = %s AND (user_id = %s OR ({counted}))"
        " RETURNING user_id, unread_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        sender_unread = next(
            (count for user_id, count in cursor.fetchall() if user_id == message.sender_id), 0
        )
        if not sender_unread:
            return 0, 0
        cursor.execute(
            f"UPDATE {table} SET unread_count = 0"  # noqa: S608
            " WHERE chat_id = %s AND user_id = %s"
            f" RETURNING (SELECT COALESCE(SUM(o.unread_count), 0) FROM {table} o"
            " WHERE o.user_id = %s AND o.chat_id <> %s AND o.unread_count > 0)",
            [message.chat_id, message.sender_id, message.sender_id, message.chat_id],
        )
        (total,) = cursor.fetchone()
    return sender_unread, total


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


def message_post_system(
    *, chat: Chat, text: str | Promise, staff_only: bool = False, actor: User | None = None
) -> Message:
    """A system line in the chat ("Order #1042: confirmed → in progress", "Assigned to Ann").
    Staff-only system lines are hidden from the customer. Counts as unread for nobody.
    A lazy ``text`` (gettext_lazy, format_lazy) is written in the organization's language."""
    if isinstance(text, Promise):
        with organization_override(organization_of(chat)):
            text = str(text)
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
        raise NotFound(_("Message not found."), code=error_codes.MESSAGE_NOT_FOUND)
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
        raise Forbidden(
            _("You can only edit your own messages."), code=error_codes.NOT_MESSAGE_AUTHOR
        )
    if message.deleted_at is not None:
        raise ValidationFailed(
            _("A deleted message cannot be edited."), code=error_codes.MESSAGE_DELETED
        )
    if message.kind == MessageKind.SYSTEM:
        raise Forbidden(_("System messages cannot be edited."), code=error_codes.NOT_MESSAGE_AUTHOR)
    if timezone.now() - message.created_at > EDIT_WINDOW:
        raise Forbidden(
            _("Messages can be edited for 24 hours after sending."),
            code=error_codes.EDIT_WINDOW_CLOSED,
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
        raise Forbidden(
            _("You can only delete your own messages."), code=error_codes.NOT_MESSAGE_AUTHOR
        )
    if message.deleted_at is not None:
        return message
    if _counts_as_unread(message):
        # Lock the rows that count it, then lower them: a reader who moves their pointer
        # meanwhile either went first (and is no longer selected) or waits and recounts.
        # Nobody is told: clients lower their counts from ``message:updated``.
        rows = _counted_for_rows(message).filter(unread_count__gt=0)
        locked = list(rows.select_for_update(of=("self",)).values_list("pk", flat=True))
        Membership.objects.filter(pk__in=locked).update(unread_count=F("unread_count") - 1)
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    participant_ids = [] if chat.is_support else participant_ids_of(chat)
    events.message_updated(message, participant_ids=participant_ids)
    return message
