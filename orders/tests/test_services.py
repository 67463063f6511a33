"""Order services: creation, numbering, the status workflow, edit, delete, events."""

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import ChatKind, InboxKind, Message, MessageKind
from chats.tests.factories import InboxFactory, support_chat
from crm.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orders.models import (
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderItem,
    OrderNumberSequence,
    OrderStatus,
)
from orders.services import (
    InvalidTransition,
    order_create,
    order_delete,
    order_status_change,
    order_update,
)
from orders.tests.factories import WIDGETS, make_order

pytestmark = pytest.mark.django_db


def system_lines(order: Order) -> list[str]:
    return list(
        Message.objects.filter(chat=order.chat, kind=MessageKind.SYSTEM)
        .order_by("id")
        .values_list("text", flat=True)
    )


def history(order: Order) -> list[tuple[str, str]]:
    return list(
        OrderEvent.objects.filter(order=order)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


# --- Creation ------------------------------------------------------------------------------


def test_customer_orders_for_self_in_their_support_chat(customer):
    order = order_create(
        actor=customer,
        title=" Two widgets ",
        description="Blue, please",
        currency="EUR",
        items=[
            {"name": "Widget", "quantity": "2", "unit_price": "10.00"},
            {"name": "Gift wrap", "quantity": Decimal("1"), "unit_price": 3},
        ],
    )
    assert order.number == Order.FIRST_NUMBER == 1001
    assert order.display_number == "#1001"
    assert order.customer == customer and order.created_by == customer
    assert order.organization_id == customer.organization_id
    assert order.chat.kind == ChatKind.SUPPORT and order.chat.customer == customer
    assert order.chat.inbox.kind == InboxKind.WEB
    assert order.title == "Two widgets" and order.status == OrderStatus.NEW
    assert Order.objects.get(pk=order.pk).total == Decimal("23.00")
    assert list(order.items.values_list("name", "total")) == [
        ("Widget", Decimal("20.00")),
        ("Gift wrap", Decimal("3.00")),
    ]
    event = OrderEvent.objects.get(order=order)
    assert (event.from_status, event.to_status, event.actor) == ("", "new", customer)
    message = Message.objects.get(chat=order.chat, kind=MessageKind.SYSTEM)
    assert message.text == "Order #1001 created: Two widgets (23.00 EUR)"
    assert not message.staff_only and message.sender is None


def test_numbers_follow_each_other_per_organization(customer, other_customer):
    first, second = make_order(customer), make_order(customer)
    elsewhere = make_order(other_customer)
    assert (first.number, second.number, elsewhere.number) == (1001, 1002, 1001)
    assert OrderNumberSequence.objects.get(organization=customer.organization).last_number == 1002


def test_refused_creation_uses_no_number(customer):
    with pytest.raises(ValidationFailed):
        order_create(
            actor=customer, title="x", items=[{"name": "a", "quantity": "0", "unit_price": "1"}]
        )
    with pytest.raises(ValidationFailed):
        order_create(actor=customer, title="   ", items=WIDGETS)
    assert make_order(customer).number == 1001


def test_rolled_back_creation_leaves_no_gap(customer):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_order(customer)
        raise RuntimeError("the caller's transaction fails after the order was numbered")
    assert not Order.objects.exists()
    assert make_order(customer).number == 1001


def test_staff_order_for_a_customer_of_their_organization(operator, customer):
    order = order_create(
        actor=operator, customer_id=customer.pk, title="Phone order", items=WIDGETS
    )
    assert order.customer == customer and order.created_by == operator
    assert order.chat.customer == customer
    assert order.currency == "USD"  # the default


def test_staff_must_name_a_customer_of_their_organization(
    operator, customer, other_customer, senior_operator
):
    with pytest.raises(ValidationFailed) as caught:
        order_create(actor=operator, title="x")
    assert caught.value.code == "customer_required"
    for wrong in (other_customer.pk, senior_operator.pk, 10**9):
        with pytest.raises(ValidationFailed) as caught:
            order_create(actor=operator, customer_id=wrong, title="x")
        assert caught.value.code == "customer_not_found"  # the same for every wrong id
    assert not Order.objects.exists()


def test_customer_cannot_order_for_someone_else(customer, organization):
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    with pytest.raises(Forbidden):
        order_create(actor=customer, customer_id=neighbour.pk, title="x")
    assert order_create(actor=customer, customer_id=customer.pk, title="mine").customer == customer


def test_order_joins_a_given_support_chat_of_the_customer(operator, customer, organization):
    telegram = InboxFactory(organization=organization, kind=InboxKind.TELEGRAM)
    chat = support_chat(customer, inbox=telegram)
    order = order_create(actor=operator, customer_id=customer.pk, chat_id=chat.pk, title="x")
    assert order.chat == chat
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    with pytest.raises(ValidationFailed) as caught:
        order_create(
            actor=operator,
            customer_id=neighbour.pk,
            chat_id=chat.pk,  # somebody else's chat
            title="x",
        )
    assert caught.value.code == "chat_not_found"


def test_creation_events_after_commit(
    customer, operator, captured, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = make_order(customer, actor=operator)
    assert captured == []
    for callback in callbacks:
        callback()
    updated = [(d, g) for t, d, g in captured if t == "order:updated"]
    assert len(updated) == 1
    data, groups = updated[0]
    assert set(groups) == {f"user.{customer.pk}", f"staff.{customer.organization_id}"}
    assert data["id"] == order.pk and data["display_number"] == "#1001"
    assert data["total"] == "20.00" and data["status"] == "new"
    assert [h["to_status"] for h in data["history"]] == ["new"]
    texts = [d["text"] for t, d, g in captured if t == "message:new"]
    assert texts == ["Order #1001 created: Widgets (20.00 EUR)"]


# --- Status workflow -----------------------------------------------------------------------

PAIRS = [(a, b) for a in OrderStatus.values for b in OrderStatus.values]


@pytest.mark.parametrize(("start", "target"), PAIRS)
def test_every_transition_allowed_or_refused(customer, senior_operator, start, target):
    order = make_order(customer, status=start)
    before_history, before_lines = history(order), system_lines(order)
    if target in TRANSITIONS[start]:
        order = order_status_change(actor=senior_operator, order=order, status=target, comment="ok")
        assert Order.objects.get(pk=order.pk).status == target
        assert history(order) == [*before_history, (start, target)]
        event = OrderEvent.objects.filter(order=order).latest("id")
        assert (event.actor, event.comment) == (senior_operator, "ok")
        start_label = OrderStatus(start).label.lower()
        target_label = OrderStatus(target).label.lower()
        assert system_lines(order) == [
            *before_lines,
            f"Order #1001: {start_label} → {target_label} — ok",
        ]
    else:
        with pytest.raises(InvalidTransition) as caught:
            order_status_change(actor=senior_operator, order=order, status=target)
        error = caught.value
        assert error.status_code == 409 and error.code == "invalid_transition"
        assert error.extra == {"current_status": start, "allowed": list(TRANSITIONS[start])}
        assert Order.objects.get(pk=order.pk).status == start
        assert history(order) == before_history and system_lines(order) == before_lines


def test_workflow_shape():
    forward = [OrderStatus.NEW, OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS]
    forward += [OrderStatus.SHIPPED, OrderStatus.DONE]
    for here, there in zip(forward, forward[1:], strict=False):
        assert TRANSITIONS[here] == (there, OrderStatus.CANCELLED)
    assert TRANSITIONS[OrderStatus.DONE] == TRANSITIONS[OrderStatus.CANCELLED] == ()


def test_full_walk_keeps_a_consistent_history(customer, admin_user):
    order = make_order(customer, status=OrderStatus.DONE)
    steps = history(order)
    assert steps[0] == ("", "new") and steps[-1] == ("shipped", "done")
    assert all(prev[1] == nxt[0] for prev, nxt in zip(steps, steps[1:], strict=False))
    assert system_lines(order)[-1] == "Order #1001: shipped → done"


def test_admin_changes_status_too(customer, admin_user):
    order = make_order(customer)
    assert order_status_change(actor=admin_user, order=order, status="confirmed").status == (
        "confirmed"
    )


def test_operator_cannot_change_status(customer, operator):
    order = make_order(customer)
    for target in ("confirmed", "cancelled"):
        with pytest.raises(Forbidden) as caught:
            order_status_change(actor=operator, order=order, status=target)
        assert caught.value.code == "status_change_forbidden"
    assert Order.objects.get(pk=order.pk).status == "new"


def test_customer_cancels_own_new_order_only(customer):
    order = make_order(customer)
    with pytest.raises(Forbidden):
        order_status_change(actor=customer, order=order, status="confirmed")
    order = order_status_change(actor=customer, order=order, status="cancelled", comment="oops")
    assert order.status == "cancelled"
    assert history(order)[-1] == ("new", "cancelled")
    confirmed = make_order(customer, status=OrderStatus.CONFIRMED)
    with pytest.raises(InvalidTransition) as caught:
        order_status_change(actor=customer, order=confirmed, status="cancelled")
    assert caught.value.extra == {"current_status": "confirmed", "allowed": []}


def test_strangers_get_not_found(customer, organization, other_admin, other_customer):
    order = make_order(customer)
    neighbour = UserFactory(organization=organization, role=Role.CUSTOMER)
    for stranger in (other_admin, other_customer, neighbour):
        with pytest.raises(NotFound):
            order_status_change(actor=stranger, order=order, status="cancelled")
        with pytest.raises(NotFound):
            order_update(actor=stranger, order=order, title="mine now")
        with pytest.raises(NotFound):
            order_delete(actor=stranger, order=order)
    assert Order.objects.get(pk=order.pk).status == "new"


def test_bad_status_or_comment_is_a_validation_error(customer, senior_operator):
    order = make_order(customer)
    with pytest.raises(ValidationFailed):
        order_status_change(actor=senior_operator, order=order, status="lost")
    with pytest.raises(ValidationFailed):
        order_status_change(
            actor=senior_operator, order=order, status="confirmed", comment="x" * 1001
        )


def test_status_change_events_after_commit(
    customer, senior_operator, captured, django_capture_on_commit_callbacks
):
    order = make_order(customer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_status_change(actor=senior_operator, order=order, status="confirmed", comment="paid")
    assert captured == []  # nothing leaves before commit
    for callback in callbacks:
        callback()
    by_type = {t: (d, g) for t, d, g in captured}
    data, groups = by_type["order:updated"]
    assert set(groups) == {f"user.{customer.pk}", f"staff.{customer.organization_id}"}
    assert data["status"] == "confirmed" and data["next_statuses"] == ["in_progress", "cancelled"]
    assert data["history"][-1]["from_status"] == "new"
    assert data["history"][-1]["comment"] == "paid"
    assert data["history"][-1]["actor"]["id"] == senior_operator.pk
    message, message_groups = by_type["message:new"]
    assert message["text"] == "Order #1001: new → confirmed — paid"
    assert message["kind"] == "system" and not message["staff_only"]
    assert f"user.{customer.pk}" in message_groups  # the customer sees the line


def test_nothing_happens_when_the_transaction_rolls_back(
    customer, senior_operator, captured, django_capture_on_commit_callbacks
):
    order = make_order(customer)
    lines_before = system_lines(order)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        order_status_change(actor=senior_operator, order=order, status="confirmed")
        raise RuntimeError("something later in the same transaction failed")
    assert callbacks == [] and captured == []
    assert Order.objects.get(pk=order.pk).status == "new"
    assert history(order) == [("", "new")]
    assert system_lines(order) == lines_before


# --- Edit ----------------------------------------------------------------------------------


def test_customer_edits_new_order_and_total_is_recomputed(
    customer, captured, django_capture_on_commit_callbacks
):
    order = make_order(customer)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_update(
            actor=customer,
            order=order,
            title="Three widgets",
            items=[{"name": "Widget", "quantity": "3", "unit_price": "10.00"}],
        )
    stored = Order.objects.get(pk=order.pk)
    assert (stored.title, stored.total) == ("Three widgets", Decimal("30.00"))
    assert OrderItem.objects.filter(order=order).count() == 1
    assert history(order) == [("", "new")]  # edits are not status changes
    [(data, groups)] = [(d, g) for t, d, g in captured if t == "order:updated"]
    assert data["total"] == "30.00" and data["title"] == "Three widgets"


def test_noop_edit_sends_nothing(customer, django_capture_on_commit_callbacks):
    order = make_order(customer)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order_update(actor=customer, order=order, title="Widgets")
    assert callbacks == []


def test_managers_edit_operators_do_not(customer, senior_operator, operator):
    order = make_order(customer)
    assert (
        order_update(actor=senior_operator, order=order, description="rush").description == "rush"
    )
    with pytest.raises(Forbidden):
        order_update(actor=operator, order=order, description="mine")


def test_only_new_orders_are_edited(customer, admin_user):
    order = make_order(customer, status=OrderStatus.CONFIRMED)
    with pytest.raises(Conflict) as caught:
        order_update(actor=admin_user, order=order, title="late change")
    assert caught.value.code == "order_not_editable"
    assert Order.objects.get(pk=order.pk).title == "Widgets"


# --- Delete --------------------------------------------------------------------------------


def test_only_admin_deletes(customer, senior_operator, operator, admin_user):
    order = make_order(customer, status=OrderStatus.SHIPPED)
    for actor in (customer, operator, senior_operator):
        with pytest.raises(Forbidden):
            order_delete(actor=actor, order=order)
    order_delete(actor=admin_user, order=order)
    assert not Order.objects.filter(pk=order.pk).exists()
    assert not OrderItem.objects.filter(order_id=order.pk).exists()
    assert not OrderEvent.objects.filter(order_id=order.pk).exists()
    assert make_order(customer).number == 1002  # numbers are never given out twice
