from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from chats.fields import EncryptedTextField


class InboxKind(models.TextChoices):
    WEB = "web", "Web cabinet"
    TELEGRAM = "telegram", "Telegram"
    WHATSAPP = "whatsapp", "WhatsApp"
    API = "api", "API channel"


DEFAULT_HANDOFF_KEYWORDS = ("operator", "оператор", "human", "человек", "/operator")


def default_handoff_keywords() -> list[str]:
    return list(DEFAULT_HANDOFF_KEYWORDS)


class Inbox(models.Model):
    """Where customer conversations arrive. Secrets are write-only in the API."""

    tenant_path = "organization"
    SECRET_FIELDS = ("bot_token", "app_secret", "verify_token", "webhook_secret", "api_token")

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="inboxes"
    )
    kind = models.CharField(max_length=16, choices=InboxKind.choices)
    name = models.CharField(max_length=120)
    auto_assign = models.BooleanField(
        default=True, help_text="Give new and reopened chats to the least busy online operator."
    )
    is_active = models.BooleanField(default=True)
    # Per-kind settings. Telegram: bot_token, webhook_secret. WhatsApp: phone_number_id,
    # access token in bot_token, app_secret, verify_token. API channel: api_token, callback_url.
    # Secrets are encrypted at rest (FIELD_ENCRYPTION_KEY); lengths are checked by the services.
    bot_token = EncryptedTextField(blank=True)
    phone_number_id = models.CharField(max_length=64, blank=True)
    app_secret = EncryptedTextField(blank=True)
    verify_token = EncryptedTextField(blank=True)
    webhook_secret = EncryptedTextField(blank=True)
    # A keyed fingerprint of webhook_secret (crm.crypto.digest): a webhook request names the
    # inbox its secret belongs to, so a secret sent to another inbox's URL is told apart.
    webhook_secret_digest = models.CharField(max_length=64, blank=True, db_index=True)
    api_token = EncryptedTextField(blank=True)
    # A keyed fingerprint of api_token: a bridge's token sent to another inbox's URL is told apart.
    api_token_digest = models.CharField(max_length=64, blank=True, db_index=True)
    callback_url = models.URLField(max_length=500, blank=True)
    # Automation (every kind): the inbox's own replies to customers, see the automation app.
    greeting = models.TextField(blank=True, help_text="First reply to a new conversation.")
    away_message = models.TextField(
        blank=True, help_text="Reply outside working hours, at most once a day per conversation."
    )
    working_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"mon": [["09:00", "18:00"]], ...} in the time zone; empty: always open.',
    )
    bot_enabled = models.BooleanField(
        default=False,
        help_text="New conversations start pending: a bot answers from canned responses.",
    )
    handoff_keywords = models.JSONField(
        default=default_handoff_keywords,
        blank=True,
        help_text="Words with which a customer asks the bot for a person.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Of the working hours. Declared last: the name shadows django.utils.timezone in the body.
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone name.")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "inboxes"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(kind="web"), name="chats_one_web_inbox"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class ChatKind(models.TextChoices):
    SUPPORT = "support", "Support"
    DIRECT = "direct", "Direct"
    GROUP = "group", "Group"
    PROJECT = "project", "Project"


INTERNAL_KINDS = frozenset({ChatKind.DIRECT, ChatKind.GROUP, ChatKind.PROJECT})


class ChatStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Project(models.Model):
    tenant_path = "organization"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    emoji = models.CharField(max_length=16, blank=True)
    color = models.CharField(max_length=16, blank=True, help_text="e.g. #3b82f6")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="projects", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.emoji} {self.name}".strip()


class Chat(models.Model):
    tenant_path = "organization"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="chats"
    )
    kind = models.CharField(max_length=16, choices=ChatKind.choices)
    name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    # Support chats
    inbox = models.ForeignKey(
        Inbox, on_delete=models.PROTECT, null=True, blank=True, related_name="chats"
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="support_chats",
    )
    status = models.CharField(
        max_length=16, choices=ChatStatus.choices, default=ChatStatus.OPEN, db_index=True
    )
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_chats",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Project chats
    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="chat"
    )
    # Direct chats: "<smaller user id>:<larger user id>", one chat per pair of staff.
    direct_key = models.CharField(max_length=64, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Denormalized for the chat list, kept by the send path under the chat's row lock: the
    # newest message (staff view), the newest one a customer may see (notes and staff-only
    # system lines skipped), and the time of the last activity, which orders every list and is
    # never null (a chat without messages sorts by its creation), so both databases agree.
    last_message = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_public_message = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Channels with a customer service window (WhatsApp): until when a free-form reply may
    # leave, from the provider's timestamp of the customer's last message. Written by the
    # channel's receive path under the chat lock; null = closed (or no window on this channel).
    reply_window_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "customer"],
                condition=Q(kind="support"),
                name="chats_one_support_chat_per_customer_inbox",
            ),
            models.UniqueConstraint(
                fields=["organization", "direct_key"],
                condition=Q(kind="direct"),
                name="chats_one_direct_chat_per_pair",
            ),
        ]
        indexes = [
            # The chat list: an organization's chats by last activity, optionally by kind.
            models.Index(
                fields=["organization", "-last_activity_at", "-id"],
                name="chats_org_activity_idx",
            ),
            models.Index(
                fields=["organization", "kind", "-last_activity_at", "-id"],
                name="chats_org_kind_activity_idx",
            ),
            # Status filters, the unassigned count and operator load.
            models.Index(
                fields=["organization", "status", "assignee"], name="chats_org_status_assignee"
            ),
            models.Index(fields=["assignee", "status"], name="chats_assignee_status_idx"),
            models.Index(
                fields=["assignee", "-last_activity_at", "-id"], name="chats_assignee_activity_idx"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == ChatKind.SUPPORT:
            return self.subject or f"Support chat #{self.pk}"
        return self.name or f"{self.get_kind_display()} chat #{self.pk}"

    @property
    def is_support(self) -> bool:
        return self.kind == ChatKind.SUPPORT


class Membership(models.Model):
    """A user's place in a chat: participant of an internal chat, the customer of a support
    chat, or a staff member's read state on a support chat (``is_participant=False``).

    ``last_read_message_id`` is the truth; ``unread_count`` is a cache of the messages after it
    that count for this user, kept in the same transactions and rebuildable from the pointer.
    """

    tenant_path = "chat__organization"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    is_participant = models.BooleanField(default=True)
    last_read_message_id = models.BigIntegerField(default=0)
    unread_count = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat", "user"], name="chats_membership_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "chat"], name="chats_membership_user_chat"),
            # "Internal chats I take part in" (chat visibility) skips staff read-state rows.
            models.Index(
                fields=["user", "chat"],
                condition=Q(is_participant=True),
                name="chats_membership_participant",
            ),
            # A user's unread total and the unread filter read only the rows that have some.
            models.Index(
                fields=["user", "chat"],
                condition=Q(unread_count__gt=0),
                name="chats_membership_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.chat}"


class MessageKind(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    FILE = "file", "File"
    LINK = "link", "Link"
    SYSTEM = "system", "System"
    NOTE = "note", "Note"


class Delivery(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class Message(models.Model):
    tenant_path = "chat__organization"

    # Indexed by (chat, id) below, which also serves every lookup by chat alone.
    chat = models.ForeignKey(
        Chat, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    kind = models.CharField(max_length=16, choices=MessageKind.choices, default=MessageKind.TEXT)
    text = models.TextField(blank=True)
    # Notes and staff-facing system messages: never shown to the customer or sent to a channel.
    staff_only = models.BooleanField(default=False)
    attachments = models.ManyToManyField("media.MediaFile", blank=True, related_name="messages")
    client_id = models.CharField(max_length=64, null=True, blank=True)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    delivery = models.CharField(max_length=16, choices=Delivery.choices, null=True, blank=True)
    # Why a message could not leave through its channel: {"code": ..., "detail": ...}.
    delivery_error = models.JSONField(null=True, blank=True)
    # The inbox's own greeting, away message or bot answer (no sender, kind text, public).
    automated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chats_message_client_id_unique",
            ),
            models.UniqueConstraint(
                fields=["chat", "external_id"],
                condition=Q(external_id__isnull=False),
                name="chats_message_external_id_unique",
            ),
        ]
        indexes = [
            # Keyset pagination of a chat's history and unread counting: (chat, id).
            models.Index(fields=["chat", "id"], name="chats_message_chat_id_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.text[:40]}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ChannelIdentity(models.Model):
    """A sender on a messaging channel (a Telegram user, a WhatsApp number) and the customer it
    is in the inbox's organization. What the provider says about them is kept here."""

    tenant_path = "inbox__organization"

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="identities")
    external_id = models.CharField(max_length=128)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_identities"
    )
    name = models.CharField(max_length=150, blank=True)
    username = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "channel identities"
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"], name="chats_channel_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username or self.name or self.external_id} on {self.inbox}"
