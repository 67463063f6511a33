import pytest

from orders.models import Order, OrderStatus
from orders.services import order_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(customer):
    return order_create(
        actor=customer,
        title="Blue chair",
        currency="EUR",
        items=[{"name": "Chair", "quantity": "2", "unit_price": "19.90"}],
    )


def test_list_shows_only_own_orders(client, customer, other_customer, order):
    other = order_create(actor=other_customer, title="Not yours", items=[])
    client.force_login(customer)
    response = client.get("/orders/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Blue chair" in content and "39.80 EUR" in content
    assert "Not yours" not in content
    assert client.get(f"/orders/{other.id}/").status_code == 404


def test_create_order_from_cabinet(client, customer):
    client.force_login(customer)
    response = client.post(
        "/orders/new/",
        {
            "title": "Lamp",
            "description": "",
            "currency": "usd",
            "items-TOTAL_FORMS": "3",
            "items-INITIAL_FORMS": "0",
            "items-0-name": "Lamp",
            "items-0-quantity": "3",
            "items-0-unit_price": "10.10",
            "items-1-name": "",
            "items-1-quantity": "1",
            "items-1-unit_price": "",
            "items-2-name": "",
            "items-2-quantity": "1",
            "items-2-unit_price": "",
        },
    )
    assert response.status_code == 302
    order = Order.objects.get(customer=customer)
    assert str(order.total).startswith("30.30") and order.currency == "USD"
    detail = client.get(response["Location"])
    assert "Lamp" in detail.content.decode() and "New" in detail.content.decode()


def test_bad_item_is_refused_and_nothing_created(client, customer):
    client.force_login(customer)
    response = client.post(
        "/orders/new/",
        {
            "title": "Lamp",
            "currency": "EUR",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-0-name": "Lamp",
            "items-0-quantity": "-1",
            "items-0-unit_price": "1",
        },
    )
    assert response.status_code == 400
    assert not Order.objects.filter(customer=customer).exists()


def test_customer_cancels_new_order_with_history(client, customer, order):
    client.force_login(customer)
    response = client.post(f"/orders/{order.id}/cancel/", {"comment": "changed my mind"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    page = client.get(f"/orders/{order.id}/").content.decode()
    assert "changed my mind" in page and "Cancel order" not in page


def test_cannot_cancel_other_customers_order(client, organization, order):
    from accounts.tests.factories import UserFactory

    intruder = UserFactory(organization=organization)
    client.force_login(intruder)
    assert client.post(f"/orders/{order.id}/cancel/").status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.NEW


def test_staff_are_sent_to_back_office(client, operator):
    client.force_login(operator)
    response = client.get("/orders/")
    assert response.status_code == 302 and response["Location"] == "/admin/orders/order/"


def test_list_query_count_is_bounded(client, customer, django_assert_max_num_queries):
    for i in range(12):
        order_create(
            actor=customer,
            title=f"Order {i}",
            items=[{"name": "x", "quantity": "1", "unit_price": "1"}],
        )
    client.force_login(customer)
    with django_assert_max_num_queries(8):
        response = client.get("/orders/")
    assert response.content.decode().count("/orders/") >= 12
