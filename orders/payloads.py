"""What goes on the wire for orders: one shape for API responses and ``order:updated``."""

from __future__ import annotations

from chats.payloads import customer_data, user_brief
from orders.models import Order, OrderEvent, OrderItem, next_statuses
from orders.money import format_amount, format_quantity


def item_data(item: OrderItem, *, currency: str) -> dict:
    return {
        "id": item.pk,
        "name": item.name,
        "quantity": format_quantity(item.quantity),
        "unit_price": format_amount(item.unit_price, currency),
        "total": format_amount(item.total, currency),
    }


def event_data(event: OrderEvent) -> dict:
    return {
        "id": event.pk,
        "from_status": event.from_status or None,
        "to_status": event.to_status,
        "actor": user_brief(event.actor),
        "comment": event.comment,
        "at": event.created_at,
    }


def order_data(order: Order, *, history: bool = False) -> dict:
    """Expects ``customer`` and ``created_by`` selected and ``items`` (and ``events`` with their
    actors, for ``history``) prefetched: see ``selectors.with_payload_relations``.

    Amounts are strings with the currency's minor units ("12.50" EUR, "1250" JPY). The same
    payload goes to the customer and to staff: nothing in it is staff-only.
    """
    data = {
        "id": order.pk,
        "number": order.number,
        "display_number": order.display_number,
        "title": order.title,
        "description": order.description,
        "customer": customer_data(order.customer),
        "chat_id": order.chat_id,
        "items": [item_data(item, currency=order.currency) for item in order.items.all()],
        "total": format_amount(order.total, order.currency),
        "currency": order.currency,
        "status": order.status,
        "next_statuses": list(next_statuses(order.status)),
        "created_by": user_brief(order.created_by),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    if history:
        data["history"] = [event_data(event) for event in order.events.all()]
    return data
