"""Inbound: a webhook delivery is written down once and turned into messages, edits and
delivery states (by a task, or inside the request for ``Connector.inline`` channels)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from chats.models import ChannelIdentity, Delivery, Inbox, Message, MessageKind
from chats.services import support_chat_get_or_create
from chats.services.channels import (
    channel_identity_get_or_create,
    channel_message_exists,
    message_delivery_status,
    message_receive,
    message_receive_edit,
)
from connectors import registry
from connectors.base import (
    FetchError,
    InboundMessage,
    StatusReport,
)
from connectors.models import AttemptState, OutboundAttempt, WebhookUpdate
from connectors.services.delivery import _enqueue_on_commit
from crm.errors import DomainError

logger = logging.getLogger(__name__)

KIND_OF_MEDIA = {"image": MessageKind.IMAGE, "video": MessageKind.VIDEO, "audio": MessageKind.AUDIO}


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
        _enqueue_on_commit(process_task, update.pk)  # a broker that is down: beat resumes it
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
