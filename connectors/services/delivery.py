"""Outbound: which messages are handed to their channel, and how each goes out exactly once
(see ``connectors.services`` for the rules)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from chats import channels, events
from chats.models import ChannelIdentity, Delivery, Message
from chats.services.channels import (
    message_delivery_failed,
    message_delivery_retry,
    message_delivery_sent,
)
from connectors import error_codes, registry
from connectors.base import (
    Ambiguous,
    Rejected,
    RetryLater,
)
from connectors.models import AttemptState, OutboundAttempt
from crm.errors import Conflict

logger = logging.getLogger(__name__)


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


def api_channel_file_for(*, inbox_id: int, token: str):
    """The MediaFile a signed API-channel link names: of that inbox's organization, attached
    to a message of that inbox's chats. None otherwise."""
    from connectors.api_channel import file_token_read
    from connectors.services.inbound import inbox_for_webhook
    from media.models import MediaFile

    media_id = file_token_read(token, inbox_id=inbox_id)
    inbox = inbox_for_webhook(kind="api", inbox_id=inbox_id)
    if media_id is None or inbox is None:
        return None
    return MediaFile.objects.filter(
        pk=media_id, organization_id=inbox.organization_id, messages__chat__inbox=inbox
    ).first()
