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

Split by subject: ``delivery`` (handing staff messages to the channel, sending them, retries),
``inbound`` (webhook deliveries in), ``templates`` (WhatsApp templates).
"""

from connectors.services.delivery import (
    InProgress,
    _enqueue_on_commit,
    api_channel_file_for,
    delivery_retry,
    message_deliver,
    message_deliver_gave_up,
    message_hand_to_channel,
    recipient_of,
)
from connectors.services.inbound import (
    RetryFetch,
    connectors_resume,
    inbox_for_webhook,
    webhook_update_failed,
    webhook_update_process,
    webhook_update_receive_now,
    webhook_update_store,
    webhook_updates_prune,
)
from connectors.services.templates import template_send

__all__ = [
    "InProgress",
    "RetryFetch",
    "_enqueue_on_commit",
    "api_channel_file_for",
    "connectors_resume",
    "delivery_retry",
    "inbox_for_webhook",
    "message_deliver",
    "message_deliver_gave_up",
    "message_hand_to_channel",
    "recipient_of",
    "template_send",
    "webhook_update_failed",
    "webhook_update_process",
    "webhook_update_receive_now",
    "webhook_update_store",
    "webhook_updates_prune",
]
