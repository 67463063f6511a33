"""Back office for orders: scoped lists without N+1, search, add/edit/actions/delete through the
services (so numbering, history, chat lines and events are the same as through the API)."""

from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Message, MessageKind
from orders.models import Order, OrderEvent, OrderItem, OrderStatus
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


class _FormFields(HTMLParser):
    """The values a browser would submit from the page's main form."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "checkbox", "button"):
            self.data[name] = a.get("value") or ""
        elif tag == "input" and name and a.get("type") == "checkbox" and "checked" in a:
            self.data[name] = a.get("value") or "on"
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value") or ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += (
                data.lstrip("\n") if not self.data[self._textarea] else data
            )

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_of(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data


def test_changelist_is_scoped_and_has_no_n_plus_1(
    back_office, admin_user, customer, other_customer
):
    foreign = make_order(other_customer, title="Foreign order")
    for _ in range(5):
        make_order(customer)
    client = back_office(admin_user)
    with CaptureQueriesContext(connection) as five:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "#1005" in content and "20.00 EUR" in content and escape(customer.name) in content
    assert foreign.title not in content
    neighbours = [UserFactory(organization=customer.organization) for _ in range(3)]
    for n in range(45):
        make_order(neighbours[n % 3])
    with CaptureQueriesContext(connection) as fifty:
        response = client.get(CHANGELIST)
    assert "#1050" in response.content.decode()
    assert len(fifty.captured_queries) == len(five.captured_queries)


def test_search_by_number_and_customer(back_office, senior_operator, customer, organization):
    someone = UserFactory(organization=organization, email="zed@example.com", name="Zed")
    first = make_order(customer, title="Alpha")
    second = make_order(someone, title="Beta")
    client = back_office(senior_operator)

    def found(term: str) -> list[int]:
        response = client.get(CHANGELIST, {"q": term})
        return sorted(o.pk for o in response.context["cl"].result_list)

    assert found("#1002") == [second.pk]
    assert found("1001") == [first.pk]
    assert found("zed@example") == [second.pk]
    assert found("Zed") == [second.pk]
    assert found("alpha") == [first.pk]
    assert found("#9999") == []


def test_list_filters(back_office, senior_operator, customer):
    make_order(customer)
    done = make_order(customer, status=OrderStatus.DONE)
    client = back_office(senior_operator)
    response = client.get(CHANGELIST, {"status__exact": "done"})
    assert [o.pk for o in response.context["cl"].result_list] == [done.pk]


def test_operator_adds_order_through_the_service(
    back_office, operator, customer, captured, django_capture_on_commit_callbacks
):
    client = back_office(operator)
    form = form_of(client.get(f"{CHANGELIST}add/"))
    form.update(
        {
            "customer": str(customer.pk),
            "title": "Phone order",
            "description": "Call before delivery",
            "currency": "EUR",
            "items-TOTAL_FORMS": "2",
            "items-0-name": "Widget",
            "items-0-quantity": "2",
            "items-0-unit_price": "10.00",
            "items-1-name": "Bolt",
            "items-1-quantity": "0.5",
            "items-1-unit_price": "0.35",
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    order = Order.objects.get()
    assert (order.number, order.customer, order.created_by) == (1001, customer, operator)
    assert str(order.total) == "20.180"
    assert order.chat.customer == customer
    assert list(order.events.values_list("from_status", "to_status")) == [("", "new")]
    assert Message.objects.filter(chat=order.chat, kind=MessageKind.SYSTEM).exists()
    assert [t for t, d, g in captured if t == "order:updated"] == ["order:updated"]


def test_admin_add_refuses_bad_items_on_the_form(back_office, operator, customer):
    client = back_office(operator)
    form = form_of(client.get(f"{CHANGELIST}add/"))
    form.update(
        {
            "customer": str(customer.pk),
            "title": "x",
            "currency": "JPY",
            "items-TOTAL_FORMS": "1",
            "items-0-name": "Widget",
            "items-0-quantity": "1",
            "items-0-unit_price": "10.50",  # yen have no minor unit
        }
    )
    response = client.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 200
    assert "JPY has 0 decimal places" in response.content.decode()
    assert not Order.objects.exists()


def test_admin_add_offers_only_customers_of_the_organization(
    back_office, operator, customer, other_customer
):
    client = back_office(operator)
    form = form_of(client.get(f"{CHANGELIST}add/"))
    for wrong in (other_customer, operator):
        form.update({"customer": str(wrong.pk), "title": "x", "currency": "EUR"})
        response = client.post(f"{CHANGELIST}add/", form)
        assert response.status_code == 200  # the form refuses the choice
    assert not Order.objects.exists()


def test_senior_edits_a_new_order_through_the_service(back_office, senior_operator, customer):
    order = make_order(customer)
    client = back_office(senior_operator)
    url = f"{CHANGELIST}{order.pk}/change/"
    form = form_of(client.get(url))
    assert form["items-0-unit_price"] == "10.000"
    form.update({"title": "Three widgets", "items-0-quantity": "3"})
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    order.refresh_from_db()
    assert order.title == "Three widgets" and str(order.total) == "30.000"
    assert order.items.get().quantity == 3


def test_orders_past_new_are_read_only(back_office, admin_user, customer):
    order = make_order(customer, status=OrderStatus.CONFIRMED)
    client = back_office(admin_user)
    url = f"{CHANGELIST}{order.pk}/change/"
    response = client.get(url)
    content = response.content.decode()
    assert 'name="title"' not in content and 'name="items-0-quantity"' not in content
    assert "status history" in content.lower()
    form = form_of(response)
    form["title"] = "sneaky"
    client.post(url, form)
    order.refresh_from_db()
    assert order.title == "Widgets"


def test_status_actions_go_through_the_service(
    back_office, senior_operator, customer, captured, django_capture_on_commit_callbacks
):
    new = make_order(customer)
    done = make_order(customer, status=OrderStatus.DONE)
    client = back_office(senior_operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "mark_confirmed", "_selected_action": [new.pk, done.pk]},
            follow=True,
        )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Now confirmed: #1001" in m for m in messages)
    assert any("#1002" in m and "cannot become confirmed" in m for m in messages)
    new.refresh_from_db()
    done.refresh_from_db()
    assert (new.status, done.status) == ("confirmed", "done")
    event = OrderEvent.objects.filter(order=new).latest("id")
    assert (event.from_status, event.to_status, event.actor) == (
        "new",
        "confirmed",
        senior_operator,
    )
    line = Message.objects.filter(chat=new.chat, kind=MessageKind.SYSTEM).latest("id")
    assert line.text == "Order #1001: new → confirmed"
    assert [d["id"] for t, d, g in captured if t == "order:updated"] == [new.pk]


def test_operator_has_no_status_actions(back_office, operator, customer):
    order = make_order(customer)
    client = back_office(operator)
    response = client.get(CHANGELIST)
    assert "mark_confirmed" not in response.content.decode()
    client.post(CHANGELIST, {"action": "mark_confirmed", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.status == "new"


def test_other_organizations_order_is_not_reachable(back_office, admin_user, other_customer):
    order = make_order(other_customer)
    client = back_office(admin_user)
    response = client.get(f"{CHANGELIST}{order.pk}/change/")
    assert response.status_code == 302  # the admin's "does not exist" redirect
    client.post(CHANGELIST, {"action": "mark_confirmed", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.status == "new"


def test_only_admin_deletes_in_the_back_office(back_office, admin_user, senior_operator, customer):
    order = make_order(customer)
    url = f"{CHANGELIST}{order.pk}/delete/"
    assert back_office(senior_operator).post(url, {"post": "yes"}).status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    response = back_office(admin_user).post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Order.objects.filter(pk=order.pk).exists()
    assert not OrderItem.objects.filter(order_id=order.pk).exists()


def test_bulk_delete_action_uses_the_service(back_office, admin_user, customer):
    orders = [make_order(customer) for _ in range(2)]
    response = back_office(admin_user).post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [o.pk for o in orders], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Order.objects.exists()


def test_customer_cannot_open_orders_in_the_back_office(back_office, organization):
    customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    response = back_office(customer).get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_operator_reads_an_order_without_editing(back_office, operator, customer):
    order = make_order(customer)
    client = back_office(operator)
    url = f"{CHANGELIST}{order.pk}/change/"
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Widgets" in content and "20.00 EUR" in content
    assert 'name="title"' not in content
    assert client.post(url, {"title": "mine"}).status_code == 403
