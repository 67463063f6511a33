"""Operators API: assignment actions, operators and availability, canned responses,
suggestions, stats. Thin views: parse, call one service or selector, render."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.models import Chat
from chats.outputs import ChatOutput
from chats.payloads import chat_data
from chats.selectors import chat_for
from crm.errors import ValidationFailed
from crm.pagination import PageNumberPagination
from crm.permissions import IsStaff
from crm.query import ID_MAX, BoundedDateTimeField
from operators import error_codes, outputs, selectors, services, suggestions
from operators.models import Availability
from operators.payloads import canned_response_data, operator_data, stats_data
from operators.stats import support_stats

# --- Chat actions ---------------------------------------------------------------------------


class _ChatActionApi(APIView):
    """POST on one support chat; answers with the chat as the chat API shows it."""

    permission_classes = [IsStaff]

    def act(self, request: Request, chat: Chat) -> Chat:
        raise NotImplementedError

    @extend_schema(request=None, responses={200: ChatOutput})
    def post(self, request: Request, chat_id: int) -> Response:
        chat = self.act(request, chat_for(request.user, chat_id))
        return Response(chat_data(selectors.chat_for_payload(chat.pk)))


class ChatAssignApi(_ChatActionApi):
    """A senior operator or an admin assigns the chat to a staff member."""

    class Input(serializers.Serializer):
        operator_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)

    @extend_schema(request=Input, responses={200: ChatOutput})
    def post(self, request: Request, chat_id: int) -> Response:
        return super().post(request, chat_id)

    def act(self, request: Request, chat: Chat) -> Chat:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return services.chat_assign(
            actor=request.user, chat=chat, operator_id=data.validated_data["operator_id"]
        )


class ChatUnassignApi(_ChatActionApi):
    """A manager or the assignee returns the chat to the queue."""

    def act(self, request: Request, chat: Chat) -> Chat:
        return services.chat_unassign(actor=request.user, chat=chat)


class ChatTakeApi(_ChatActionApi):
    """Take an unassigned open chat; 409 when someone else has it."""

    def act(self, request: Request, chat: Chat) -> Chat:
        return services.chat_take(actor=request.user, chat=chat)


class ChatCloseApi(_ChatActionApi):
    def act(self, request: Request, chat: Chat) -> Chat:
        return services.chat_close(actor=request.user, chat=chat)


class ChatReopenApi(_ChatActionApi):
    def act(self, request: Request, chat: Chat) -> Chat:
        return services.chat_reopen(actor=request.user, chat=chat)


# --- Operators ------------------------------------------------------------------------------


class OperatorListApi(APIView):
    permission_classes = [IsStaff]

    class Query(serializers.Serializer):
        availability = serializers.ChoiceField(choices=Availability.choices, required=False)

    @extend_schema(
        operation_id="operators_list", parameters=[Query], responses={200: outputs.OperatorPage}
    )
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        operators = selectors.operators_of(organization=self.request.user.organization_id)
        availability = query.validated_data.get("availability")
        if availability:
            operators = selectors.with_availability(operators, availability)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(operators, request, view=self)
        return paginator.get_paginated_response([operator_data(u) for u in page])


class OperatorMeApi(APIView):
    permission_classes = [IsStaff]

    class Input(serializers.Serializer):
        availability = serializers.ChoiceField(choices=Availability.choices)

    @extend_schema(responses={200: outputs.OperatorOutput})
    def get(self, request: Request) -> Response:
        return Response(self._render())

    @extend_schema(request=Input, responses={200: outputs.OperatorOutput})
    def patch(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        services.operator_availability_set(
            user=request.user, availability=data.validated_data["availability"]
        )
        return Response(self._render())

    def _render(self) -> dict:
        user = selectors.operator_of(
            organization=self.request.user.organization_id, user_id=self.request.user.pk
        )
        return operator_data(user)


class OperatorDetailApi(APIView):
    """Staff see an operator; a senior operator or an admin sets capacity and availability."""

    permission_classes = [IsStaff]

    class Input(serializers.Serializer):
        capacity = serializers.IntegerField(
            min_value=0, max_value=services.MAX_CAPACITY, required=False
        )
        availability = serializers.ChoiceField(choices=Availability.choices, required=False)

    @extend_schema(responses={200: outputs.OperatorOutput})
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.operator_of(
            organization=self.request.user.organization_id, user_id=user_id
        )
        return Response(operator_data(user))

    @extend_schema(request=Input, responses={200: outputs.OperatorOutput})
    def patch(self, request: Request, user_id: int) -> Response:
        selectors.operator_of(
            organization=self.request.user.organization_id, user_id=user_id
        )  # 404 first
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        services.operator_profile_update(actor=request.user, user_id=user_id, **data.validated_data)
        user = selectors.operator_of(
            organization=self.request.user.organization_id, user_id=user_id
        )
        return Response(operator_data(user))


# --- Canned responses -----------------------------------------------------------------------


class CannedResponseQuery(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class CannedResponseInput(serializers.Serializer):
    shortcut = serializers.CharField(max_length=64)
    text = serializers.CharField(max_length=5000)


class CannedResponseListApi(APIView):
    """Staff list (``?q=`` searches shortcut and text); an admin adds."""

    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="canned_responses_list",
        parameters=[OpenApiParameter("q", str, required=False)],
        responses={200: outputs.CannedResponsePage},
    )
    def get(self, request: Request) -> Response:
        query = CannedResponseQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        responses = selectors.canned_responses_of(
            organization=self.request.user.organization_id, query=query.validated_data["q"]
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(responses, request, view=self)
        return paginator.get_paginated_response([canned_response_data(r) for r in page])

    @extend_schema(request=CannedResponseInput, responses={201: outputs.CannedResponseOutput})
    def post(self, request: Request) -> Response:
        data = CannedResponseInput(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.canned_response_create(actor=request.user, **data.validated_data)
        return Response(canned_response_data(response), status=status.HTTP_201_CREATED)


class CannedResponseDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={200: outputs.CannedResponseOutput})
    def get(self, request: Request, response_id: int) -> Response:
        response = selectors.canned_response_of(
            organization=self.request.user.organization_id, response_id=response_id
        )
        return Response(canned_response_data(response))

    @extend_schema(
        request=CannedResponseInput(partial=True),
        responses={200: outputs.CannedResponseOutput},
    )
    def patch(self, request: Request, response_id: int) -> Response:
        response = selectors.canned_response_of(
            organization=self.request.user.organization_id, response_id=response_id
        )
        data = CannedResponseInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        response = services.canned_response_update(
            actor=request.user, response=response, **data.validated_data
        )
        return Response(canned_response_data(response))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, response_id: int) -> Response:
        response = selectors.canned_response_of(
            organization=self.request.user.organization_id, response_id=response_id
        )
        services.canned_response_delete(actor=request.user, response=response)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Suggestions, AI health -----------------------------------------------------------------


class SuggestionsApi(APIView):
    permission_classes = [IsStaff]

    class Input(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=10, default=3)

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, required=False)],
        responses={200: outputs.Suggestions},
    )
    def get(self, request: Request, chat_id: int) -> Response:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        chat = chat_for(request.user, chat_id)
        if not chat.is_support:
            raise ValidationFailed(
                _("Suggestions are for support chats."), code=error_codes.NOT_SUPPORT
            )
        return Response(suggestions.suggestions_for(chat=chat, limit=data.validated_data["limit"]))


class AiHealthApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={200: outputs.AiHealth})
    def get(self, request: Request) -> Response:
        return Response(suggestions.ai_health())


# --- Stats ----------------------------------------------------------------------------------


class StatsApi(APIView):
    """``?from=&to=`` (ISO 8601) or ``?days=`` (the last N days, 7 by default)."""

    permission_classes = [IsStaff]

    class Input(serializers.Serializer):
        days = serializers.IntegerField(min_value=1, max_value=366, default=7)
        to = BoundedDateTimeField(required=False)

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = BoundedDateTimeField(required=False)  # a keyword in Python
            return fields

        def validate(self, attrs: dict) -> dict:
            until = attrs.get("to") or timezone.now()
            since = attrs.get("from") or until - timedelta(days=attrs["days"])
            if since >= until:
                raise serializers.ValidationError({"from": ["Must be before 'to'."]})
            return {"since": since, "until": until}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, required=False),
            OpenApiParameter("to", str, required=False),
            OpenApiParameter("days", int, required=False),
        ],
        responses={200: outputs.StatsOutput},
    )
    def get(self, request: Request) -> Response:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        stats = support_stats(organization=self.request.user.organization_id, **data.validated_data)
        return Response(stats_data(stats))
