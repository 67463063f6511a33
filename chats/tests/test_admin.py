"""Back office: chats and messages scoped to the organization, filters, inline history, no N+1."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from chats.admin import INLINE_MESSAGES
from chats.models import Chat, Inbox, Message
from chats.services import message_send, support_chat_get_or_create
from chats.tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client):
    def make(user):
        assert client.login(username=user.email, password=DEFAULT_PASSWORD)
        return client

    return make


def _chats(n, organization, assignee):
    for _ in range(n):
        customer = UserFactory(organization=organization, role=Role.CUSTOMER)
        chat, _ = support_chat_get_or_create(customer=customer)
        Chat.objects.filter(pk=chat.pk).update(assignee=assignee)
        message_send(sender=customer, chat=chat, text="hi")


def _changelist_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_chat_changelist_queries_do_not_grow(admin_client_for, organization, admin_user, operator):
    client = admin_client_for(admin_user)
    _chats(5, organization, operator)
    small = _changelist_queries(client, "/admin/chats/chat/")
    _chats(45, organization, operator)
    large = _changelist_queries(client, "/admin/chats/chat/")
    assert small == large
    small_messages = _changelist_queries(client, "/admin/chats/message/")
    _chats(20, organization, operator)
    assert _changelist_queries(client, "/admin/chats/message/") == small_messages


def test_chat_changelist_scoped_with_filters(
    admin_client_for, organization, admin_user, operator, customer, other_customer, other_admin
):
    mine, _ = support_chat_get_or_create(customer=customer)
    theirs, _ = support_chat_get_or_create(customer=other_customer)
    Chat.objects.filter(pk=mine.pk).update(assignee=operator)
    Chat.objects.filter(pk=theirs.pk).update(assignee=other_admin)
    InboxFactory(organization=other_admin.organization, name="Their secret inbox")
    client = admin_client_for(admin_user)
    content = client.get("/admin/chats/chat/").content.decode()
    assert f"/admin/chats/chat/{mine.pk}/change/" in content
    assert f"/admin/chats/chat/{theirs.pk}/change/" not in content
    assert str(other_customer) not in content and str(other_admin) not in content
    assert "Their secret inbox" not in content
    for query in (
        "kind__exact=support",
        "status__exact=open",
        "priority__exact=normal",
        f"assignee__id__exact={operator.pk}",
        f"inbox__id__exact={mine.inbox_id}",
        "unread=yes",
    ):
        response = client.get(f"/admin/chats/chat/?{query}")
        assert response.status_code == 200, query
    response = client.get(f"/admin/chats/chat/?assignee__id__exact={operator.pk}")
    assert f"/admin/chats/chat/{mine.pk}/change/" in response.content.decode()
    assert client.get(f"/admin/chats/chat/{theirs.pk}/change/").status_code == 302


def test_internal_chats_of_others_are_not_listed(
    admin_client_for, organization, admin_user, operator, senior_operator
):
    from chats.services import chat_group_create

    chat_group_create(actor=operator, name="Private pair", participant_ids=[senior_operator.pk])
    content = admin_client_for(admin_user).get("/admin/chats/chat/").content.decode()
    assert "Private pair" not in content


def test_change_page_escapes_text_and_shows_newest_messages(admin_client_for, admin_user, customer):
    chat, _ = support_chat_get_or_create(customer=customer)
    for i in range(INLINE_MESSAGES + 5):
        message_send(sender=customer, chat=chat, text=f"msg-{i:03d}")
    message_send(sender=customer, chat=chat, text="<script>alert(1)</script>")
    content = admin_client_for(admin_user).get(f"/admin/chats/chat/{chat.pk}/change/").content
    content = content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>alert(1)</script>" not in content
    assert "msg-000" not in content and f"msg-{INLINE_MESSAGES + 4:03d}" in content


def test_message_changelist_scoped_and_soft_delete(
    admin_client_for, admin_user, customer, other_customer
):
    chat, _ = support_chat_get_or_create(customer=customer)
    mine = message_send(sender=customer, chat=chat, text="ours").message
    other_chat, _ = support_chat_get_or_create(customer=other_customer)
    message_send(sender=other_customer, chat=other_chat, text="theirs-private")
    client = admin_client_for(admin_user)
    content = client.get("/admin/chats/message/").content.decode()
    assert "ours" in content and "theirs-private" not in content
    response = client.post(
        "/admin/chats/message/",
        {"action": "soft_delete", "_selected_action": [mine.pk]},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.deleted_at is not None


def test_inbox_secrets_are_write_only(admin_client_for, organization, admin_user):
    inbox = Inbox.objects.create(
        organization=organization,
        kind="telegram",
        name="TG",
        bot_token="123456789:AASECRET-0123456789abcdefgh",
    )
    client = admin_client_for(admin_user)
    page = client.get(f"/admin/chats/inbox/{inbox.pk}/change/").content.decode()
    assert "123456789:AASECRET-0123456789abcdefgh" not in page
    response = client.post(
        f"/admin/chats/inbox/{inbox.pk}/change/",
        {"name": "TG bot", "kind": "telegram", "auto_assign": "on", "is_active": "on"},
    )
    assert response.status_code == 302
    inbox.refresh_from_db()
    assert inbox.name == "TG bot" and inbox.bot_token == "123456789:AASECRET-0123456789abcdefgh"


def test_operator_can_view_chats(admin_client_for, operator, customer):
    chat, _ = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="hello")
    client = admin_client_for(operator)
    assert client.get("/admin/chats/chat/").status_code == 200
    assert client.get(f"/admin/chats/chat/{chat.pk}/change/").status_code == 200
    assert Message.objects.count() == 1
