"""``POST /api/messages/{id}/retry``: send a failed outbound message again."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
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
