"""The demo data includes a couple of orders for the demo customer, created once."""

import pytest

from crm.demo import DEMO_ORDERS, seed_demo
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_demo_orders_are_seeded_once():
    organization, _ = seed_demo()
    seed_demo()
    orders = Order.objects.filter(organization=organization).order_by("number")
    assert [o.title for o in orders] == [title for title, _, _ in DEMO_ORDERS]
    assert [o.number for o in orders] == [1001, 1002]
    assert [o.status for o in orders] == [OrderStatus.IN_PROGRESS, OrderStatus.NEW]
    first = orders[0]
    assert str(first.total) == "368.800" and first.currency == "EUR"
    assert first.customer.email == "customer@demo.example.com"
    assert list(first.events.values_list("to_status", flat=True)) == [
        "new",
        "confirmed",
        "in_progress",
    ]
