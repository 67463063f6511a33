"""Orders API: every endpoint's happy path, its 400/403/404/409, filters, pagination, budgets."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from accounts.tests.factories import UserFactory
from orders.models import Order, OrderEvent, OrderItem, OrderStatus
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

ITEMS = [
    {"name": "Widget", "quantity": "2", "unit_price": "10.00"},
    {"name": "Bolt", "quantity": "0.5", "unit_price": "0.35"},
]


# --- Create ------------------------------------------------------------------------------


def test_customer_creates_own_order(client_for, customer):
    response = client_for(customer).post(
        "/api/orders",
        {"title": "Widgets", "currency": "EUR", "items": ITEMS},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == 1001 and body["display_number"] == "#1001"
    assert body["status"] == "new" and body["next_statuses"] == ["confirmed", "cancelled"]
    assert body["customer"]["id"] == customer.pk and body["created_by"]["id"] == customer.pk
    assert body["total"] == "20.18"  # 20.00 + 0.175 → 0.18
    assert [(i["quantity"], i["unit_price"], i["total"]) for i in body["items"]] == [
        ("2", "10.00", "20.00"),
        ("0.5", "0.35", "0.18"),
    ]
    assert body["history"][0]["to_status"] == "new" and body["history"][0]["from_status"] is None
    assert Order.objects.get(pk=body["id"]).chat_id == body["chat_id"]


def test_json_numbers_are_read_exactly(client_for, customer):
    response = client_for(customer).post(
        "/api/orders",
        {
            "title": "x",
            "currency": "EUR",
            "items": [{"name": "a", "quantity": 3, "unit_price": 0.1}],
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["total"] == "0.30"


def test_staff_create_for_a_customer(client_for, operator, customer):
    response = client_for(operator).post(
        "/api/orders",
        {"customer_id": customer.pk, "title": "Phone order", "items": ITEMS},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["customer"]["id"] == customer.pk
    assert response.json()["created_by"]["id"] == operator.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"items": ITEMS}, "title"),
        ({"title": "x", "items": [{"name": "a", "quantity": "0", "unit_price": "1"}]}, "items"),
        ({"title": "x", "items": [{"name": "a", "quantity": "1", "unit_price": "-1"}]}, "items"),
        ({"title": "x", "items": [{"name": "a", "quantity": "x", "unit_price": "1"}]}, "items"),
        ({"title": "x", "items": [{"name": "a", "quantity": "NaN", "unit_price": "1"}]}, "items"),
        ({"title": "x", "currency": "EURO"}, "currency"),
        ({"title": "x", "currency": "ABC"}, "currency"),
    ],
)
def test_create_validation_errors(client_for, customer, payload, field):
    response = client_for(customer).post("/api/orders", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body and body["code"] and body["detail"]
    assert not Order.objects.exists()


def test_item_errors_point_at_the_line(client_for, customer):
    items = [ITEMS[0], {"name": "a", "quantity": "0", "unit_price": "1"}]
    response = client_for(customer).post(
        "/api/orders", {"title": "x", "items": items}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["items"][0] == {}
    assert "greater than 0" in response.json()["items"][1]["quantity"][0]


def test_staff_create_needs_a_customer_of_their_organization(client_for, operator, other_customer):
    client = client_for(operator)
    response = client.post("/api/orders", {"title": "x"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "customer_required"
    response = client.post(
        "/api/orders", {"title": "x", "customer_id": other_customer.pk}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "customer_not_found"


def test_customer_cannot_create_for_another(client_for, customer, organization):
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    response = client_for(customer).post(
        "/api/orders", {"title": "x", "customer_id": neighbour.pk}, format="json"
    )
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_anonymous_gets_401(api_client):
    assert api_client.get("/api/orders").status_code == 401
    assert api_client.post("/api/orders", {"title": "x"}, format="json").status_code == 401


# --- List and detail ---------------------------------------------------------------------


def test_customer_sees_only_own_orders(client_for, customer, organization):
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    mine = make_order(customer)
    theirs = make_order(neighbour)
    client = client_for(customer)
    body = client.get("/api/orders").json()
    assert [o["id"] for o in body["results"]] == [mine.pk] and body["count"] == 1
    assert client.get(f"/api/orders/{theirs.pk}").status_code == 404
    # Filtering by another customer does not widen the view.
    assert client.get(f"/api/orders?customer={neighbour.pk}").json()["count"] == 0


def test_staff_read_the_organizations_orders(client_for, operator, customer, other_customer):
    mine = make_order(customer)
    foreign = make_order(other_customer)
    client = client_for(operator)
    assert [o["id"] for o in client.get("/api/orders").json()["results"]] == [mine.pk]
    response = client.get(f"/api/orders/{mine.pk}")
    assert response.status_code == 200
    assert response.json()["customer"]["email"] == customer.email
    assert client.get(f"/api/orders/{foreign.pk}").status_code == 404


def test_other_organization_gets_404_everywhere(client_for, other_admin, customer):
    order = make_order(customer)
    client = client_for(other_admin)
    base = f"/api/orders/{order.pk}"
    assert client.get(base).status_code == 404
    assert client.patch(base, {"title": "x"}, format="json").status_code == 404
    assert client.post(f"{base}/status", {"status": "confirmed"}, format="json").status_code == 404
    assert client.delete(base).status_code == 404
    assert client.get("/api/orders/999999").status_code == 404
    order.refresh_from_db()
    assert order.status == "new" and order.title == "Widgets"


def test_detail_has_history(client_for, customer, senior_operator):
    order = make_order(customer, status=OrderStatus.CONFIRMED)
    body = client_for(customer).get(f"/api/orders/{order.pk}").json()
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        (None, "new"),
        ("new", "confirmed"),
    ]
    assert body["history"][1]["actor"]["name"]
    assert "at" in body["history"][1]


def test_filters(client_for, admin_user, customer, organization):
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    new = make_order(customer)
    confirmed = make_order(customer, status=OrderStatus.CONFIRMED)
    done = make_order(neighbour, status=OrderStatus.DONE)
    old = make_order(neighbour)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    client = client_for(admin_user)

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/orders?{query}")
        assert response.status_code == 200, response.json()
        return {o["id"] for o in response.json()["results"]}

    assert ids("status=new") == {new.pk, old.pk}
    assert ids("status=confirmed&status=done") == {confirmed.pk, done.pk}
    assert ids(f"customer={neighbour.pk}") == {done.pk, old.pk}
    assert ids(f"customer={neighbour.pk}&status=done") == {done.pk}
    assert ids(f"chat={new.chat_id}") == {new.pk, confirmed.pk}
    week_ago = (timezone.now() - timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert ids(f"created_after={week_ago}") == {new.pk, confirmed.pk, done.pk}
    assert ids(f"created_before={week_ago}") == {old.pk}


@pytest.mark.parametrize("query", ["status=lost", "customer=abc", "created_after=yesterday"])
def test_bad_filters_are_400(client_for, admin_user, query):
    response = client_for(admin_user).get(f"/api/orders?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"


def test_list_is_paginated_newest_first(client_for, admin_user, customer):
    orders = [make_order(customer) for _ in range(5)]
    client = client_for(admin_user)
    first = client.get("/api/orders?page_size=2").json()
    assert first["count"] == 5 and first["next"] and first["previous"] is None
    assert [o["number"] for o in first["results"]] == [1005, 1004]
    last = client.get("/api/orders?page_size=2&page=3").json()
    assert [o["id"] for o in last["results"]] == [orders[0].pk]
    assert "history" not in last["results"][0]  # history only on the detail
    assert client.get("/api/orders?page=9").status_code == 404


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_budget_is_constant(
    client_for, admin_user, customer, organization, count, django_assert_num_queries
):
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    first = make_order(customer)
    Order.objects.bulk_create(
        Order(
            organization=organization,
            number=first.number + n,
            customer=(customer, neighbour)[n % 2],
            chat=first.chat,
            title=f"Order {n}",
            created_by=(admin_user, None)[n % 2],
        )
        for n in range(1, count)
    )
    OrderItem.objects.bulk_create(
        OrderItem(order=order, name="Widget", quantity=2, unit_price=3, total=6)
        for order in Order.objects.all()
    )
    client = client_for(admin_user)
    # the token's user, the count, the orders with customer and creator, their items
    with django_assert_num_queries(4):
        response = client.get("/api/orders?page_size=100")
    results = response.json()["results"]
    assert len(results) == count
    assert all(o["items"] and o["customer"]["email"] for o in results)


# --- Edit ----------------------------------------------------------------------------------


def test_customer_edits_own_new_order(client_for, customer):
    order = make_order(customer)
    response = client_for(customer).patch(
        f"/api/orders/{order.pk}",
        {"title": "Edited", "items": [{"name": "Gadget", "quantity": "1", "unit_price": "5"}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "Edited" and body["total"] == "5.00"
    assert [i["name"] for i in body["items"]] == ["Gadget"]


def test_edit_refusals(client_for, customer, operator, senior_operator, organization):
    order = make_order(customer)
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    url = f"/api/orders/{order.pk}"
    assert client_for(operator).patch(url, {"title": "x"}, format="json").status_code == 403
    assert client_for(neighbour).patch(url, {"title": "x"}, format="json").status_code == 404
    bad = client_for(customer).patch(url, {"items": [{"name": "a"}]}, format="json")
    assert bad.status_code == 400 and "items" in bad.json()
    confirmed = make_order(customer, status=OrderStatus.CONFIRMED)
    response = client_for(senior_operator).patch(
        f"/api/orders/{confirmed.pk}", {"title": "x"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "order_not_editable"
    assert Order.objects.get(pk=order.pk).title == "Widgets"


# --- Status ----------------------------------------------------------------------------------


def test_senior_operator_changes_status(client_for, customer, senior_operator):
    order = make_order(customer)
    response = client_for(senior_operator).post(
        f"/api/orders/{order.pk}/status", {"status": "confirmed", "comment": "paid"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["history"][-1]["comment"] == "paid"


def test_invalid_transition_is_409_with_allowed_states(client_for, customer, admin_user):
    order = make_order(customer, status=OrderStatus.CONFIRMED)
    response = client_for(admin_user).post(
        f"/api/orders/{order.pk}/status", {"status": "done"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_transition"
    assert body["current_status"] == "confirmed"
    assert body["allowed"] == ["in_progress", "cancelled"]
    assert "confirmed" in body["detail"]


def test_status_permissions(client_for, customer, operator, organization):
    order = make_order(customer)
    url = f"/api/orders/{order.pk}/status"
    response = client_for(operator).post(url, {"status": "confirmed"}, format="json")
    assert response.status_code == 403
    response = client_for(customer).post(url, {"status": "confirmed"}, format="json")
    assert response.status_code == 403
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    response = client_for(neighbour).post(url, {"status": "cancelled"}, format="json")
    assert response.status_code == 404
    assert OrderEvent.objects.filter(order=order).count() == 1
    response = client_for(customer).post(url, {"status": "cancelled"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_customer_cannot_cancel_after_confirmation(client_for, customer):
    order = make_order(customer, status=OrderStatus.CONFIRMED)
    response = client_for(customer).post(
        f"/api/orders/{order.pk}/status", {"status": "cancelled"}, format="json"
    )
    assert response.status_code == 409 and response.json()["allowed"] == []


def test_status_input_is_validated(client_for, customer, admin_user):
    order = make_order(customer)
    url = f"/api/orders/{order.pk}/status"
    client = client_for(admin_user)
    assert client.post(url, {"status": "lost"}, format="json").status_code == 400
    assert client.post(url, {}, format="json").status_code == 400
    long_comment = {"status": "confirmed", "comment": "x" * 1001}
    assert client.post(url, long_comment, format="json").status_code == 400


# --- Delete ----------------------------------------------------------------------------------


def test_only_admin_deletes(client_for, customer, operator, senior_operator, admin_user):
    order = make_order(customer)
    url = f"/api/orders/{order.pk}"
    for user in (customer, operator, senior_operator):
        assert client_for(user).delete(url).status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    assert client_for(admin_user).delete(url).status_code == 204
    assert not Order.objects.filter(pk=order.pk).exists()
    assert client_for(admin_user).delete(url).status_code == 404


def test_schema_lists_the_order_endpoints(client_for, admin_user):
    response = client_for(admin_user).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/orders", "/api/orders/{order_id}", "/api/orders/{order_id}/status"} <= set(paths)
