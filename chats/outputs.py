"""The wire shapes of ``chats.payloads``, as serializers for the OpenAPI schema (responses are
built by the payload functions; these describe them, field for field)."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from accounts.models import Role
from chats.models import ChatKind, ChatStatus, Delivery, InboxKind, MessageKind, Priority
from media.api import MediaOutput


class UserBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices)
    is_online = serializers.BooleanField()


class CustomerOutput(UserBriefOutput):
    email = serializers.EmailField(
        required=False, allow_null=True, help_text="Staff only; none for channel customers."
    )


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    chat_id = serializers.IntegerField()
    sender = UserBriefOutput(allow_null=True)
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    text = serializers.CharField(allow_blank=True)
    attachments = MediaOutput(many=True)
    client_id = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    delivery = serializers.ChoiceField(choices=Delivery.choices, allow_null=True)
    automated = serializers.BooleanField(help_text="The inbox's own greeting, away or bot reply.")
    delivery_error = inline_serializer(
        "DeliveryError",
        {"code": serializers.CharField(), "detail": serializers.CharField()},
        allow_null=True,
        help_text="Why the message could not leave through its channel (delivery failed).",
    )
    staff_only = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)


class InboxBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InboxKind.choices)
    name = serializers.CharField()


class ChatOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChatKind.choices)
    name = serializers.CharField(allow_blank=True)
    subject = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=ChatStatus.choices, allow_null=True)
    priority = serializers.ChoiceField(choices=Priority.choices, allow_null=True)
    inbox = InboxBriefOutput(allow_null=True)
    customer = CustomerOutput(allow_null=True)
    assignee = UserBriefOutput(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    first_response_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    project_id = serializers.IntegerField(allow_null=True)
    last_message = MessageOutput(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField()
    reply_window_ends_at = serializers.DateTimeField(
        allow_null=True, help_text="WhatsApp: until when a free-form reply may be sent."
    )
    created_at = serializers.DateTimeField()
    unread_count = serializers.IntegerField(allow_null=True)
    participants = UserBriefOutput(many=True)


class InboxOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InboxKind.choices)
    name = serializers.CharField()
    auto_assign = serializers.BooleanField()
    is_active = serializers.BooleanField()
    phone_number_id = serializers.CharField(allow_blank=True, allow_null=True)
    callback_url = serializers.CharField(allow_blank=True, allow_null=True)
    secrets_set = serializers.DictField(child=serializers.BooleanField())
    webhook_url = serializers.CharField(
        allow_null=True, help_text="Where the provider posts updates (channel inboxes)."
    )
    created_at = serializers.DateTimeField()


class InboxCreated(InboxOutput):
    generated_secrets = serializers.DictField(
        child=serializers.CharField(), help_text="Secrets the server generated: shown only here."
    )


def page_of(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """The page envelope of ``crm.pagination.PageNumberPagination``."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "results": item,
        },
    )


def results_of(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """``{"results": [...]}``: an unpaginated list."""
    return inline_serializer(name, {"results": item})


ChatPage = page_of("ChatPage", ChatOutput(many=True))
MessageHistory = inline_serializer(
    "MessageHistory", {"results": MessageOutput(many=True), "has_more": serializers.BooleanField()}
)
MessageResults = results_of("MessageResults", MessageOutput(many=True))
InboxResults = results_of("InboxResults", InboxOutput(many=True))
ReadState = inline_serializer(
    "ReadState",
    {
        "chat_id": serializers.IntegerField(),
        "up_to": serializers.IntegerField(allow_null=True),
        "unread_count": serializers.IntegerField(min_value=0),
        "total": serializers.IntegerField(min_value=0),
    },
)
UnreadCounts = inline_serializer(
    "UnreadCounts",
    {
        "total": serializers.IntegerField(min_value=0),
        "chats": serializers.DictField(child=serializers.IntegerField(min_value=1)),
        "unassigned": serializers.IntegerField(min_value=0, required=False, help_text="Staff."),
    },
)
