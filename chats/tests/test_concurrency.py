"""Races on PostgreSQL with real threads: idempotent sends, one support chat per customer, one
direct chat per pair, and unread counts that equal the recount after hundreds of concurrent
sends and reads."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatKind, Membership, Message
from chats.services import (
    chat_direct_get_or_create,
    chat_group_create,
    chat_mark_read,
    message_delete,
    message_send,
    support_chat_get_or_create,
    unread_counts_rebuild,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_together(n: int, fn):
    """Run ``fn(i)`` in ``n`` threads released at the same moment; returns results or raises
    the first error."""
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result() for f in [pool.submit(worker, i) for i in range(n)]]


@pytest.fixture
def loose_limits(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "messages_user": "100000/min"}


def test_racing_identical_sends_make_one_message(customer, loose_limits):
    chat, _ = support_chat_get_or_create(customer=customer)
    results = run_together(
        8, lambda i: message_send(sender=customer, chat=chat, text="once", client_id="dup-1")
    )
    assert len({r.message.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Message.objects.filter(chat=chat).count() == 1


def test_database_refuses_a_duplicate_client_id(customer):
    chat, _ = support_chat_get_or_create(customer=customer)
    Message.objects.create(chat=chat, sender=customer, text="a", client_id="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(chat=chat, sender=customer, text="b", client_id="k")


def test_racing_first_calls_make_one_support_chat(customer):
    results = run_together(8, lambda i: support_chat_get_or_create(customer=customer))
    assert len({chat.pk for chat, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Chat.objects.filter(customer=customer).count() == 1
    assert Membership.objects.filter(user=customer).count() == 1


def test_racing_direct_chats_make_one(operator, admin_user):
    pair = [(operator, admin_user), (admin_user, operator)]
    results = run_together(
        6, lambda i: chat_direct_get_or_create(actor=pair[i % 2][0], other_id=pair[i % 2][1].pk)
    )
    assert len({chat.pk for chat, _ in results}) == 1
    assert Chat.objects.filter(kind=ChatKind.DIRECT).count() == 1


def _recount(membership: Membership) -> int:
    user = membership.user
    n = 0
    for message in Message.objects.filter(chat_id=membership.chat_id):
        if (
            message.pk > membership.last_read_message_id
            and message.deleted_at is None
            and message.kind != "system"
            and message.sender_id != user.pk
            and (user.is_staff or not message.staff_only)
        ):
            n += 1
    return n


def test_unread_counts_exact_after_concurrent_sends_and_reads(
    organization, customer, operator, admin_user, senior_operator, loose_limits
):
    second_customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    support, _ = support_chat_get_or_create(customer=customer)
    support_two, _ = support_chat_get_or_create(customer=second_customer)
    group = chat_group_create(
        actor=operator, name="Ops", participant_ids=[admin_user.pk, senior_operator.pk]
    )
    staff = [operator, admin_user, senior_operator]
    plans = []
    rng = random.Random(20251121)
    for i in range(200):
        chat = rng.choice([support, support_two, group])
        people = staff if chat is group else [*staff, chat.customer]
        who = rng.choice(people)
        action = rng.choices(["send", "note", "read", "read_up_to", "delete"], [8, 2, 4, 2, 1])[0]
        if action == "note" and not who.is_staff:
            action = "send"
        plans.append((i, chat, who, action))

    def step(i: int):
        _, chat, who, action = plans[i]
        if action in ("send", "note"):
            message_send(
                sender=who, chat=chat, text=f"m{i}", kind="note" if action == "note" else "text"
            )
        elif action == "read":
            chat_mark_read(user=who, chat=chat)
        elif action == "read_up_to":
            newest = Message.objects.filter(chat=chat).order_by("-id").first()
            if newest is not None:
                chat_mark_read(user=who, chat=chat, up_to=newest.pk - 2)
        else:
            mine = Message.objects.filter(chat=chat, sender=who, deleted_at=None).last()
            if mine is not None:
                message_delete(actor=who, message=mine)

    def worker(start: int):
        try:
            for i in range(start, 200, 8):
                step(i)
        finally:
            connection.close()

    barrier = threading.Barrier(8)

    def gated(start: int):
        barrier.wait(timeout=10)
        worker(start)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(gated, s) for s in range(8)]:
            future.result()

    sends = sum(1 for _, _, _, a in plans if a in ("send", "note"))
    assert Message.objects.count() == sends
    rows = list(Membership.objects.select_related("user"))
    assert len(rows) >= 3 + 2 * 4
    mismatches = [(r.chat_id, r.user_id, r.unread_count, _recount(r)) for r in rows]
    mismatches = [m for m in mismatches if m[2] != m[3]]
    assert mismatches == []
    assert any(r.unread_count > 0 for r in rows)  # the test exercised real counts
    assert unread_counts_rebuild() == 0
    # Ids grow in commit order within each chat: every message's id is above the one before.
    for chat in (support, support_two, group):
        created = list(
            Message.objects.filter(chat=chat).order_by("id").values_list("created_at", flat=True)
        )
        assert created == sorted(created)
