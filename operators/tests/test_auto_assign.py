"""The auto-assignment queue: who gets a chat, capacity, the backlog and its order, fairness."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatStatus, Priority
from chats.services import message_send
from chats.tests.factories import InboxFactory
from operators import selectors, services, tasks
from operators.models import AuditEvent, Availability, OperatorProfile
from operators.tests.factories import OperatorProfileFactory, customer_chat, online_operator

pytestmark = pytest.mark.django_db


def loads(*users) -> list[int]:
    return [
        Chat.objects.filter(assignee=u, status=ChatStatus.OPEN, kind="support").count()
        for u in users
    ]


def test_new_chat_goes_to_the_least_busy_online_operator(organization):
    busy = online_operator(organization)
    idle = online_operator(organization)
    offline = UserFactory(organization=organization, role=Role.OPERATOR)
    OperatorProfileFactory(user=offline, availability=Availability.OFFLINE)
    first = customer_chat(organization)
    second = customer_chat(organization)
    third = customer_chat(organization)
    assert {first.assignee_id, second.assignee_id} == {busy.pk, idle.pk}
    assert third.assignee_id in {busy.pk, idle.pk}
    fourth = customer_chat(organization)
    assert fourth.assignee_id != third.assignee_id  # the other one had fewer open chats
    assert loads(busy, idle, offline) == [2, 2, 0]
    row = AuditEvent.objects.get(verb="chat.auto_assigned", target_id=str(fourth.pk))
    assert row.actor is None and row.data == {"from": None, "to": fourth.assignee_id}


def test_ties_go_to_the_operator_assigned_longest_ago(organization):
    now = timezone.now()
    recent = online_operator(organization)
    long_ago = online_operator(organization)
    OperatorProfile.objects.filter(user=recent).update(last_assigned_at=now)
    OperatorProfile.objects.filter(user=long_ago).update(last_assigned_at=now - timedelta(hours=1))
    never = online_operator(organization)
    assert customer_chat(organization).assignee_id == never.pk
    assert customer_chat(organization).assignee_id == long_ago.pk
    assert customer_chat(organization).assignee_id == recent.pk


def test_only_online_active_operators_below_capacity_get_chats(organization, admin_user):
    OperatorProfileFactory(user=admin_user, availability=Availability.ONLINE)  # admins: by hand
    away = UserFactory(organization=organization, role=Role.OPERATOR)
    OperatorProfileFactory(user=away, availability=Availability.AWAY)
    gone = online_operator(organization, is_active=False)
    senior = online_operator(organization, role=Role.SENIOR_OPERATOR, capacity=2)
    chats = [customer_chat(organization) for _ in range(3)]
    assert [c.assignee_id for c in chats] == [senior.pk, senior.pk, None]
    assert loads(admin_user, away, gone) == [0, 0, 0]
    assert chats[2].status == ChatStatus.OPEN  # waits in the backlog


def test_operator_disconnected_past_grace_gets_nothing_before_the_sweep(organization, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    dropped = online_operator(organization)
    flaky = online_operator(organization)
    OperatorProfile.objects.filter(user=dropped).update(
        disconnected_at=timezone.now() - timedelta(seconds=61)
    )
    OperatorProfile.objects.filter(user=flaky).update(
        disconnected_at=timezone.now() - timedelta(seconds=5)
    )
    assert [customer_chat(organization).assignee_id for _ in range(2)] == [flaky.pk, flaky.pk]


def test_backlog_drains_by_priority_then_age_when_an_operator_comes_online(
    organization, captured, django_capture_on_commit_callbacks
):
    normal_old = customer_chat(organization)
    urgent = customer_chat(organization, priority=Priority.URGENT)
    high = customer_chat(organization, priority=Priority.HIGH)
    normal_new = customer_chat(organization)
    assert not Chat.objects.filter(assignee__isnull=False).exists()
    operator = UserFactory(organization=organization, role=Role.OPERATOR)
    OperatorProfileFactory(user=operator, availability=Availability.OFFLINE, capacity=3)

    with django_capture_on_commit_callbacks(execute=True):
        services.operator_availability_set(user=operator, availability="online")

    assigned = set(Chat.objects.filter(assignee=operator).values_list("pk", flat=True))
    assert assigned == {urgent.pk, high.pk, normal_old.pk}
    assert Chat.objects.get(pk=normal_new.pk).assignee_id is None
    statuses = [d for t, d, g in captured if t == "operator:status"]
    assert statuses == [{"user_id": operator.pk, "availability": "online"}]


def test_closing_frees_room_for_the_backlog(organization, admin_user):
    operator = online_operator(organization, capacity=1)
    first = customer_chat(organization)
    waiting = customer_chat(organization)
    assert (first.assignee_id, waiting.assignee_id) == (operator.pk, None)
    services.chat_close(actor=operator, chat=first)
    waiting.refresh_from_db()
    assert waiting.assignee_id == operator.pk
    # Parking a chat as pending frees room too.
    third = customer_chat(organization)
    services.chat_update_support_fields(actor=admin_user, chat=waiting, status="pending")
    assert Chat.objects.get(pk=third.pk).assignee_id == operator.pk


def test_unassigned_chat_goes_to_someone_else(organization, senior_operator):
    first_op = online_operator(organization, capacity=1)
    chat = customer_chat(organization)
    assert chat.assignee_id == first_op.pk
    second_op = online_operator(organization, capacity=1)
    chat = services.chat_unassign(actor=senior_operator, chat=chat)
    assert chat.assignee_id == second_op.pk
    other = customer_chat(organization)
    assert other.assignee_id == first_op.pk
    # With nobody else free it waits, rather than going straight back.
    other = services.chat_unassign(actor=first_op, chat=other)
    assert other.assignee_id is None
    assert loads(first_op, second_op) == [0, 1]


def test_raising_capacity_drains_the_backlog(organization, admin_user):
    operator = online_operator(organization, capacity=1)
    chats = [customer_chat(organization) for _ in range(3)]
    assert [c.assignee_id for c in chats] == [operator.pk, None, None]
    services.operator_profile_update(actor=admin_user, user_id=operator.pk, capacity=2)
    assert loads(operator) == [2]
    services.operator_profile_update(actor=admin_user, user_id=operator.pk, capacity=1)
    assert loads(operator) == [2]  # lowering never takes chats away


def test_inbox_without_auto_assign_keeps_chats_waiting(organization):
    manual = InboxFactory(organization=organization, auto_assign=False)
    operator = online_operator(organization)
    chat = customer_chat(organization, inbox=manual)
    assert chat.assignee_id is None
    services.backlog_drain(organization=organization)
    assert loads(operator) == [0]


def test_reopened_chat_keeps_an_available_assignee(organization, customer):
    operator = online_operator(organization)
    online_operator(organization)
    chat = customer_chat(organization)
    first = chat.assignee_id
    services.chat_close(actor=operator, chat=chat)
    message_send(sender=chat.customer, chat=chat, text="one more thing")
    chat.refresh_from_db()
    assert chat.status == ChatStatus.OPEN and chat.assignee_id == first


def test_reopened_chat_of_an_offline_assignee_goes_back_to_the_queue(organization, admin_user):
    leaving = online_operator(organization)
    chat = customer_chat(organization)
    assert chat.assignee_id == leaving.pk
    services.chat_close(actor=leaving, chat=chat)
    services.operator_availability_set(user=leaving, availability="offline")
    staying = online_operator(organization)
    chat = services.chat_reopen(actor=admin_user, chat=chat)
    assert chat.assignee_id == staying.pk
    verbs = list(
        AuditEvent.objects.filter(target_id=str(chat.pk)).order_by("id").values_list("verb", "data")
    )
    assert verbs[-3:] == [
        ("chat.reopened", {"from": "closed", "to": "open"}),
        ("chat.unassigned", {"from": leaving.pk, "to": None, "reason": "assignee_unavailable"}),
        ("chat.auto_assigned", {"from": None, "to": staying.pk}),
    ]


@pytest.mark.parametrize(
    ("capacities", "expected"),
    [((30, 30, 30, 30), [25, 25, 25, 25]), ((10, 40, 40, 40), [10, 30, 30, 30])],
)
def test_hundred_chats_over_four_operators_are_balanced(organization, capacities, expected):
    operators = [online_operator(organization, capacity=c) for c in capacities]
    for _ in range(100):
        customer_chat(organization)
        below = [
            n
            for n, op in zip(loads(*operators), operators, strict=True)
            if n < op.operator_profile.capacity
        ]
        assert max(below, default=0) - min(below, default=0) <= 1
    assert loads(*operators) == expected


def test_more_chats_than_room_wait_and_fill_in_as_room_appears(organization, senior_operator):
    operators = [online_operator(organization, capacity=c) for c in (1, 2)]
    chats = [customer_chat(organization) for _ in range(5)]
    assert sum(c.assignee_id is not None for c in chats) == 3
    services.operator_profile_update(actor=senior_operator, user_id=operators[0].pk, capacity=3)
    assert loads(*operators) == [3, 2]
    assert not Chat.objects.filter(assignee__isnull=True).exists()


def test_backlog_order_and_scope(organization, other_organization):
    normal = customer_chat(organization)
    urgent_new = customer_chat(organization, priority=Priority.URGENT)
    urgent_old = customer_chat(organization, priority=Priority.URGENT)
    Chat.objects.filter(pk=urgent_old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    low = customer_chat(organization, priority=Priority.LOW)
    customer_chat(organization, status=ChatStatus.PENDING)  # waits on the customer
    customer_chat(other_organization)
    manual = customer_chat(organization, inbox=InboxFactory(organization=organization,
                                                            auto_assign=False))  # fmt: skip
    order = list(selectors.backlog_of(organization=organization).values_list("pk", flat=True))
    assert order == [urgent_old.pk, urgent_new.pk, normal.pk, low.pk]
    assert manual.pk not in order
    assert sorted(selectors.organizations_with_backlog()) == sorted(
        [organization.pk, other_organization.pk]
    )


def test_periodic_drain_fills_room_that_appeared_without_a_trigger(
    organization, other_organization
):
    ours = online_operator(organization, capacity=0)
    theirs = online_operator(other_organization, capacity=0)
    waiting = [customer_chat(organization), customer_chat(other_organization)]
    assert all(c.assignee_id is None for c in waiting)
    OperatorProfile.objects.update(capacity=1)  # e.g. a bulk change outside the services
    assert tasks.operators_backlog_drain() == 2
    assert tasks.operators_backlog_drain() == 0  # idempotent
    assert loads(ours, theirs) == [1, 1]
