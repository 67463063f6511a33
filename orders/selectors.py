"""Reads of orders, always through what the viewer may see."""

from __future__ import annotations

from collections.abc import Mapping

import django_filters
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from crm.errors import NotFound, ValidationFailed
from crm.query import ID_MAX
from crm.tenancy import scoped
from orders import error_codes
from orders.models import Order, OrderEvent, OrderStatus


def orders_visible_to(user: User) -> QuerySet[Order]:
    """Customers: their own orders. Staff: their organization's. Nothing of another one."""
    orders = scoped(Order.objects.all(), user.organization_id)
    if not user.is_staff:
        orders = orders.filter(customer=user)
    return orders


def with_payload_relations(orders: QuerySet[Order], *, history: bool = False) -> QuerySet[Order]:
    """What ``orders.payloads.order_data`` reads, fetched in a fixed number of queries."""
    orders = orders.select_related("customer", "created_by").prefetch_related("items")
    if history:
        orders = orders.prefetch_related(
            Prefetch("events", queryset=OrderEvent.objects.select_related("actor"))
        )
    return orders


def order_for(user: User, order_id: int | str, *, queryset: QuerySet[Order] | None = None) -> Order:
    """An order the user may read, or NotFound (also for another organization's order)."""
    orders = orders_visible_to(user) if queryset is None else queryset
    try:
        return orders.get(pk=int(order_id))
    except (Order.DoesNotExist, ValueError, TypeError):
        raise NotFound("Order not found.", code=error_codes.ORDER_NOT_FOUND) from None


def order_detail(user: User, order_id: int | str) -> Order:
    return order_for(
        user, order_id, queryset=with_payload_relations(orders_visible_to(user), history=True)
    )


class OrderFilter(django_filters.FilterSet):
    """``?status=new&status=confirmed&customer=<id>&chat=<id>&created_after=&created_before=``
    (ISO 8601 date-times, both ends inclusive)."""

    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    customer = django_filters.NumberFilter(field_name="customer_id")
    chat = django_filters.NumberFilter(field_name="chat_id")
    created = django_filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Order
        fields: list[str] = []


def order_list(*, viewer: User, filters: Mapping[str, object] | None = None) -> QuerySet[Order]:
    """The viewer's orders, newest first, filtered by query parameters (400 on bad ones)."""
    orders = with_payload_relations(orders_visible_to(viewer)).order_by("-created_at", "-id")
    filterset = OrderFilter(filters or {}, queryset=orders)
    if not filterset.is_valid():
        errors = {field: list(messages) for field, messages in filterset.errors.items()}
        raise ValidationFailed("Invalid filter.", code=error_codes.INVALID_FILTER, fields=errors)
    return filterset.qs


def chat_order_at(user: User, *, chat_id: int, index: int) -> Order:
    """The chat's ``index``-th order (from 0, in creation order) among those the user may read,
    or NotFound (also for another organization's chat): how the first backend addressed
    orders, as a position inside their chat."""
    order = None
    if 0 < chat_id <= ID_MAX and 0 <= index < ID_MAX:
        orders = orders_visible_to(user).filter(chat_id=chat_id).order_by("created_at", "id")
        order = next(iter(orders[index : index + 1]), None)
    if order is None:
        raise NotFound(_("Order not found."), code=error_codes.ORDER_NOT_FOUND)
    return order
