"""Chat and message API: thin views that parse input, call one service or selector, render."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from chats import error_codes, outputs, selectors, services
from chats.dialects import (
    CHAT_CREATE_ALIASES,
    CHAT_KIND_ALIASES,
    LEGACY_MESSAGE_ALIASES,
    renamed_body,
)
from chats.models import Chat, ChatKind, ChatStatus, MessageKind, Priority
from chats.payloads import chat_data, message_data
from crm.errors import Forbidden, ValidationFailed
from crm.pagination import PageNumberPagination
from crm.query import ID_MAX, id_field, is_id


def render_chat(chat: Chat, *, viewer: User) -> dict:
    """A chat from ``chats_for_list``/``chat_detail_for`` as the viewer sees it."""
    staff = viewer.is_staff
    return chat_data(
        chat,
        unread_count=getattr(chat, "viewer_unread", 0),
        participants=selectors.participants_of(chat),
        last_message=selectors.last_message_for(chat, viewer_is_staff=staff),
        viewer_is_staff=staff,
    )


def _detail(chat_id: int, viewer: User) -> dict:
    return render_chat(selectors.chat_detail_for(viewer, chat_id), viewer=viewer)


class CommaChoices(serializers.CharField):
    """``status=open,pending``: one or several of the choices, comma-separated."""

    def __init__(self, *, choices, **kwargs):
        self.allowed = list(choices)
        super().__init__(required=False, **kwargs)

    def to_internal_value(self, data):
        values = tuple(v.strip() for v in super().to_internal_value(data).split(",") if v.strip())
        bad = [v for v in values if v not in self.allowed]
        if bad:
            raise serializers.ValidationError(
                _("Unknown value(s) %(join)s; use %(join2)s.")
                % {"join": ", ".join(bad), "join2": ", ".join(self.allowed)}
            )
        return values or None


class ChatListApi(APIView):
    class Filters(serializers.Serializer):
        kind = CommaChoices(choices=ChatKind.values)
        status = CommaChoices(choices=ChatStatus.values)
        priority = CommaChoices(choices=Priority.values)
        assigned = serializers.BooleanField(required=False, allow_null=True, default=None)
        assignee = serializers.CharField(required=False)
        inbox = id_field(required=False)
        unread = serializers.BooleanField(required=False, allow_null=True, default=None)
        q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

        def validate_assignee(self, value: str) -> int | str:
            if value == "me":
                return value
            if not is_id(value):
                raise serializers.ValidationError(_("Use 'me' or a user id."))
            return int(value)

    class Input(serializers.Serializer):
        kind = serializers.ChoiceField(choices=[ChatKind.DIRECT, ChatKind.GROUP, ChatKind.PROJECT])
        participant_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
            required=False,
            default=list,
            max_length=200,
        )
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        project_id = serializers.IntegerField(
            required=False, min_value=1, max_value=ID_MAX, allow_null=True
        )

    @extend_schema(
        operation_id="chats_list",
        parameters=[
            OpenApiParameter(
                "kind", str, description="support, direct, group, project (comma list)"
            ),
            OpenApiParameter("status", str, description="open, pending, closed (comma list)"),
            OpenApiParameter("priority", str, description="low, normal, high, urgent"),
            OpenApiParameter("assigned", bool),
            OpenApiParameter("assignee", str, description="'me' or a user id"),
            OpenApiParameter("inbox", int),
            OpenApiParameter("unread", bool),
            OpenApiParameter("q", str, description="customer name or email, subject, name"),
        ],
        responses=outputs.ChatPage,
    )
    def get(self, request: Request) -> Response:
        params = self.Filters(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        assignee = data.get("assignee")
        filters = selectors.ChatFilters(
            kinds=data.get("kind"),
            statuses=data.get("status"),
            priorities=data.get("priority"),
            assigned=data.get("assigned"),
            assignee_id=request.user.pk if assignee == "me" else assignee,
            inbox_id=data.get("inbox"),
            unread=data.get("unread"),
            q=data.get("q", "").strip(),
        )
        chats = selectors.chats_for_list(request.user, filters)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(chats, request, view=self)
        return paginator.get_paginated_response(
            [render_chat(chat, viewer=request.user) for chat in page]
        )

    @extend_schema(
        request=Input,
        responses={200: outputs.ChatOutput, 201: outputs.ChatOutput},
        description="Also accepts the messenger's names: `type` (`private` = direct), "
        "`participantIds`, `projectId`.",
    )
    def post(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise Forbidden(_("Only staff create chats."), code=error_codes.STAFF_ONLY)
        body = renamed_body(request.data, CHAT_CREATE_ALIASES)
        if body is not request.data and isinstance(body.get("kind"), str):
            body["kind"] = CHAT_KIND_ALIASES.get(body["kind"], body["kind"])
        params = self.Input(data=body)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        created = True
        if data["kind"] == ChatKind.DIRECT:
            ids = [i for i in data["participant_ids"] if i != request.user.pk]
            if len(ids) != 1:
                raise ValidationFailed(
                    _("A direct chat is with exactly one other staff member."),
                    code=error_codes.INVALID_PARTICIPANTS,
                    fields={"participant_ids": [_("Name one other staff member.")]},
                )
            chat, created = services.chat_direct_get_or_create(actor=request.user, other_id=ids[0])
        elif data["kind"] == ChatKind.GROUP:
            chat = services.chat_group_create(
                actor=request.user, name=data["name"], participant_ids=data["participant_ids"]
            )
        else:
            chat, created = services.chat_project_get_or_create(
                actor=request.user,
                project_id=data.get("project_id"),
                name=data["name"],
                participant_ids=data["participant_ids"],
            )
        return Response(
            _detail(chat.pk, request.user),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MyChatApi(APIView):
    """The customer's support chat in the web inbox, created on the first call."""

    @extend_schema(responses=outputs.ChatOutput)
    def get(self, request: Request) -> Response:
        if request.user.is_staff:
            raise Forbidden(
                _("Only customers have a support chat of their own."),
                code=error_codes.CUSTOMER_ONLY,
            )
        chat, _created = services.support_chat_get_or_create(customer=request.user)
        return Response(_detail(chat.pk, request.user))


class ChatDetailApi(APIView):
    class Input(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        status = serializers.ChoiceField(choices=ChatStatus.choices, required=False)
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)

    @extend_schema(responses=outputs.ChatOutput)
    def get(self, request: Request, chat_id: int) -> Response:
        return Response(_detail(chat_id, request.user))

    @extend_schema(request=Input, responses=outputs.ChatOutput)
    def patch(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_for(request.user, chat_id)
        params = self.Input(data=request.data)
        params.is_valid(raise_exception=True)
        services.chat_update(actor=request.user, chat=chat, **params.validated_data)
        return Response(_detail(chat_id, request.user))


class ChatParticipantsApi(APIView):
    class Input(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)

    @extend_schema(request=Input, responses=outputs.ChatOutput)
    def post(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_for(request.user, chat_id)
        params = self.Input(data=request.data)
        params.is_valid(raise_exception=True)
        services.chat_participant_add(
            actor=request.user, chat=chat, user_id=params.validated_data["user_id"]
        )
        return Response(_detail(chat_id, request.user))


class ChatParticipantDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, chat_id: int, user_id: int) -> Response:
        chat = selectors.chat_for(request.user, chat_id)
        services.chat_participant_remove(actor=request.user, chat=chat, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageInput(serializers.Serializer):
    text = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    kind = serializers.ChoiceField(choices=MessageKind.choices, default=MessageKind.TEXT)
    attachment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        default=list,
        max_length=50,
    )
    client_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None
    )


def _send(request: Request, *, chat_id: int, data: dict) -> Response:
    # The service reads the chat once, locked (404 when the sender cannot see it).
    result = services.message_send(
        sender=request.user,
        chat=chat_id,
        text=data["text"],
        kind=data["kind"],
        attachment_ids=data["attachment_ids"],
        client_id=data["client_id"] or None,
    )
    return Response(
        message_data(result.message),
        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )


class ChatMessagesApi(APIView):
    class Cursor(serializers.Serializer):
        before = id_field(required=False)
        after = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=selectors.HISTORY_MAX_LIMIT,
            default=selectors.HISTORY_DEFAULT_LIMIT,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="messages older than this id"),
            OpenApiParameter("after", int, description="messages newer than this id"),
            OpenApiParameter("limit", int, description="1-200, default 50"),
        ],
        responses=outputs.MessageHistory,
    )
    def get(self, request: Request, chat_id: int) -> Response:
        params = self.Cursor(data=request.query_params)
        params.is_valid(raise_exception=True)
        chat = selectors.chat_for(request.user, chat_id)
        page = selectors.message_history(chat=chat, viewer=request.user, **params.validated_data)
        return Response(
            {"results": [message_data(m) for m in page.messages], "has_more": page.has_more}
        )

    @extend_schema(
        request=MessageInput,
        responses={201: outputs.MessageOutput, 200: outputs.MessageOutput},
    )
    def post(self, request: Request, chat_id: int) -> Response:
        params = MessageInput(data=request.data)
        params.is_valid(raise_exception=True)
        return _send(request, chat_id=chat_id, data=params.validated_data)


class LegacyMessageCreateApi(APIView):
    """``POST /api/messages`` in the shape older clients send: chat_id, content, message_type."""

    class Input(serializers.Serializer):
        chat_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        content = serializers.CharField(
            required=False, allow_blank=True, default="", trim_whitespace=False
        )
        message_type = serializers.ChoiceField(
            choices=MessageKind.choices, default=MessageKind.TEXT
        )
        attachment_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
            required=False,
            default=list,
            max_length=50,
        )
        client_id = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, default=None
        )

    @extend_schema(
        request=Input,
        responses={201: outputs.MessageOutput, 200: outputs.MessageOutput},
        description="Also accepts the messenger's names: `chatId`, `messageType`, `clientId`, "
        "`attachmentIds`.",
    )
    def post(self, request: Request) -> Response:
        params = self.Input(data=renamed_body(request.data, LEGACY_MESSAGE_ALIASES))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return _send(
            request,
            chat_id=data["chat_id"],
            data={
                "text": data["content"],
                "kind": data["message_type"],
                "attachment_ids": data["attachment_ids"],
                "client_id": data["client_id"],
            },
        )


class MessageDetailApi(APIView):
    class Input(serializers.Serializer):
        text = serializers.CharField(allow_blank=True, trim_whitespace=False)

    @extend_schema(responses=outputs.MessageOutput)
    def get(self, request: Request, message_id: int) -> Response:
        return Response(message_data(selectors.message_for(request.user, message_id)))

    @extend_schema(request=Input, responses=outputs.MessageOutput)
    def patch(self, request: Request, message_id: int) -> Response:
        message = selectors.message_for(request.user, message_id)
        params = self.Input(data=request.data)
        params.is_valid(raise_exception=True)
        message = services.message_edit(
            actor=request.user, message=message, text=params.validated_data["text"]
        )
        return Response(message_data(message))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, message_id: int) -> Response:
        message = selectors.message_for(request.user, message_id)
        services.message_delete(actor=request.user, message=message)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageSearchApi(APIView):
    class Params(serializers.Serializer):
        q = serializers.CharField(max_length=200)
        chat_id = id_field(required=False)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=selectors.SEARCH_LIMIT, default=20
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("chat_id", int),
            OpenApiParameter("limit", int, description="1-50, default 20"),
        ],
        responses=outputs.MessageResults,
    )
    def get(self, request: Request) -> Response:
        params = self.Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        messages = selectors.message_search(
            viewer=request.user, query=data["q"], chat_id=data.get("chat_id"), limit=data["limit"]
        )
        return Response({"results": [message_data(m) for m in messages]})


class ChatReadApi(APIView):
    class Input(serializers.Serializer):
        up_to = serializers.IntegerField(
            required=False, min_value=0, max_value=ID_MAX, allow_null=True
        )
        message_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
            required=False,
            max_length=1000,
        )

    @extend_schema(request=Input, responses=outputs.ReadState)
    def post(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_for(request.user, chat_id)
        params = self.Input(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        membership = services.chat_mark_read(
            user=request.user,
            chat=chat,
            up_to=data.get("up_to"),
            message_ids=data.get("message_ids"),
        )
        return Response(
            {
                "chat_id": chat.pk,
                "up_to": membership.last_read_message_id,
                "unread_count": membership.unread_count,
                "total": selectors.unread_totals([request.user.pk])[request.user.pk],
            }
        )


class UnreadCountsApi(APIView):
    @extend_schema(responses=outputs.UnreadCounts)
    def get(self, request: Request) -> Response:
        return Response(selectors.unread_counts_for(request.user))
