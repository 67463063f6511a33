"""The inbox's own replies to a customer: greeting, away message, bot answers.

Posted like a staff reply (the chat's row lock, last message, unread counts, ``message:new``
on commit, ``chats.hooks.message_stored`` so that a channel sends it out), but with no sender
and ``automated=True``: every client counts it as unread for its user. They never set
``first_response_at``: that measures people.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chats import channels, error_codes, events, hooks
from chats.models import Chat, Delivery, Message, MessageKind
from chats.services.common import MAX_TEXT_LENGTH
from chats.services.messages import (
    _chat_apply,
    _count_sent_message,
    _last_message_update,
    _staff_missing,
)
from chats.services.read_state import _ensure_staff_read_states
from crm.errors import ValidationFailed


def message_post_automated(*, chat: Chat, text: str, client_id: str | None = None) -> Message:
    """Post ``text`` as the inbox's automated reply in a support chat.

    ``client_id`` names the reply (``automation:greeting``, ...), unique within the chat: the
    automation reads it back to know what it already said. Called inside the customer's send,
    the chat lock is already held by this transaction and the reply's id follows the
    customer's message."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("An automated reply needs text."), code=error_codes.EMPTY_MESSAGE)
    with transaction.atomic():
        # The inbox is joined (not locked) to know whether the reply leaves through a channel.
        chat = (
            Chat.objects.select_related("inbox")
            .select_for_update(no_key=True, of=("self",))
            .annotate(staff_missing=_staff_missing())
            .get(pk=chat.pk)
        )
        if not chat.is_support:
            raise ValidationFailed(
                _("Automated replies go to support chats only."), code=error_codes.NOT_SUPPORT
            )
        previous_last_id = chat.last_message_id or 0
        message = Message.objects.create(
            chat=chat,
            sender=None,
            kind=MessageKind.TEXT,
            text=text[:MAX_TEXT_LENGTH],
            client_id=client_id,
            automated=True,
            delivery=Delivery.PENDING
            if channels.leaves_through_channel(
                chat=chat, kind=MessageKind.TEXT, staff_only=False, from_staff=False, automated=True
            )
            else None,
            created_at=timezone.now(),
        )
        if chat.staff_missing:
            _ensure_staff_read_states(chat, since_message_id=previous_last_id)
        _chat_apply(chat, _last_message_update(message))
        message.chat = chat
        # Automated replies carry no files: the payload needs no query to say so.
        message._prefetched_objects_cache = {"attachments": message.attachments.none()}
        _count_sent_message(message)  # no sender: nobody's own count to tell
        events.message_new(message, participant_ids=[])
        hooks.message_stored(message)
    return message
