"""Order events: ``order:updated`` to the customer and the organization's staff, on commit."""

from __future__ import annotations

from crm.events import send_event, staff_group, user_group
from orders.models import Order
from orders.payloads import order_data
from orders.selectors import with_payload_relations


def order_audience(order: Order) -> list[str]:
    return [user_group(order.customer_id), staff_group(order.organization_id)]


def order_updated(order: Order) -> None:
    """The order as the API shows its detail (with history), read fresh inside the transaction
    that changed it; clients replace their copy by ``id``. Sent for creation too."""
    fresh = with_payload_relations(Order.objects.all(), history=True).get(pk=order.pk)
    send_event("order:updated", order_data(fresh, history=True), groups=order_audience(fresh))
