"""The seeds' REST paths (SPEC 6a) as thin aliases of our own views.

Each alias is the canonical view class with ``SeedInput`` in front (the seeds' camelCase body
names, fixed query parameters) and, where the seed used another method or named the chat in
the body, a one-line method that hands over to the canonical handler. Permissions, tenancy,
validation, rate limits, events and responses are the canonical view's.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import MeApi
from chats.api import ChatListApi, ChatMessagesApi, ChatReadApi, MessageInput
from chats.outputs import MessageOutput
from chats.payloads import message_data
from compat import services
from compat.adapters import SeedInput, alias_of, seed_request, with_chat_id
from crm.permissions import IsStaff
from crm.query import id_field
from media.api import MediaDownloadApi, MediaUploadApi, MediaUploadManyApi
from operators.api import ChatAssignApi, ChatCloseApi, ChatUnassignApi, SuggestionsApi
from orders.api import OrderDetailApi, OrderStatusApi
from orders.selectors import chat_order_at

# --- Accounts -------------------------------------------------------------------------------


class ProfileAlias(SeedInput, MeApi):
    http_method_names = ["put", "options"]

    @alias_of(MeApi.patch, "PATCH /api/auth/me", operation_id="seed_auth_profile_update")
    def put(self, request: Request) -> Response:
        return self.patch(request)


class UsersMeAlias(SeedInput, MeApi):
    http_method_names = ["get", "options"]

    @alias_of(MeApi.get, "GET /api/auth/me", operation_id="seed_users_me_retrieve")
    def get(self, request: Request) -> Response:
        return super().get(request)


# --- Reading and sending messages -----------------------------------------------------------

ReadInput = seed_request("SeedReadInput", ChatReadApi.Input, up_to="upTo", message_ids="messageIds")


class ChatReadAlias(SeedInput, ChatReadApi):
    """``PUT /api/chats/{id}/read`` (seed 000): our path, another method (``compat.routing``)."""

    http_method_names = ["put", "options"]

    @alias_of(
        ChatReadApi.post,
        "POST /api/chats/{chat_id}/read",
        operation_id="seed_chats_read_update",
        request=ReadInput,
    )
    def put(self, request: Request, chat_id: int) -> Response:
        return self.post(request, chat_id)


class MessagesChatReadAlias(SeedInput, ChatReadApi):
    """``POST /api/messages/chat/{id}/read`` {messageIds?} (seed 002)."""

    http_method_names = ["post", "options"]

    @alias_of(
        ChatReadApi.post,
        "POST /api/chats/{chat_id}/read",
        operation_id="seed_messages_chat_read_create",
        request=ReadInput,
    )
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)


class UnreadMarkReadAlias(MessagesChatReadAlias):
    """``POST /api/unread/{id}/mark-read`` {messageIds?} (seed 004)."""

    @alias_of(
        ChatReadApi.post,
        "POST /api/chats/{chat_id}/read",
        operation_id="seed_unread_mark_read_create",
        request=ReadInput,
    )
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)


class UnreadMarkChatReadAlias(SeedInput, ChatReadApi):
    """The whole chat, whatever the body says."""

    http_method_names = ["post", "options"]
    ignore_body = True

    @alias_of(
        ChatReadApi.post,
        "POST /api/chats/{chat_id}/read",
        operation_id="seed_unread_mark_chat_read_create",
        request=None,
        note="Marks every message of the chat read (the canonical operation without a body).",
    )
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)


class ChatMarkReadAlias(SeedInput, ChatReadApi):
    """``POST /api/chat/mark-read`` {conversationId, messageIds?} (seed 003)."""

    http_method_names = ["post", "options"]

    @alias_of(
        ChatReadApi.post,
        "POST /api/chats/{chat_id}/read",
        operation_id="seed_chat_mark_read_create",
        request=seed_request(
            "SeedMarkReadInput",
            with_chat_id("SeedMarkReadChat", ChatReadApi.Input),
            chat_id="conversationId",
            up_to="upTo",
            message_ids="messageIds",
        ),
        note="The chat is named in the body: `chat_id`, `chatId` or `conversationId`.",
    )
    def post(self, request: Request) -> Response:
        return super().post(request, self.chat_id_of_body(request))


class MessagesOfChatAlias(SeedInput, ChatMessagesApi):
    """``GET /api/messages/chat/{id}`` (seed 002)."""

    http_method_names = ["get", "options"]

    @alias_of(
        ChatMessagesApi.get,
        "GET /api/chats/{chat_id}/messages",
        operation_id="seed_messages_chat_retrieve",
    )
    def get(self, request: Request, chat_id: int) -> Response:
        return super().get(request, chat_id)


class ChatMessagesAlias(MessagesOfChatAlias):
    """``GET /api/chat/messages/{conversationId}`` (seed 003)."""

    @alias_of(
        ChatMessagesApi.get,
        "GET /api/chats/{chat_id}/messages",
        operation_id="seed_chat_messages_retrieve",
    )
    def get(self, request: Request, chat_id: int) -> Response:
        return super().get(request, chat_id)


class ChatSendAlias(SeedInput, ChatMessagesApi):
    """``POST /api/chat/send`` {conversationId, content, type} (seed 003)."""

    http_method_names = ["post", "options"]

    @alias_of(
        ChatMessagesApi.post,
        "POST /api/chats/{chat_id}/messages",
        operation_id="seed_chat_send_create",
        request=seed_request(
            "SeedSendInput",
            with_chat_id("SeedSendChat", MessageInput),
            chat_id="conversationId",
            text="content",
            kind="type",
            attachment_ids="attachmentIds",
            client_id="clientId",
        ),
        note="The chat is named in the body: `chat_id`, `chatId` or `conversationId`.",
    )
    def post(self, request: Request) -> Response:
        return super().post(request, self.chat_id_of_body(request))


# --- Chat lists -----------------------------------------------------------------------------


class ChatConversationsAlias(SeedInput, ChatListApi):
    """``GET /api/chat/conversations`` (seed 003): the caller's chats, as ``GET /api/chats``."""

    http_method_names = ["get", "options"]

    @alias_of(ChatListApi.get, "GET /api/chats", operation_id="seed_chat_conversations_list")
    def get(self, request: Request) -> Response:
        return super().get(request)


class ChatProjectAlias(ChatConversationsAlias):
    forced_query = {"kind": "project"}

    @alias_of(
        ChatListApi.get,
        "GET /api/chats?kind=project",
        operation_id="seed_chat_project_list",
        hidden_parameters=("kind",),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ChatDirectAlias(ChatConversationsAlias):
    forced_query = {"kind": "direct"}

    @alias_of(
        ChatListApi.get,
        "GET /api/chats?kind=direct",
        operation_id="seed_chat_direct_list",
        hidden_parameters=("kind",),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class UnreadChatsAlias(ChatConversationsAlias):
    """``GET /api/unread/chats`` (seed 004): the chats with unread messages."""

    forced_query = {"unread": "true"}

    @alias_of(
        ChatListApi.get,
        "GET /api/chats?unread=true",
        operation_id="seed_unread_chats_list",
        hidden_parameters=("unread",),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AssignedChatsAlias(ChatConversationsAlias):
    """Seed 004's assignment lists are the operators' (staff only)."""

    permission_classes = [IsStaff]
    forced_query = {"assigned": "true"}

    @alias_of(
        ChatListApi.get,
        "GET /api/chats?assigned=true",
        operation_id="seed_chat_assignment_assigned_list",
        hidden_parameters=("assigned",),
        note="Staff only.",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class UnassignedChatsAlias(AssignedChatsAlias):
    forced_query = {"assigned": "false"}

    @alias_of(
        ChatListApi.get,
        "GET /api/chats?assigned=false",
        operation_id="seed_chat_assignment_unassigned_list",
        hidden_parameters=("assigned",),
        note="Staff only.",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class DirectCreateAlias(SeedInput, ChatListApi):
    """``POST /api/chat/direct/create`` {participantIds} (seed 003)."""

    http_method_names = ["post", "options"]
    forced_body = {"kind": "direct"}

    @alias_of(
        ChatListApi.post,
        "POST /api/chats with kind=direct",
        operation_id="seed_chat_direct_create",
        request=seed_request(
            "SeedDirectCreateInput",
            ChatListApi.Input,
            omit=("kind", "project_id", "name"),
            participant_ids="participantIds",
        ),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


# --- Assignment -----------------------------------------------------------------------------


class AssignAlias(SeedInput, ChatAssignApi):
    @alias_of(
        ChatAssignApi.post,
        "POST /api/chats/{chat_id}/assign",
        operation_id="seed_chat_assignment_assign_create",
        request=seed_request("SeedAssignInput", ChatAssignApi.Input, operator_id="operatorId"),
    )
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)


class UnassignAlias(SeedInput, ChatUnassignApi):
    http_method_names = ["delete", "options"]

    @alias_of(
        ChatUnassignApi.post,
        "POST /api/chats/{chat_id}/unassign",
        operation_id="seed_chat_assignment_unassign_destroy",
    )
    def delete(self, request: Request, chat_id: int) -> Response:
        return self.post(request, chat_id)


class AssignmentCloseAlias(SeedInput, ChatCloseApi):
    @alias_of(
        ChatCloseApi.post,
        "POST /api/chats/{chat_id}/close",
        operation_id="seed_chat_assignment_close_create",
    )
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)


class SuggestionsAlias(SeedInput, SuggestionsApi):
    @alias_of(
        SuggestionsApi.get,
        "GET /api/chats/{chat_id}/suggestions",
        operation_id="seed_ai_suggestions_retrieve",
    )
    def get(self, request: Request, chat_id: int) -> Response:
        return super().get(request, chat_id)


# --- Orders by their place in the chat ------------------------------------------------------

ORDER_PLACE = [
    OpenApiParameter("chat_id", int, OpenApiParameter.PATH, description="The order's chat."),
    OpenApiParameter(
        "order_index",
        int,
        OpenApiParameter.PATH,
        description="The order's place among the chat's orders, from 0, oldest first.",
    ),
]


class OrderStatusAlias(SeedInput, OrderStatusApi):
    http_method_names = ["put", "options"]

    @alias_of(
        OrderStatusApi.post,
        "POST /api/orders/{order_id}/status",
        operation_id="seed_orders_status_update",
    )
    def put(self, request: Request, chat_id: int, order_index: int) -> Response:
        order = chat_order_at(request.user, chat_id=chat_id, index=order_index)
        return self.post(request, order.pk)


class OrderDeleteAlias(SeedInput, OrderDetailApi):
    http_method_names = ["delete", "options"]

    @alias_of(
        OrderDetailApi.delete,
        "DELETE /api/orders/{order_id}",
        operation_id="seed_orders_destroy",
    )
    def delete(self, request: Request, chat_id: int, order_index: int) -> Response:
        order = chat_order_at(request.user, chat_id=chat_id, index=order_index)
        return super().delete(request, order.pk)


# --- Files ----------------------------------------------------------------------------------

UploadInput = seed_request("SeedUploadInput", MediaUploadApi.Input, chat_id="chatId")
MediaUploadInput = seed_request(
    "SeedMediaUploadInput", MediaUploadApi.Input, file="media", chat_id="chatId"
)


class UploadAlias(SeedInput, MediaUploadApi):
    """``POST /api/upload`` (seed 002), ``/api/files/upload`` (000), ``/api/media/upload``
    (004, whose form field is ``media``)."""

    @alias_of(
        MediaUploadApi.post,
        "POST /api/media",
        operation_id="seed_upload_create",
        request={"multipart/form-data": UploadInput},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class FilesUploadAlias(UploadAlias):
    @alias_of(
        MediaUploadApi.post,
        "POST /api/media",
        operation_id="seed_files_upload_create",
        request={"multipart/form-data": UploadInput},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class MediaUploadAlias(UploadAlias):
    @alias_of(
        MediaUploadApi.post,
        "POST /api/media",
        operation_id="seed_media_upload_create",
        request={"multipart/form-data": MediaUploadInput},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class UploadManyAlias(SeedInput, MediaUploadManyApi):
    @alias_of(
        MediaUploadManyApi.post,
        "POST /api/media/multiple",
        operation_id="seed_upload_multiple_create",
        request={
            "multipart/form-data": seed_request(
                "SeedUploadManyInput", MediaUploadManyApi.Input, chat_id="chatId"
            )
        },
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class FileDownloadAlias(SeedInput, MediaDownloadApi):
    """``GET /api/files/uploads/{id}`` (seed 000 named the file; we name it by its id)."""

    @alias_of(
        MediaDownloadApi.get,
        "GET /api/media/{media_id}/download",
        operation_id="seed_files_uploads_retrieve",
    )
    def get(self, request: Request, media_id: int):
        return super().get(request, media_id)


class MediaSendAlias(SeedInput, MediaUploadApi):
    """``POST /api/media/send`` (seed 004): upload a file and send it into a chat at once."""

    class Input(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True, use_url=False)
        chat_id = id_field()
        text = serializers.CharField(
            required=False, allow_blank=True, default="", trim_whitespace=False
        )
        client_id = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, default=None
        )

    @alias_of(
        MediaUploadApi.post,
        "POST /api/media, then POST /api/chats/{chat_id}/messages",
        operation_id="seed_media_send_create",
        request={
            "multipart/form-data": seed_request(
                "SeedMediaSendInput",
                Input,
                file="media",
                chat_id="chatId",
                text="caption",
                client_id="clientId",
            )
        },
        responses={201: MessageOutput, 200: MessageOutput},
        note=(
            "One request: the file is stored for the chat and sent as a message of its kind "
            "(image, video, audio; a document as `file`) with `text` (`caption`) beside it. "
            "Answers with the message."
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.parsed(request, self.Input)
        chat = self.chat_of(request, data["chat_id"])
        result = services.media_upload_and_send(
            sender=request.user,
            chat=chat,
            file=data["file"],
            text=data["text"],
            client_id=data["client_id"] or None,
        )
        return Response(
            message_data(result.message),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
