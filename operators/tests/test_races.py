"""Concurrency on PostgreSQL: real threads, real row locks."""

import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat
from chats.services import support_chat_get_or_create
from crm.errors import Conflict
from operators import services
from operators.models import Availability, OperatorProfile
from operators.tests.factories import OperatorProfileFactory, customer_chat, online_operator

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_together(jobs: list[Callable[[], object]]) -> list[object]:
    """Start every job at the same instant, each on its own thread and connection; returns
    each one's result or the exception it raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    close_old_connections()
    return results


def test_two_operators_taking_at_once_one_wins(organization):
    takers = [UserFactory(organization=organization, role=Role.OPERATOR) for _ in range(3)]
    for _ in range(10):
        chat = customer_chat(organization)
        results = run_together(
            [lambda op=op, chat=chat: services.chat_take(actor=op, chat=chat) for op in takers]
        )
        winners = [r for r in results if isinstance(r, Chat)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 2, results
        assert {e.code for e in losers} == {"chat_already_assigned"}
        chat.refresh_from_db()
        assert chat.assignee_id == winners[0].assignee_id


def test_concurrent_new_chats_never_exceed_capacity(organization):
    operators = [online_operator(organization, capacity=c) for c in (2, 3)]
    customers = [UserFactory(organization=organization) for _ in range(12)]
    results = run_together(
        [lambda c=c: support_chat_get_or_create(customer=c)[0] for c in customers]
    )
    assert all(isinstance(r, Chat) for r in results), results
    loads = [Chat.objects.filter(assignee=op, status="open").count() for op in operators]
    assert loads == [2, 3]
    assert Chat.objects.filter(assignee__isnull=True).count() == 7


def test_going_online_while_chats_arrive_assigns_each_chat_once(organization):
    waiting = [customer_chat(organization) for _ in range(6)]
    assert not Chat.objects.filter(assignee__isnull=False).exists()
    operators = [UserFactory(organization=organization, role=Role.OPERATOR) for _ in range(3)]
    for op in operators:
        OperatorProfileFactory(user=op, availability=Availability.OFFLINE, capacity=3)
    newcomers = [UserFactory(organization=organization) for _ in range(4)]
    jobs = [
        lambda op=op: services.operator_availability_set(user=op, availability="online")
        for op in operators
    ] + [lambda c=c: support_chat_get_or_create(customer=c)[0] for c in newcomers]
    results = run_together(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    loads = sorted(Chat.objects.filter(assignee=op).count() for op in operators)
    assert loads == [3, 3, 3]  # 10 chats, room for 9: nobody over capacity, nobody idle
    assert Chat.objects.filter(assignee__isnull=True).count() == 1
    assert len(waiting) == 6
    assert OperatorProfile.objects.filter(availability="online").count() == 3
