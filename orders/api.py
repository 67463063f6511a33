"""Orders API: list and create, detail, edit while new, status workflow, delete."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.outputs import CustomerOutput, UserBriefOutput
from crm.errors import ValidationFailed
from crm.pagination import PageNumberPagination
from crm.query import BoundedDateTimeField, id_field
from orders import error_codes, selectors, services
from orders.models import Order, OrderItem, OrderStatus
from orders.payloads import order_data


class ItemInput(serializers.Serializer):
    """Amounts are parsed exactly (send strings, e.g. "19.99"); their rules live in the service."""

    name = serializers.CharField(max_length=OrderItem.NAME_MAX_LENGTH)
    quantity = serializers.DecimalField(max_digits=None, decimal_places=None)
    unit_price = serializers.DecimalField(max_digits=None, decimal_places=None)


class OrderItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    quantity = serializers.CharField(help_text='A decimal as a string: "2", "1.5".')
    unit_price = serializers.CharField(help_text='In the currency\'s minor units: "12.50".')
    total = serializers.CharField()


class OrderEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    from_status = serializers.ChoiceField(choices=OrderStatus.choices, allow_null=True)
    to_status = serializers.ChoiceField(choices=OrderStatus.choices)
    actor = UserBriefOutput(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()


class OrderOutput(serializers.Serializer):
    """For the schema only: responses are built by ``orders.payloads.order_data`` (``history``
    on the detail and after writes, not in lists)."""

    id = serializers.IntegerField()
    number = serializers.IntegerField()
    display_number = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    customer = CustomerOutput()
    chat_id = serializers.IntegerField(allow_null=True)
    items = OrderItemOutput(many=True)
    total = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    next_statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=OrderStatus.choices)
    )
    created_by = UserBriefOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    history = OrderEventOutput(many=True, required=False)


def _detail(request: Request, order: Order) -> dict:
    return order_data(selectors.order_detail(request.user, order.pk), history=True)


class OrderQuery(serializers.Serializer):
    """The list's query parameters, checked before the filter set sees them."""

    status = serializers.ListField(
        child=serializers.ChoiceField(choices=OrderStatus.choices), required=False
    )
    customer = id_field(required=False)
    chat = id_field(required=False)
    created_after = BoundedDateTimeField(required=False)
    created_before = BoundedDateTimeField(required=False)


class OrderListApi(APIView):
    class Input(serializers.Serializer):
        customer_id = id_field(required=False)
        chat_id = id_field(required=False)
        title = serializers.CharField(max_length=Order.TITLE_MAX_LENGTH)
        description = serializers.CharField(
            max_length=Order.DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
        )
        currency = serializers.CharField(max_length=3, required=False)
        items = ItemInput(many=True, required=False)

    @extend_schema(
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, many=True, enum=OrderStatus.values),
            OpenApiParameter("customer", OpenApiTypes.INT),
            OpenApiParameter("chat", OpenApiTypes.INT),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses=inline_serializer(
            "OrderPage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": OrderOutput(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = OrderQuery(data=request.query_params)
        if not query.is_valid():
            errors = {field: [str(m) for m in messages] for field, messages in query.errors.items()}
            raise ValidationFailed(
                _("Invalid filter."), code=error_codes.INVALID_FILTER, fields=errors
            )
        orders = selectors.order_list(viewer=request.user, filters=request.query_params)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response([order_data(order) for order in page])

    @extend_schema(request=Input, responses={201: OrderOutput})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_create(actor=request.user, **data.validated_data)
        return Response(_detail(request, order), status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    class Input(serializers.Serializer):
        title = serializers.CharField(max_length=Order.TITLE_MAX_LENGTH, required=False)
        description = serializers.CharField(
            max_length=Order.DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
        )
        currency = serializers.CharField(max_length=3, required=False)
        items = ItemInput(many=True, required=False)

    @extend_schema(responses=OrderOutput)
    def get(self, request: Request, order_id: int) -> Response:
        return Response(order_data(selectors.order_detail(request.user, order_id), history=True))

    @extend_schema(request=Input, responses=OrderOutput)
    def patch(self, request: Request, order_id: int) -> Response:
        order = selectors.order_for(request.user, order_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_update(actor=request.user, order=order, **data.validated_data)
        return Response(_detail(request, order))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, order_id: int) -> Response:
        order = selectors.order_for(request.user, order_id)
        services.order_delete(actor=request.user, order=order)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderStatusApi(APIView):
    """409 ``invalid_transition`` carries ``current_status`` and ``allowed`` (the next statuses
    the caller may choose)."""

    class Input(serializers.Serializer):
        status = serializers.ChoiceField(choices=OrderStatus.choices)
        comment = serializers.CharField(
            max_length=services.MAX_COMMENT_LENGTH, required=False, allow_blank=True
        )

    @extend_schema(request=Input, responses=OrderOutput)
    def post(self, request: Request, order_id: int) -> Response:
        order = selectors.order_for(request.user, order_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_status_change(actor=request.user, order=order, **data.validated_data)
        return Response(_detail(request, order))
