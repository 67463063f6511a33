"""Inbox API: staff read, admins manage. Secrets are write-only: output only says whether each
is set; secrets the server generates are shown once, in the response that created them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import channels, outputs, selectors, services
from chats.models import Inbox, InboxKind
from crm.permissions import IsStaff


def inbox_data(inbox: Inbox, request: Request | None = None) -> dict:
    """``webhook_url`` is what to give the provider (None for the web inbox)."""
    path = channels.webhook_path(inbox)
    webhook_url = path
    if path and request is not None:
        webhook_url = request.build_absolute_uri(path)
    return {
        "id": inbox.pk,
        "kind": inbox.kind,
        "name": inbox.name,
        "auto_assign": inbox.auto_assign,
        "is_active": inbox.is_active,
        "phone_number_id": inbox.phone_number_id,
        "callback_url": inbox.callback_url,
        "greeting": inbox.greeting,
        "away_message": inbox.away_message,
        "working_hours": inbox.working_hours,
        "timezone": inbox.timezone,
        "bot_enabled": inbox.bot_enabled,
        "handoff_keywords": inbox.handoff_keywords,
        "secrets_set": {
            **{field: bool(getattr(inbox, field)) for field in Inbox.SECRET_FIELDS},
            "access_token": bool(inbox.bot_token),
        },
        "webhook_url": webhook_url,
        "created_at": inbox.created_at,
    }


class _Settings(serializers.Serializer):
    auto_assign = serializers.BooleanField(required=False)
    bot_token = serializers.CharField(max_length=512, required=False, allow_blank=True)
    access_token = serializers.CharField(max_length=512, required=False, allow_blank=True)
    phone_number_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    app_secret = serializers.CharField(max_length=256, required=False, allow_blank=True)
    verify_token = serializers.CharField(max_length=256, required=False, allow_blank=True)
    webhook_secret = serializers.CharField(max_length=256, required=False, allow_blank=True)
    api_token = serializers.CharField(max_length=256, required=False, allow_blank=True)
    callback_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    # Automation: the shapes are checked here, the contents by the service (one 400 per field).
    greeting = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    away_message = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    working_hours = serializers.JSONField(required=False, allow_null=True)
    timezone = serializers.CharField(max_length=64, required=False)
    bot_enabled = serializers.BooleanField(required=False)
    handoff_keywords = serializers.JSONField(required=False)


class InboxListApi(APIView):
    permission_classes = [IsStaff]

    class Input(_Settings):
        kind = serializers.ChoiceField(
            choices=[InboxKind.TELEGRAM, InboxKind.WHATSAPP, InboxKind.API]
        )
        name = serializers.CharField(max_length=120)

    @extend_schema(operation_id="inboxes_list", responses={200: outputs.InboxResults})
    def get(self, request: Request) -> Response:
        # The web inbox exists from the first listing on, so its automation can be set up
        # before the first customer writes.
        selectors.web_inbox_for(organization=request.user.organization_id)
        inboxes = selectors.inboxes_of(request.user)[:200]
        return Response({"results": [inbox_data(i, request) for i in inboxes]})

    @extend_schema(request=Input, responses={201: outputs.InboxCreated})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        inbox, generated = services.inbox_create(actor=request.user, **data.validated_data)
        return Response(
            {**inbox_data(inbox, request), "generated_secrets": generated},
            status=status.HTTP_201_CREATED,
        )


class InboxDetailApi(APIView):
    permission_classes = [IsStaff]

    class Input(_Settings):
        name = serializers.CharField(max_length=120, required=False)
        is_active = serializers.BooleanField(required=False)

    @extend_schema(responses={200: outputs.InboxOutput})
    def get(self, request: Request, inbox_id: int) -> Response:
        return Response(inbox_data(selectors.inbox_for(request.user, inbox_id), request))

    @extend_schema(request=Input, responses={200: outputs.InboxOutput})
    def patch(self, request: Request, inbox_id: int) -> Response:
        selectors.inbox_for(request.user, inbox_id)  # 404 before 400 for another tenant's id
        data = self.Input(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        inbox = services.inbox_update(actor=request.user, inbox_id=inbox_id, **data.validated_data)
        return Response(inbox_data(inbox, request))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, inbox_id: int) -> Response:
        services.inbox_delete(actor=request.user, inbox_id=inbox_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
