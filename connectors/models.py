from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookUpdate(models.Model):
    """One delivery of a provider's webhook, written down by the request before it answers and
    worked on by a task. The provider's id of the delivery (Telegram's ``update_id``) is unique
    per inbox, so a retried or duplicated delivery stores nothing new, also when copies race."""

    tenant_path = "inbox__organization"

    inbox = models.ForeignKey("chats.Inbox", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "key"], name="connectors_update_unique"),
        ]
        indexes = [models.Index(fields=["received_at"], name="connectors_update_received")]

    def __str__(self) -> str:
        return f"update {self.key} of inbox {self.inbox_id}"


class AttemptState(models.TextChoices):
    SENDING = "sending", "Sending"  # written before the call; still there = outcome unknown
    ACCEPTED = "accepted", "Accepted"
    REFUSED = "refused", "Refused"  # the provider certainly did not take it: safe to resend
    UNKNOWN = "unknown", "Unknown"  # the request left and no answer came back


class OutboundAttempt(models.Model):
    """What became of each provider call of an outbound message (a long text is several).
    Written before the call, so a retried task finds out what the last attempt did and never
    sends a part the provider accepted again."""

    tenant_path = "message__chat__organization"

    message = models.ForeignKey("chats.Message", on_delete=models.CASCADE, related_name="+")
    part = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=AttemptState.choices)
    provider_message_id = models.CharField(max_length=128, blank=True)
    tries = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "part"], name="connectors_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} part {self.part}: {self.state}"


class OutboundTemplate(models.Model):
    """An approved WhatsApp template a staff member sent (``POST /api/chats/{id}/template``):
    the message row shows it in the chat, this row tells the send task what to call."""

    tenant_path = "message__chat__organization"

    message = models.OneToOneField("chats.Message", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    parameters = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"template {self.name} ({self.language}) of message {self.message_id}"
