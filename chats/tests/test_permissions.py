"""Every chat and message route, tried across organizations and roles: 404, nothing leaks,
nothing changes."""

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, Membership, Message
from chats.services import chat_group_create, message_send, support_chat_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(other_organization, other_customer, other_admin):
    """Another organization's support chat (with a message and a note) and group chat."""
    other_operator = UserFactory(organization=other_organization, role=Role.OPERATOR)
    chat, _ = support_chat_get_or_create(customer=other_customer)
    message = message_send(sender=other_customer, chat=chat, text="their secret").message
    note = message_send(sender=other_admin, chat=chat, text="their note", kind="note").message
    group = chat_group_create(
        actor=other_admin, name="Their team", participant_ids=[other_operator.pk]
    )
    return {"chat": chat, "message": message, "note": note, "group": group}


def routes(chat_id: int, message_id: int, user_id: int):
    return [
        ("get", f"/api/chats/{chat_id}", None),
        ("patch", f"/api/chats/{chat_id}", {"name": "x", "status": "closed"}),
        ("post", f"/api/chats/{chat_id}/participants", {"user_id": user_id}),
        ("delete", f"/api/chats/{chat_id}/participants/{user_id}", None),
        ("get", f"/api/chats/{chat_id}/messages", None),
        ("post", f"/api/chats/{chat_id}/messages", {"text": "intrusion"}),
        ("post", f"/api/chats/{chat_id}/read", {}),
        ("post", "/api/messages", {"chat_id": chat_id, "content": "intrusion"}),
        ("get", f"/api/messages/{message_id}", None),
        ("patch", f"/api/messages/{message_id}", {"text": "changed"}),
        ("delete", f"/api/messages/{message_id}", None),
    ]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR, Role.CUSTOMER])
def test_other_organizations_chats_and_messages_are_404(
    client_for, organization, other_admin, foreign, role
):
    me = UserFactory(organization=organization, role=role)
    client = client_for(me)
    before = (
        Message.objects.count(),
        list(Chat.objects.order_by("pk").values_list("name", "status")),
        list(Membership.objects.order_by("pk").values_list("user_id", "last_read_message_id")),
    )
    for chat_key in ("chat", "group"):
        for msg_key in ("message", "note"):
            for method, url, payload in routes(
                foreign[chat_key].pk, foreign[msg_key].pk, other_admin.pk
            ):
                response = getattr(client, method)(url, payload, format="json")
                assert response.status_code == 404, (method, url, response.status_code)
                assert "their" not in response.content.decode()
    after = (
        Message.objects.count(),
        list(Chat.objects.order_by("pk").values_list("name", "status")),
        list(Membership.objects.order_by("pk").values_list("user_id", "last_read_message_id")),
    )
    assert before == after
    Message.objects.get(pk=foreign["message"].pk, text="their secret", deleted_at=None)


def test_lists_counts_and_search_leak_nothing(client_for, admin_user, customer, foreign):
    for user in (admin_user, customer):
        client = client_for(user)
        assert client.get("/api/chats").json()["count"] == 0
        assert client.get("/api/unread/counts").json()["total"] == 0
        assert client.get("/api/messages/search", {"q": "their"}).json()["results"] == []
        response = client.get("/api/messages/search", {"q": "their", "chat_id": foreign["chat"].pk})
        assert response.json()["results"] == []
    assert client_for(admin_user).get("/api/unread/counts").json()["unassigned"] == 0


def test_other_organizations_inbox_filter_shows_nothing(client_for, operator, foreign):
    response = client_for(operator).get("/api/chats", {"inbox": foreign["chat"].inbox_id})
    assert response.status_code == 200 and response.json()["count"] == 0


def test_cannot_attach_other_organizations_media(client_for, customer, other_customer, support):
    from media.models import MediaFile

    theirs = MediaFile.objects.create(
        organization=other_customer.organization,
        uploader=other_customer,
        original_name="x.png",
        mime="image/png",
        kind="image",
        size=1,
        sha256="0" * 64,
    )
    response = client_for(customer).post(
        f"/api/chats/{support.pk}/messages",
        {"kind": "image", "attachment_ids": [theirs.pk]},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_attachments"


def test_customer_cannot_see_other_customers_chat(client_for, organization, customer, support):
    other = UserFactory(organization=organization, role=Role.CUSTOMER)
    client = client_for(other)
    for method, url, payload in routes(support.pk, 0, customer.pk):
        if "/messages/0" in url:
            continue
        response = getattr(client, method)(url, payload, format="json")
        assert response.status_code == 404, (method, url)


def test_customer_notes_are_hidden_everywhere(client_for, customer, operator, support, captured):
    note = message_send(sender=operator, chat=support, text="vip customer", kind="note").message
    client = client_for(customer)
    assert client.get(f"/api/messages/{note.pk}").status_code == 404
    assert client.get(f"/api/chats/{support.pk}").json()["last_message"] is None
    assert client.get(f"/api/chats/{support.pk}/messages").json()["results"] == []
    assert client.get("/api/messages/search", {"q": "vip"}).json()["results"] == []
    assert client.patch(f"/api/messages/{note.pk}", {"text": "x"}).status_code == 404
    assert client.delete(f"/api/messages/{note.pk}").status_code == 404
