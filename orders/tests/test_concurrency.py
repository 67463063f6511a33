"""Races on PostgreSQL with real threads and connections: status changes and numbering."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Message, MessageKind
from crm.errors import Conflict
from orders.models import TRANSITIONS, Order, OrderEvent, OrderNumberSequence, OrderStatus
from orders.services import order_create, order_status_change
from orders.tests.factories import WIDGETS, make_order

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_together(jobs: list[Callable[[], object]]) -> list[object]:
    """Start every job at the same moment, each in its own thread with its own connection;
    returns each job's result or the exception it raised, in order."""
    results: list[object] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def assert_consistent_history(order: Order) -> list[tuple[str, str]]:
    steps = list(order.events.order_by("id").values_list("from_status", "to_status"))
    assert steps[0] == ("", OrderStatus.NEW)
    for (_, reached), (start, target) in zip(steps, steps[1:], strict=False):
        assert start == reached and target in TRANSITIONS[start]
    assert Order.objects.get(pk=order.pk).status == steps[-1][1]
    return steps


def test_concurrent_identical_status_changes_only_one_wins(organization, customer):
    order = make_order(customer)
    managers = [UserFactory(organization=organization, role=Role.SENIOR_OPERATOR) for _ in range(8)]
    results = run_together(
        [
            lambda m=m: order_status_change(actor=m, order=order, status="confirmed")
            for m in managers
        ]
    )
    wins = [r for r in results if isinstance(r, Order)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 7, results
    assert all(loss.extra["current_status"] == "confirmed" for loss in losses)
    assert assert_consistent_history(order) == [("", "new"), ("new", "confirmed")]
    lines = Message.objects.filter(chat=order.chat, kind=MessageKind.SYSTEM).values_list(
        "text", flat=True
    )
    assert sorted(lines) == [
        "Order #1001 created: Widgets (20.00 EUR)",
        "Order #1001: new → confirmed",
    ]


def test_concurrent_competing_changes_keep_a_valid_chain(organization, customer):
    order = make_order(customer)
    admin = UserFactory(organization=organization, role=Role.ADMIN)
    targets = ["confirmed", "cancelled", "in_progress", "confirmed", "cancelled", "shipped"]
    results = run_together(
        [lambda t=t: order_status_change(actor=admin, order=order, status=t) for t in targets]
    )
    assert all(isinstance(r, Order | Conflict) for r in results), results
    wins = sum(isinstance(r, Order) for r in results)
    steps = assert_consistent_history(order)
    assert len(steps) == wins + 1
    assert len({target for _, target in steps}) == len(steps)  # no step taken twice


def test_fifty_concurrent_creates_number_without_gaps_or_duplicates(organization):
    customers = [UserFactory(organization=organization, role=Role.CUSTOMER) for _ in range(5)]

    def create(i: int) -> int:
        customer = customers[i % len(customers)]
        if i % 10 == 9:  # a caller whose transaction fails after the order got its number
            with transaction.atomic():
                order_create(actor=customer, title=f"Order {i}", items=WIDGETS)
                raise RuntimeError("rolled back")
        return order_create(actor=customer, title=f"Order {i}", items=WIDGETS).number

    started = time.perf_counter()
    results = run_together([lambda i=i: create(i) for i in range(50)])
    elapsed = time.perf_counter() - started
    numbers = [r for r in results if isinstance(r, int)]
    failures = [r for r in results if not isinstance(r, int)]
    assert len(failures) == 5 and all(str(f) == "rolled back" for f in failures), failures
    assert sorted(numbers) == list(range(1001, 1046))  # 45 orders: no gap, no duplicate
    assert sorted(Order.objects.values_list("number", flat=True)) == list(range(1001, 1046))
    assert OrderNumberSequence.objects.get(organization=organization).last_number == 1045
    assert OrderEvent.objects.count() == 45
    # One support chat per customer even though their first orders raced to create it.
    assert Order.objects.values("chat").distinct().count() == len(customers)
    assert elapsed < 60


def test_first_orders_of_a_new_organization_race_to_create_the_sequence(organization):
    customers = [UserFactory(organization=organization, role=Role.CUSTOMER) for _ in range(10)]
    results = run_together(
        [lambda c=c: order_create(actor=c, title="First", items=WIDGETS).number for c in customers]
    )
    assert all(isinstance(r, int) for r in results), results
    assert sorted(results) == list(range(1001, 1011))
