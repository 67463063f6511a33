"""``POST /api/messages/{id}/retry``: send a failed outbound message again.
``POST /api/chats/{id}/template``: send an approved WhatsApp template."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.outputs import MessageOutput
from chats.payloads import message_data
from connectors import services
from crm.permissions import IsStaff


class MessageRetryApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={200: MessageOutput})
    def post(self, request: Request, message_id: int) -> Response:
        message = services.delivery_retry(actor=request.user, message_id=message_id)
        return Response(message_data(message))


class ChatTemplateApi(APIView):
    """Outside WhatsApp's 24-hour window only an approved template reaches the customer."""

    permission_classes = [IsStaff]

    class Input(serializers.Serializer):
        name = serializers.CharField(max_length=512)
        language = serializers.CharField(max_length=16)
        parameters = serializers.ListField(
            child=serializers.CharField(max_length=1024), required=False, max_length=20
        )
        client_id = serializers.CharField(max_length=64, required=False, allow_blank=True)

    @extend_schema(request=Input, responses={201: MessageOutput, 200: MessageOutput})
    def post(self, request: Request, chat_id: int) -> Response:
        from chats.selectors import chat_for

        chat_for(request.user, chat_id)  # 404 before 400 for another organization's chat
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.template_send(
            actor=request.user,
            chat_id=chat_id,
            name=data.validated_data["name"],
            language=data.validated_data["language"],
            parameters=data.validated_data.get("parameters") or [],
            client_id=data.validated_data.get("client_id") or None,
        )
        return Response(
            message_data(result.message),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
