"""Writes for messaging channels: a sender becomes a customer, their messages and edits arrive
through the same send path as a cabinet message, and outbound messages change delivery state.

Connectors call these; chats never imports the connectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from chats import channels, error_codes, events
from chats.models import ChannelIdentity, Chat, ChatKind, Delivery, Inbox, Message, MessageKind
from chats.services.chats import support_chat_get_or_create
from chats.services.common import MAX_TEXT_LENGTH, SendResult, _locked, participant_ids_of
from chats.services.messages import _message_send_locked
from crm.errors import Conflict, NotFound


@dataclass(frozen=True)
class ChannelSender:
    """Who wrote, as the provider describes them."""

    external_id: str
    name: str = ""
    username: str = ""
    language: str = ""


@dataclass
class ReceiveResult:
    message: Message
    created: bool
    chat: Chat


def _display_name(sender: ChannelSender) -> str:
    return (sender.name or (f"@{sender.username}" if sender.username else "") or "")[:150]


def channel_identity_get_or_create(*, inbox: Inbox, sender: ChannelSender) -> ChannelIdentity:
    """The customer behind a channel sender, created on their first message (no email, no
    usable password: they never log in). Racing first messages create one (the unique
    (inbox, external_id) constraint decides; the loser's new user rolls back with it). What
    the provider says about the sender is refreshed when it changed."""
    identity = (
        ChannelIdentity.objects.filter(inbox=inbox, external_id=sender.external_id)
        .select_related("customer")
        .first()
    )
    if identity is None:
        try:
            with transaction.atomic():
                customer = User(
                    email=None,
                    name=_display_name(sender),
                    role=Role.CUSTOMER,
                    organization_id=inbox.organization_id,
                )
                customer.set_unusable_password()
                customer.save()
                identity = ChannelIdentity.objects.create(
                    inbox=inbox,
                    external_id=sender.external_id,
                    customer=customer,
                    name=sender.name[:150],
                    username=sender.username[:150],
                    language=sender.language[:16],
                )
            return identity
        except IntegrityError:
            identity = ChannelIdentity.objects.select_related("customer").get(
                inbox=inbox, external_id=sender.external_id
            )
    known = (identity.name, identity.username, identity.language)
    given = (sender.name[:150], sender.username[:150], sender.language[:16])
    if known != given and any(given):
        identity.name, identity.username, identity.language = given
        identity.updated_at = timezone.now()
        identity.save(update_fields=["name", "username", "language", "updated_at"])
    return identity


def channel_message_exists(*, inbox: Inbox, sender_external_id: str, external_id: str) -> bool:
    """Whether this provider message is stored already (checked before fetching its files)."""
    return Message.objects.filter(
        chat__inbox=inbox,
        chat__kind=ChatKind.SUPPORT,
        chat__customer__channel_identities__inbox=inbox,
        chat__customer__channel_identities__external_id=sender_external_id,
        external_id=external_id,
    ).exists()


def message_receive(
    *,
    inbox: Inbox,
    sender: ChannelSender,
    external_id: str,
    text: str = "",
    kind: str = MessageKind.TEXT,
    files: list | None = None,
    sent_at: datetime | None = None,
) -> ReceiveResult:
    """A customer's message from a channel. The same provider message delivered again (a
    retried webhook, copies racing) returns the stored one: the chat lock orders the copies and
    the unique (chat, external_id) constraint backs it up. Goes through the cabinet's send
    path, so counters, events, reopening and auto-assignment behave alike; ``files`` are
    MediaFiles already stored (the message is broadcast only with them). ``sent_at`` is the
    provider's timestamp of the message: on a channel with a reply window it moves
    ``Chat.reply_window_ends_at`` (never back), in the same transaction."""
    identity = channel_identity_get_or_create(inbox=inbox, sender=sender)
    customer = identity.customer
    chat, _ = support_chat_get_or_create(customer=customer, inbox=inbox)
    text = (text or "")[:MAX_TEXT_LENGTH]
    if not text.strip() and not files:
        text = "…"
    existing = Message.objects.filter(chat=chat, external_id=external_id).first()
    if existing is not None:
        return ReceiveResult(existing, False, chat)
    try:
        with transaction.atomic():
            result: SendResult = _message_send_locked(
                sender=customer,
                chat=chat,
                text=text,
                kind=kind,
                attachment_ids=[],
                client_id=None,
                external_id=external_id,
                files=list(files or []),
            )
            if result.created:
                _reply_window_extend(result.message.chat, sent_at=sent_at)
    except IntegrityError:
        existing = Message.objects.filter(chat=chat, external_id=external_id).first()
        if existing is None:
            raise
        return ReceiveResult(existing, False, chat)
    return ReceiveResult(result.message, result.created, chat)


def _reply_window_extend(chat: Chat, *, sent_at: datetime | None) -> None:
    """Called under the chat's row lock. A message the provider dates in the future (a skewed
    clock) counts from now."""
    window = channels.reply_window_of(chat.inbox.kind) if chat.inbox_id else None
    if window is None:
        return
    ends_at = min(sent_at or timezone.now(), timezone.now()) + window
    if chat.reply_window_ends_at is not None and chat.reply_window_ends_at >= ends_at:
        return
    reopened = chat.reply_window_ends_at is None or chat.reply_window_ends_at <= timezone.now()
    chat.reply_window_ends_at = ends_at
    Chat.objects.filter(pk=chat.pk).update(reply_window_ends_at=ends_at)
    if reopened:
        # Only the opening is news; while it is open, a later end is read with the chat
        # (clients refetch it when their countdown runs out), not sent per message.
        events.chat_updated(chat)


def _audience(chat: Chat) -> list[int]:
    return [] if chat.is_support else participant_ids_of(chat)


@transaction.atomic
def message_receive_edit(
    *, inbox: Inbox, sender: ChannelSender, external_id: str, text: str
) -> Message | None:
    """The customer edited a message on the channel: the stored text changes and
    ``message:updated`` goes out. None when the original was never stored."""
    message = (
        Message.objects.filter(
            chat__inbox=inbox,
            chat__customer__channel_identities__inbox=inbox,
            chat__customer__channel_identities__external_id=sender.external_id,
            external_id=external_id,
        )
        .select_related("chat", "sender")
        .first()
    )
    if message is None:
        return None
    chat = _locked(Chat.objects).get(pk=message.chat_id)
    message = (
        Message.objects.select_for_update(of=("self",)).select_related("sender").get(pk=message.pk)
    )
    text = (text or "")[:MAX_TEXT_LENGTH]
    if text and text != message.text and message.deleted_at is None:
        message.text = text
        message.edited_at = timezone.now()
        message.save(update_fields=["text", "edited_at"])
        message.chat = chat
        events.message_updated(message, participant_ids=_audience(chat))
    return message


# --- Outbound delivery state ----------------------------------------------------------------


def _message_locked(message_id: int) -> Message:
    return (
        Message.objects.select_for_update(of=("self",))
        .select_related("chat", "chat__inbox", "sender")
        .get(pk=message_id)
    )


def _emit(message: Message) -> None:
    events.message_updated(message, participant_ids=_audience(message.chat))


@transaction.atomic
def message_delivery_sent(*, message_id: int, external_id: str) -> Message:
    """The provider accepted the message: ``sent``, with its id kept. A report that overtook
    this (``delivered``, ``read``) is not undone."""
    message = _message_locked(message_id)
    if message.delivery == Delivery.SENT and message.external_id == external_id:
        return message
    if message.delivery not in (Delivery.DELIVERED, Delivery.READ):
        message.delivery = Delivery.SENT
    message.external_id = external_id
    message.delivery_error = None
    message.save(update_fields=["delivery", "external_id", "delivery_error"])
    _emit(message)
    return message


@transaction.atomic
def message_delivery_failed(*, message_id: int, code: str, detail: str) -> Message:
    message = _message_locked(message_id)
    error = {"code": code, "detail": detail[:500]}
    if message.delivery == Delivery.FAILED and message.delivery_error == error:
        return message
    message.delivery = Delivery.FAILED
    message.delivery_error = error
    message.save(update_fields=["delivery", "delivery_error"])
    _emit(message)
    return message


@transaction.atomic
def message_delivery_status(
    *, message_id: int, delivery: str, error: dict | None = None
) -> Message:
    """A provider's later report (sent, delivered, read, failed with its error). Never moves a
    message backwards: read stays read when a late "delivered" arrives, and a message the
    customer received does not turn failed."""
    order = [Delivery.PENDING, Delivery.SENT, Delivery.DELIVERED, Delivery.READ]
    message = _message_locked(message_id)
    if delivery == Delivery.FAILED:
        if message.delivery not in (Delivery.PENDING, Delivery.SENT):
            return message
        message.delivery = Delivery.FAILED
        message.delivery_error = {
            "code": str((error or {}).get("code") or Delivery.FAILED)[:64],
            "detail": str((error or {}).get("detail") or "")[:500],
        }
        message.save(update_fields=["delivery", "delivery_error"])
        _emit(message)
        return message
    if (
        message.delivery in order
        and delivery in order
        and order.index(delivery) <= order.index(message.delivery)
    ):
        return message
    message.delivery = delivery
    message.save(update_fields=["delivery"])
    _emit(message)
    return message


def message_for_retry(*, actor: User, message_id: int) -> Message:
    """The message a staff member asks to send again: theirs to see, and failed."""
    from chats.selectors import chats_visible_to

    if not actor.is_staff:
        raise NotFound("Message not found.", code=error_codes.MESSAGE_NOT_FOUND)
    message = (
        Message.objects.filter(pk=message_id, chat__in=chats_visible_to(actor))
        .select_related("chat", "chat__inbox", "sender")
        .first()
    )
    if message is None:
        raise NotFound("Message not found.", code=error_codes.MESSAGE_NOT_FOUND)
    return message


@transaction.atomic
def message_delivery_retry(*, actor: User, message_id: int) -> Message:
    """A failed outbound message goes back to ``pending`` (the caller queues the send on
    commit). Anything else answers 409: a message that is pending or was accepted is never
    queued twice."""
    message_for_retry(actor=actor, message_id=message_id)
    message = _message_locked(message_id)
    if message.delivery != Delivery.FAILED or message.deleted_at is not None:
        raise Conflict(
            "Only a message that failed to leave through its channel can be retried.",
            code=error_codes.MESSAGE_NOT_FAILED,
        )
    message.delivery = Delivery.PENDING
    message.delivery_error = None
    message.save(update_fields=["delivery", "delivery_error"])
    _emit(message)
    return message
