from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role

# Roles that auto-assignment hands chats to. Admins can be assigned by hand, never by the queue.
ASSIGNABLE_ROLES = frozenset({Role.OPERATOR, Role.SENIOR_OPERATOR})


class Availability(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


def default_capacity() -> int:
    return settings.OPERATOR_DEFAULT_CAPACITY


class OperatorProfile(models.Model):
    """A staff member's place in the assignment queue.

    ``availability`` is what the operator chose (or what presence set after their last socket
    closed); only ``online`` operators receive chats automatically. ``capacity`` is the most open
    chats the queue gives them; managers can still assign beyond it by hand.
    """

    tenant_path = "user__organization"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_profile"
    )
    availability = models.CharField(
        max_length=16, choices=Availability.choices, default=Availability.OFFLINE
    )
    capacity = models.PositiveSmallIntegerField(default=default_capacity)
    # The queue's tie-breaker: among equally busy operators, the one assigned longest ago wins.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # When the operator's last socket closed (null while connected or never tracked); after the
    # grace period they no longer receive chats, and presence turns them offline.
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # What presence turned offline, to give back when the operator connects again.
    availability_before_disconnect = models.CharField(
        max_length=16, choices=Availability.choices, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]
        indexes = [models.Index(fields=["availability"], name="operators_profile_avail_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_availability_display()})"


class CannedResponse(models.Model):
    """A saved reply staff insert by its shortcut ("/hello")."""

    tenant_path = "organization"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="canned_responses"
    )
    shortcut = models.CharField(max_length=64)
    text = models.TextField(max_length=5000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "shortcut"], name="operators_canned_shortcut_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.shortcut


class AuditEvent(models.Model):
    """Who changed what: one row per staff action on a chat, an order, an inbox or a user.

    ``actor`` is null for the system (auto-assignment, presence). ``target_repr`` keeps a
    readable name when the target is gone.
    """

    tenant_path = "organization"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verb = models.CharField(max_length=64)
    target_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    target_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-at"], name="operators_audit_org_at_idx"),
            models.Index(fields=["target_type", "target_id"], name="operators_audit_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.verb} {self.target_repr}".strip()
