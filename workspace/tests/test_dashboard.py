"""The dashboard on the admin index: its numbers, its waiting list, and the admin's app list
still below it for the people allowed to see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatStatus
from operators.models import Availability, OperatorProfile
from operators.services import chat_assign
from workspace.selectors import dashboard_numbers
from workspace.tests.test_inbox import _chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(organization, other_organization, admin_user, operator, senior_operator):
    """Mine: 2 open + 1 pending; the operator's: 1 open; unassigned: 2 (one pending); 1 closed;
    and noise in another organization."""
    chats = [_chat(organization, name=f"Customer {i}") for i in range(7)]
    for chat in chats[:3]:
        chat_assign(actor=admin_user, chat=chat, operator_id=admin_user.pk)
    chat_assign(actor=admin_user, chat=chats[3], operator_id=operator.pk)
    Chat.objects.filter(pk__in=[chats[2].pk, chats[5].pk]).update(status=ChatStatus.PENDING)
    Chat.objects.filter(pk=chats[6].pk).update(status=ChatStatus.CLOSED)
    for _ in range(3):
        _chat(other_organization, name="Elsewhere")
    OperatorProfile.objects.update_or_create(
        user=operator, defaults={"availability": Availability.ONLINE}
    )
    OperatorProfile.objects.update_or_create(
        user=senior_operator, defaults={"availability": Availability.AWAY}
    )
    other_staff = UserFactory(organization=other_organization, role=Role.OPERATOR)
    OperatorProfile.objects.update_or_create(
        user=other_staff, defaults={"availability": Availability.ONLINE}
    )
    # First responses today: 30 s, 90 s, 600 s (median 90 s); one yesterday does not count.
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    for chat, seconds, at in [
        (chats[0], 30, now),
        (chats[1], 90, now),
        (chats[3], 600, now),
        (chats[4], 5, today - timedelta(hours=2)),
    ]:
        Chat.objects.filter(pk=chat.pk).update(
            created_at=at - timedelta(seconds=seconds), first_response_at=at
        )
    return chats


def test_the_numbers_are_right(board, admin_user):
    numbers = dashboard_numbers(admin_user)
    assert numbers.my_open == 2
    assert numbers.unassigned == 2
    assert numbers.pending == 2
    assert numbers.operators_online == 1
    assert numbers.operators_total == 3
    assert numbers.first_response.count == 3
    assert numbers.first_response.median_seconds == pytest.approx(90, abs=0.5)


def test_the_admin_index_shows_the_dashboard_above_the_app_list(client, board, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.text
    assert 'data-number="my_open">2<' in html
    assert 'data-number="unassigned">2<' in html
    assert 'data-number="pending">2<' in html
    assert 'data-number="operators_online">1<' in html
    assert 'data-number="first_response">1m 30s<' in html
    # The newest waiting chats, linked to their conversation pages.
    waiting = [c for c in board if c.assignee_id is None and c.status != ChatStatus.CLOSED]
    for chat in Chat.objects.filter(pk__in=[c.pk for c in board[4:6]]):
        assert f"/admin/inbox/{chat.pk}/" in html
    assert waiting
    # The admin's own app list is still there, below.
    assert html.index('id="dashboard-cards"') < html.index('class="app-chats module')
    assert "/admin/orders/order/" in html
    assert "workspace/dashboard.js" in html and "workspace/notify.js" in html


def test_the_app_list_keeps_to_the_users_permissions(client, board, operator):
    client.force_login(operator)
    html = client.get("/admin/").text
    assert 'id="dashboard-cards"' in html
    # Operators do not manage organizations.
    assert "/admin/accounts/organization/" not in html


def test_numbers_endpoint_is_for_staff_only(client, board, admin_user, customer):
    assert client.get("/admin/dashboard/numbers/").status_code == 302
    client.force_login(customer)
    assert client.get("/admin/dashboard/numbers/").status_code == 302
    assert client.get("/admin/").status_code == 302
    client.force_login(admin_user)
    data = client.get("/admin/dashboard/numbers/").json()
    assert data == {
        "my_open": 2,
        "unassigned": 2,
        "pending": 2,
        "operators_online": 1,
        "operators_total": 3,
        "first_response_seconds": pytest.approx(90, abs=0.5),
        "first_response": "1m 30s",
        "first_response_count": 3,
    }


def test_the_dashboard_costs_the_same_queries_for_5_and_50_chats(
    client, organization, admin_user, operator, django_assert_num_queries
):
    from workspace.tests.test_inbox import _fill, _queries

    client.force_login(admin_user)
    _fill(5, organization, admin_user, operator)
    Chat.objects.update(assignee=None)
    small = _queries(client, "/admin/")
    _fill(45, organization, admin_user, operator)
    Chat.objects.filter(pk__in=Chat.objects.order_by("-id").values("pk")[:20]).update(assignee=None)
    assert "/admin/inbox/" in client.get("/admin/").text
    with django_assert_num_queries(small):
        client.get("/admin/")
    assert small <= 14, small
