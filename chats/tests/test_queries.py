"""Query-count budgets: the chat list, a chat, and a history page cost the same number of
queries for 5 items as for 50."""

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.services import chat_group_create, message_send, support_chat_get_or_create
from media.models import MediaFile

pytestmark = pytest.mark.django_db

# auth user, count, page, participants of the page's internal chats, attachments of the
# page's last messages
CHAT_LIST_QUERIES = 5
# auth user, the chat, the messages, their attachments
HISTORY_QUERIES = 4
# auth user, the unread rows, the unassigned count
UNREAD_COUNTS_QUERIES = 3


def _media(user) -> MediaFile:
    return MediaFile.objects.create(
        organization=user.organization,
        uploader=user,
        original_name="p.png",
        mime="image/png",
        kind="image",
        size=1,
        sha256="0" * 64,
    )


def _make_chats(n: int, organization, operator, admin_user) -> None:
    for i in range(n):
        if i % 2:
            customer = UserFactory(organization=organization, role=Role.CUSTOMER)
            chat, _ = support_chat_get_or_create(customer=customer)
            message_send(
                sender=customer, chat=chat, kind="image", attachment_ids=[_media(customer).pk]
            )
        else:
            chat = chat_group_create(actor=admin_user, name=f"g{i}", participant_ids=[operator.pk])
            message_send(sender=admin_user, chat=chat, text=f"hello {i}")


@pytest.mark.parametrize("n", [5, 50])
def test_chat_list_budget(
    client_for, organization, operator, admin_user, n, django_assert_num_queries
):
    _make_chats(n, organization, operator, admin_user)
    client = client_for(operator)
    with django_assert_num_queries(CHAT_LIST_QUERIES):
        response = client.get("/api/chats", {"page_size": 50})
    assert response.status_code == 200 and len(response.json()["results"]) == n
    assert all(c["unread_count"] == 1 for c in response.json()["results"])
    with django_assert_num_queries(CHAT_LIST_QUERIES):
        response = client.get("/api/chats", {"unread": "true", "q": "g", "page_size": 50})
    assert response.status_code == 200


@pytest.mark.parametrize("n", [5, 50])
def test_customer_chat_list_budget(client_for, organization, n, django_assert_num_queries):
    customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    chat, _ = support_chat_get_or_create(customer=customer)
    for _ in range(n):
        message_send(sender=customer, chat=chat, text="hi")
    client = client_for(customer)
    with django_assert_num_queries(CHAT_LIST_QUERIES):
        response = client.get("/api/chats")
    assert response.json()["count"] == 1


@pytest.mark.parametrize("n", [5, 50])
def test_history_budget(client_for, customer, operator, support, n, django_assert_num_queries):
    for i in range(n):
        sender = customer if i % 2 else operator
        message_send(sender=sender, chat=support, kind="image", attachment_ids=[_media(sender).pk])
    client = client_for(operator)
    with django_assert_num_queries(HISTORY_QUERIES):
        response = client.get(f"/api/chats/{support.pk}/messages", {"limit": 50})
    assert len(response.json()["results"]) == n
    assert all(len(m["attachments"]) == 1 for m in response.json()["results"])


@pytest.mark.parametrize("n", [5, 50])
def test_unread_counts_budget(
    client_for, organization, operator, admin_user, n, django_assert_num_queries
):
    _make_chats(n, organization, operator, admin_user)
    client = client_for(operator)
    with django_assert_num_queries(UNREAD_COUNTS_QUERIES):
        response = client.get("/api/unread/counts")
    assert response.json()["total"] == n
