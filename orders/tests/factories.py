"""Orders made the way the product makes them: through the services."""

from __future__ import annotations

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from orders.models import Order, OrderStatus
from orders.services import order_create, order_status_change

WIDGETS = [{"name": "Widget", "quantity": "2", "unit_price": "10.00"}]

# The steps from ``new`` to each status.
PATH_TO = {
    OrderStatus.NEW: [],
    OrderStatus.CONFIRMED: [OrderStatus.CONFIRMED],
    OrderStatus.IN_PROGRESS: [OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS],
    OrderStatus.SHIPPED: [OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS, OrderStatus.SHIPPED],
    OrderStatus.DONE: [
        OrderStatus.CONFIRMED,
        OrderStatus.IN_PROGRESS,
        OrderStatus.SHIPPED,
        OrderStatus.DONE,
    ],
    OrderStatus.CANCELLED: [OrderStatus.CANCELLED],
}


def manager_of(organization) -> User:
    manager = User.objects.filter(organization=organization, role=Role.ADMIN).first()
    return manager or UserFactory(organization=organization, role=Role.ADMIN)


def make_order(
    customer: User,
    *,
    actor: User | None = None,
    status: str = OrderStatus.NEW,
    title: str = "Widgets",
    currency: str = "EUR",
    items=None,
) -> Order:
    order = order_create(
        actor=actor or customer,
        customer_id=customer.pk,
        title=title,
        currency=currency,
        items=WIDGETS if items is None else items,
    )
    if PATH_TO[status]:
        manager = manager_of(customer.organization)
        for step in PATH_TO[status]:
            order = order_status_change(actor=manager, order=order, status=step)
    return order
