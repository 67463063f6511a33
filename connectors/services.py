"""The rules every channel shares: which messages leave, how a webhook delivery is taken in
once, and how an outbound message goes out exactly once.

Outbound, and the cases that stay ambiguous
-------------------------------------------
Each provider call of a message (a long text is several) has an ``OutboundAttempt`` row,
written (``sending``) and committed *before* the call, and updated after it:

* accepted → ``accepted`` with the provider's id; a later run skips that part. When every part
  is accepted the message is ``sent`` and the first part's id is its ``external_id``.
* 429, 5xx, a connection that never opened, a body never fully written → ``refused``: the
  provider did not act on it, so the task retries (after Telegram's ``retry_after``, else with
  exponential backoff) and sends that part again.
* 403 (the user blocked the bot), 400, 401 → ``refused``; the message fails at once.
* **Ambiguous**: the request left and no answer came back (read timeout, connection dropped
  mid-response), or a worker died between the call and writing its outcome (the row is still
  ``sending`` when the next run finds it, older than the call timeout). The provider may have
  delivered it and Telegram has no idempotency key, so the code never resends on its own: the
  part becomes ``unknown`` and the message ``failed`` with ``delivery_unknown``, which tells
  the operator it may have arrived. ``POST /api/messages/{id}/retry`` is their explicit choice
  to send it again.
* A ``sending`` row younger than the call timeout means another run is making that call right
  now (a redelivered task): this run steps back and checks again later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from chats import channels, events
from chats.models import ChannelIdentity, Delivery, Inbox, Message, MessageKind
from chats.services import support_chat_get_or_create
from chats.services.channels import (
    channel_identity_get_or_create,
    channel_message_exists,
    message_delivery_failed,
    message_delivery_retry,
    message_delivery_sent,
    message_delivery_status,
    message_receive,
    message_receive_edit,
)
from connectors import error_codes, registry
from connectors.base import (
    Ambiguous,
    FetchError,
    InboundMessage,
    Rejected,
    RetryLater,
    StatusReport,
)
from connectors.models import AttemptState, OutboundAttempt, OutboundTemplate, WebhookUpdate
from crm.errors import Conflict, DomainError, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

KIND_OF_MEDIA = {"image": MessageKind.IMAGE, "video": MessageKind.VIDEO, "audio": MessageKind.AUDIO}


# --- Handing staff messages to the channel --------------------------------------------------


def _enqueue_on_commit(task, object_id: int) -> None:
    """``task.delay(object_id)`` once the transaction commits. Robust: a broker that is down
    then must not turn a stored message or webhook delivery into an error answer; the row is
    written, and ``connectors_resume`` (beat) queues what was never queued."""
    transaction.on_commit(lambda: task.delay(object_id), robust=True)


def message_hand_to_channel(message: Message) -> None:
    """``chats.hooks`` callback, inside the transaction that stored ``message``: a message that
    leaves through its channel is queued for the send task when that transaction commits.
    Automated replies of the inbox (``automated=True``) leave too."""
    if message.delivery != Delivery.PENDING:
        if not channels.message_leaves_through_channel(message):
            return
        message.delivery = Delivery.PENDING  # stored by a path that did not know the channel
        Message.objects.filter(pk=message.pk).update(delivery=Delivery.PENDING)
        events.message_updated(message, participant_ids=[])
    from connectors.tasks import message_deliver

    _enqueue_on_commit(message_deliver, message.pk)


def delivery_retry(*, actor: User, message_id: int) -> Message:
    """Send a failed message again (the operator's choice, also after an ambiguous attempt)."""
    from chats.services.channels import message_for_retry

    found = message_for_retry(actor=actor, message_id=message_id)  # 404 first
    inbox = found.chat.inbox
    if inbox is None or registry.connector_for(inbox.kind) is None:
        raise Conflict(
            "This message does not leave through a channel.", code=error_codes.NOT_CHANNEL_MESSAGE
        )
    with transaction.atomic():
        message = message_delivery_retry(actor=actor, message_id=message_id)
        OutboundAttempt.objects.filter(message_id=message.pk).exclude(
            state=AttemptState.ACCEPTED
        ).update(state=AttemptState.REFUSED)
        from connectors.tasks import message_deliver

        _enqueue_on_commit(message_deliver, message.pk)
    return message


# --- Templates (WhatsApp) -------------------------------------------------------------------

TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
TEMPLATE_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
MAX_TEMPLATE_PARAMETERS = 20
MAX_TEMPLATE_PARAMETER_LENGTH = 1024


def _template_clean(name: object, language: object, parameters: object) -> tuple[str, str, list]:
    errors: dict[str, list[str]] = {}
    name = str(name or "").strip()
    language = str(language or "").strip()
    if not TEMPLATE_NAME_RE.match(name):
        errors["name"] = [_("The template's name as approved: lowercase letters, digits, _.")]
    if not TEMPLATE_LANGUAGE_RE.match(language):
        errors["language"] = [_("A language code such as en_US, ru or pt_BR.")]
    if not isinstance(parameters, list) or len(parameters) > MAX_TEMPLATE_PARAMETERS:
        errors["parameters"] = [_("A list of at most 20 texts for {{1}}, {{2}}, ...")]
        parameters = []
    cleaned = []
    for value in parameters:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            errors["parameters"] = [_("Each parameter is a text.")]
            break
        value = str(value).strip()
        if not value or len(value) > MAX_TEMPLATE_PARAMETER_LENGTH:
            errors["parameters"] = [_("Each parameter has 1 to 1024 characters.")]
            break
        cleaned.append(value)
    if errors:
        raise ValidationFailed(
            _("This template cannot be sent."), code=error_codes.INVALID_TEMPLATE, fields=errors
        )
    return name, language, cleaned


def template_send(
    *,
    actor: User,
    chat_id: int,
    name: object,
    language: object,
    parameters: object = (),
    client_id: str | None = None,
):
    """Send an approved template to the customer of a WhatsApp chat: allowed outside the
    24-hour window (it is what reopens it). Stored as a message of the staff member, delivered
    by the same task as any reply (idempotency, retries, failure). Returns the ``SendResult``."""
    from chats.selectors import chat_for
    from chats.services import message_send

    if not actor.is_staff:
        raise NotFound(_("Chat not found."), code=error_codes.CHAT_NOT_FOUND)
    chat = chat_for(actor, chat_id)  # 404 for another organization's chat
    connector = registry.connector_for(chat.inbox.kind) if chat.inbox_id else None
    if not chat.is_support or not getattr(connector, "supports_templates", False):
        raise Conflict(
            _("Templates are sent only in WhatsApp conversations."),
            code=error_codes.TEMPLATES_UNSUPPORTED,
        )
    name, language, values = _template_clean(name, language, list(parameters or []))
    text = _("Template “%(name)s” (%(language)s)") % {"name": name, "language": language}
    if values:
        text += "\n" + "\n".join(f"{{{{{i}}}}} = {v}" for i, v in enumerate(values, 1))
    with transaction.atomic():
        result = message_send(
            sender=actor, chat=chat, text=text, client_id=client_id, outside_reply_window=True
        )
        if result.created:
            OutboundTemplate.objects.create(
                message=result.message, name=name, language=language, parameters=values
            )
    return result


# --- Outbound -------------------------------------------------------------------------------


class InProgress(Exception):
    """Another run is making this call right now."""


@dataclass
class _Claim:
    attempt: OutboundAttempt
    already_accepted: bool


def _claim(message_id: int, part: int) -> _Claim:
    stale = timezone.now() - timedelta(seconds=settings.CONNECTOR_TIMEOUT_SECONDS + 30)
    with transaction.atomic():
        attempt = (
            OutboundAttempt.objects.select_for_update()
            .filter(message_id=message_id, part=part)
            .first()
        )
        if attempt is None:
            try:
                with transaction.atomic():
                    attempt = OutboundAttempt.objects.create(
                        message_id=message_id, part=part, state=AttemptState.SENDING, tries=1
                    )
                return _Claim(attempt, False)
            except IntegrityError:
                raise InProgress() from None
        if attempt.state == AttemptState.ACCEPTED:
            return _Claim(attempt, True)
        if attempt.state == AttemptState.SENDING:
            if attempt.claimed_at > stale:
                raise InProgress()
            attempt.state = AttemptState.UNKNOWN
            attempt.finished_at = timezone.now()
            attempt.detail = "A previous attempt stopped after calling the provider."
            attempt.save(update_fields=["state", "finished_at", "detail"])
            raise Ambiguous(
                "An earlier attempt stopped after the request left; it may have been delivered."
            )
        if attempt.state == AttemptState.UNKNOWN:
            raise Ambiguous(attempt.detail or "The outcome of an earlier attempt is unknown.")
        attempt.state = AttemptState.SENDING
        attempt.claimed_at = timezone.now()
        attempt.tries += 1
        attempt.save(update_fields=["state", "claimed_at", "tries"])
        return _Claim(attempt, False)


def _finish(attempt: OutboundAttempt, state: str, *, provider_id: str = "", detail: str = ""):
    attempt.state = state
    attempt.provider_message_id = provider_id
    attempt.finished_at = timezone.now()
    attempt.detail = detail[:1000]
    attempt.save(update_fields=["state", "provider_message_id", "finished_at", "detail"])


def recipient_of(message: Message) -> str | None:
    chat = message.chat
    return (
        ChannelIdentity.objects.filter(inbox_id=chat.inbox_id, customer_id=chat.customer_id)
        .values_list("external_id", flat=True)
        .first()
    )


def message_deliver(*, message_id: int) -> str:
    """Send a pending outbound message through its channel; returns its delivery state.
    Raises ``RetryLater`` (the task retries) and ``InProgress``; see the module docstring."""
    message = (
        Message.objects.select_related("chat", "chat__inbox")
        .prefetch_related("attachments")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.delivery != Delivery.PENDING:
        return message.delivery if message is not None else "gone"
    if message.deleted_at is not None:
        return message_delivery_failed(
            message_id=message_id,
            code=error_codes.MESSAGE_DELETED,
            detail="Deleted before it was sent.",
        ).delivery
    inbox = message.chat.inbox
    connector = registry.connector_for(inbox.kind) if inbox is not None else None
    recipient = recipient_of(message) if connector is not None else None
    if connector is None or recipient is None or not inbox.is_active:
        return message_delivery_failed(
            message_id=message_id,
            code=error_codes.CHANNEL_UNAVAILABLE,
            detail="The chat's inbox is inactive or has no channel recipient.",
        ).delivery
    provider_ids: list[str] = []
    for part in connector.plan(message):
        try:
            claim = _claim(message_id, part.index)
        except Ambiguous as exc:
            return message_delivery_failed(
                message_id=message_id, code=exc.code, detail=exc.detail
            ).delivery
        if claim.already_accepted:
            provider_ids.append(claim.attempt.provider_message_id)
            continue
        try:
            provider_id = connector.send_part(inbox, recipient, part)
        except RetryLater as exc:
            _finish(claim.attempt, AttemptState.REFUSED, detail=exc.detail)
            raise
        except Rejected as exc:
            _finish(claim.attempt, AttemptState.REFUSED, detail=exc.detail)
            return message_delivery_failed(
                message_id=message_id, code=exc.code, detail=exc.detail
            ).delivery
        except Ambiguous as exc:
            _finish(claim.attempt, AttemptState.UNKNOWN, detail=exc.detail)
            return message_delivery_failed(
                message_id=message_id, code=exc.code, detail=exc.detail
            ).delivery
        _finish(claim.attempt, AttemptState.ACCEPTED, provider_id=provider_id)
        provider_ids.append(provider_id)
    first = next((p for p in provider_ids if p), None)
    return message_delivery_sent(message_id=message_id, external_id=first).delivery


def message_deliver_gave_up(*, message_id: int, error: RetryLater) -> None:
    """The provider stayed unavailable through every retry."""
    message_delivery_failed(
        message_id=message_id,
        code=error.code,
        detail=f"Gave up after {settings.CONNECTOR_MAX_RETRIES} retries: {error.detail}",
    )


# --- Inbound --------------------------------------------------------------------------------


def inbox_for_webhook(*, kind: str, inbox_id: int) -> Inbox | None:
    """An active inbox of this kind; None answers 404 (unknown, inactive, another kind)."""
    return Inbox.objects.filter(pk=inbox_id, kind=kind, is_active=True).first()


def webhook_update_store(
    *, inbox: Inbox, key: str, payload: dict, enqueue: bool = True
) -> tuple[WebhookUpdate, bool]:
    """Write a delivery down (once per provider id) and queue its processing on commit
    (``enqueue=False``: the caller processes it now; ``connectors_resume`` picks it up if the
    caller never finishes)."""
    from connectors.tasks import webhook_update_process

    try:
        with transaction.atomic():
            update = WebhookUpdate.objects.create(inbox=inbox, key=key, payload=payload)
            if enqueue:
                _enqueue_on_commit(webhook_update_process, update.pk)
    except IntegrityError:
        return WebhookUpdate.objects.get(inbox=inbox, key=key), False
    return update, True


class RetryFetch(Exception):
    pass


def _stored_files(inbox: Inbox, event: InboundMessage, *, final: bool):
    """Fetch the message's files into the media app (same checks as uploads). Returns the
    files and notes on those that could not be taken; raises ``RetryFetch`` while retrying
    may still help."""
    from media.services import media_create

    connector = registry.connector_for(inbox.kind)
    identity = channel_identity_get_or_create(inbox=inbox, sender=event.sender)
    chat, _ = support_chat_get_or_create(customer=identity.customer, inbox=inbox)
    files, notes = [], []
    for remote in event.files:
        try:
            content, name = connector.fetch_file(inbox, remote, max_size=settings.MAX_UPLOAD_SIZE)
        except FetchError as exc:
            if exc.retry and not final:
                raise RetryFetch(str(exc)) from exc
            notes.append(f"[{remote.name} could not be received: {exc}]")
            continue
        try:
            files.append(
                media_create(
                    organization=inbox.organization,
                    content=ContentFile(content, name=name),
                    name=name,
                    uploader=identity.customer,
                    chat=chat,
                )
            )
        except DomainError as exc:
            notes.append(f"[{name} was refused: {exc.detail}]")
    return files, notes


def _receive(inbox: Inbox, event: InboundMessage, *, final: bool) -> None:
    if event.edited:
        edited = message_receive_edit(
            inbox=inbox, sender=event.sender, external_id=event.external_id, text=event.text
        )
        if edited is not None:
            return
    files, notes = [], []
    if event.files:
        # Files are fetched before the message is stored (it is broadcast with them): not for
        # a message stored already.
        if channel_message_exists(
            inbox=inbox,
            sender_external_id=event.sender.external_id,
            external_id=event.external_id,
        ):
            return
        files, notes = _stored_files(inbox, event, final=final)
    text = "\n".join(filter(None, [event.text, *notes]))
    kind = MessageKind.TEXT
    if files:
        kind = KIND_OF_MEDIA.get(files[0].kind, MessageKind.FILE)
    result = message_receive(
        inbox=inbox,
        sender=event.sender,
        external_id=event.external_id,
        text=text,
        kind=kind,
        files=files,
        sent_at=event.sent_at,
    )
    if not result.created and files:  # a racing copy stored it first: drop our copies
        from media.services import media_delete

        media_delete(files=files)


def _inbox_for_event(connector, inbox: Inbox, account: str) -> Inbox | None:
    """The inbox an event belongs to: the webhook's own, or, when the provider sends several
    accounts' deliveries to one URL (one Meta app, many numbers), the organization's inbox of
    that account. None: an account no inbox of the organization stands for."""
    if not account or account == connector.account_of(inbox):
        return inbox
    siblings = Inbox.objects.filter(
        organization_id=inbox.organization_id, kind=inbox.kind, is_active=True
    ).select_related("organization")
    return next((i for i in siblings if connector.account_of(i) == account), None)


def _status_target(inbox: Inbox, external_id: str) -> int | None:
    """The message a provider's status report is about: by its stored id, or by the attempt
    that got the id when the send task has not finished writing the message down."""
    found = (
        Message.objects.filter(chat__inbox=inbox, external_id=external_id)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        found = (
            OutboundAttempt.objects.filter(
                message__chat__inbox=inbox,
                provider_message_id=external_id,
                state=AttemptState.ACCEPTED,
            )
            .values_list("message_id", flat=True)
            .first()
        )
    return found


def _recent(update: WebhookUpdate) -> bool:
    return timezone.now() - update.received_at < timedelta(minutes=10)


def webhook_update_process(*, update_id: int, final: bool = False) -> None:
    """Turn one stored delivery into messages, edits and delivery states. Safe to run twice:
    a processed delivery is skipped, and each message is unique on the provider's id."""
    update = (
        WebhookUpdate.objects.select_related("inbox", "inbox__organization")
        .filter(pk=update_id)
        .first()
    )
    if update is None or update.processed_at is not None:
        return
    connector = registry.connector_for(update.inbox.kind)
    for event in connector.parse(update.payload) if connector else []:
        inbox = _inbox_for_event(connector, update.inbox, event.account)
        if inbox is None:
            logger.info("Update %s: no inbox for account %s, skipped", update.pk, event.account)
            continue
        if isinstance(event, InboundMessage):
            _receive(inbox, event, final=final)
        elif isinstance(event, StatusReport):
            message_id = _status_target(inbox, event.external_id)
            if message_id is None and not final and _recent(update):
                # A report can overtake the send task writing down the provider's id: try
                # again shortly rather than lose it (a message sent elsewhere stops trying).
                raise RetryFetch(f"status for {event.external_id}: message not known yet")
            if message_id is not None:
                message_delivery_status(
                    message_id=message_id, delivery=event.delivery, error=event.error
                )
    WebhookUpdate.objects.filter(pk=update.pk).update(
        processed_at=timezone.now(), error="", attempts=F("attempts") + 1
    )


def webhook_update_receive_now(*, inbox: Inbox, key: str, payload: dict) -> dict:
    """Store and process a delivery inside the request (``Connector.inline``), answering with
    the stored message's ids; a copy of a delivery answers with the first one's. When a file
    cannot be fetched yet the task retries it and ``message_id`` is null (``pending``)."""
    from connectors.tasks import webhook_update_process as process_task

    update, _ = webhook_update_store(inbox=inbox, key=key, payload=payload, enqueue=False)
    try:
        webhook_update_process(update_id=update.pk)
    except RetryFetch as exc:
        webhook_update_failed(update_id=update.pk, error=str(exc))
        process_task.delay(update.pk)
    connector = registry.connector_for(inbox.kind)
    event = next(
        (e for e in connector.parse(update.payload) if isinstance(e, InboundMessage)), None
    )
    message = None
    if event is not None:
        message = (
            Message.objects.filter(
                chat__inbox=inbox,
                chat__customer__channel_identities__inbox=inbox,
                chat__customer__channel_identities__external_id=event.sender.external_id,
                external_id=event.external_id,
            )
            .only("pk", "chat_id")
            .first()
        )
    chat_id = message.chat_id if message is not None else None
    if chat_id is None and event is not None:
        chat_id = (
            ChannelIdentity.objects.filter(inbox=inbox, external_id=event.sender.external_id)
            .values_list("customer__support_chats__id", flat=True)
            .first()
        )
    return {
        "chat_id": chat_id,
        "message_id": message.pk if message is not None else None,
        "pending": message is None,
    }


def webhook_update_failed(*, update_id: int, error: str) -> None:
    """Note why processing failed; a database that is itself failing must not stop the retry."""
    try:
        WebhookUpdate.objects.filter(pk=update_id).update(
            error=error[:2000], attempts=F("attempts") + 1
        )
    except DatabaseError:
        logger.warning("Could not record the failure of webhook update %s: %s", update_id, error)


def webhook_updates_prune(*, older_than: timedelta) -> int:
    """Forget processed deliveries older than the providers' retry horizon."""
    cutoff = timezone.now() - older_than
    deleted, _ = WebhookUpdate.objects.filter(
        processed_at__isnull=False, received_at__lt=cutoff
    ).delete()
    return deleted


def connectors_resume(*, older_than: timedelta, limit: int = 500) -> tuple[int, int]:
    """Queue again what was written down but never queued (the broker was down at commit):
    webhook deliveries not processed, and pending outbound messages never attempted. Messages
    with an attempt are in their task's retry chain and are left to it (its waits honoured)."""
    from connectors.tasks import message_deliver, webhook_update_process

    cutoff = timezone.now() - older_than
    horizon = timezone.now() - timedelta(hours=settings.CONNECTOR_UPDATE_RETENTION_HOURS)
    updates = list(
        WebhookUpdate.objects.filter(
            processed_at__isnull=True, received_at__lt=cutoff, received_at__gt=horizon
        ).values_list("pk", flat=True)[:limit]
    )
    attempted = OutboundAttempt.objects.values("message_id")
    messages = list(
        Message.objects.filter(
            delivery=Delivery.PENDING,
            created_at__lt=cutoff,
            created_at__gt=horizon,
            chat__inbox__kind__in=registry.kinds(),
        )
        .exclude(pk__in=attempted)
        .values_list("pk", flat=True)[:limit]
    )
    for pk in updates:
        webhook_update_process.delay(pk)
    for pk in messages:
        message_deliver.delay(pk)
    return len(updates), len(messages)


def api_channel_file_for(*, inbox_id: int, token: str):
    """The MediaFile a signed API-channel link names: of that inbox's organization, attached
    to a message of that inbox's chats. None otherwise."""
    from connectors.api_channel import file_token_read
    from media.models import MediaFile

    media_id = file_token_read(token, inbox_id=inbox_id)
    inbox = inbox_for_webhook(kind="api", inbox_id=inbox_id)
    if media_id is None or inbox is None:
        return None
    return MediaFile.objects.filter(
        pk=media_id, organization_id=inbox.organization_id, messages__chat__inbox=inbox
    ).first()
