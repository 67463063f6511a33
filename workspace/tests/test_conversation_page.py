"""The conversation page's server side: who may open it, what it renders, and a query count
that does not grow with the history."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatKind, ChatStatus
from chats.services import message_send
from chats.tests.factories import InboxFactory, internal_chat, support_chat
from media.services import media_upload
from media.tests import samples
from orders.services import order_create

pytestmark = pytest.mark.django_db


def url(chat) -> str:
    return f"/admin/inbox/{chat.pk}/"


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="conversation-data" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def fill(chat, customer, staff, count: int) -> None:
    for n in range(count):
        sender = customer if n % 2 == 0 else staff
        kind = "note" if n % 4 == 3 else "text"
        files = []
        if n % 3 == 0:
            files = media_upload(
                uploader=sender, files=[SimpleUploadedFile(f"p{n}.png", samples.png())], chat=chat
            )
        message_send(
            sender=sender,
            chat=chat,
            text=f"message {n}",
            kind=kind,
            attachment_ids=[f.pk for f in files],
        )


def test_staff_see_the_conversation_with_history_orders_and_earlier_chats(
    client, customer, operator
):
    chat = support_chat(customer)
    fill(chat, customer, operator, 6)
    order = order_create(actor=operator, title="Lamp", customer_id=customer.pk, chat_id=chat.pk)
    earlier = Chat.objects.create(
        organization=customer.organization,
        kind=ChatKind.SUPPORT,
        customer=customer,
        inbox=InboxFactory(organization=customer.organization, name="Telegram bot"),
        status=ChatStatus.CLOSED,
        subject="Old parcel",
    )
    client.force_login(operator)
    response = client.get(url(chat))
    assert response.status_code == 200
    html = response.content.decode()
    assert "workspace/conversation.js" in html and "workspace/conversation.css" in html
    for label in ("Take", "Assign", "Unassign", "Close", "Reopen", "Private note", "Suggestions"):
        assert f">{label}<" in html
    data = page_data(response)
    assert data["chat"]["id"] == chat.pk
    assert [m["text"] for m in data["messages"]][:6] == [f"message {n}" for n in range(6)]
    assert data["messages"][-1]["kind"] == "system"  # the order's line
    assert data["messages"][3]["kind"] == "note"  # staff see notes
    assert data["messages"][0]["attachments"][0]["thumbnail_url"]
    assert [o["id"] for o in data["orders"]] == [order.pk]
    assert data["orders"][0]["admin_url"] == f"/admin/orders/order/{order.pk}/change/"
    assert [c["id"] for c in data["earlier"]] == [earlier.pk]
    assert data["earlier"][0]["url"] == f"/admin/inbox/{earlier.pk}/"


def test_the_history_is_the_newest_page_with_a_cursor_for_older(client, customer, operator):
    chat = support_chat(customer)
    for n in range(55):
        message_send(sender=customer, chat=chat, text=f"m{n}")
    client.force_login(operator)
    data = page_data(client.get(url(chat)))
    assert len(data["messages"]) == 50 and data["has_more"] is True
    assert data["messages"][-1]["text"] == "m54" and data["messages"][0]["text"] == "m5"


def test_the_customers_read_receipt_is_on_the_page(client, customer, operator):
    from chats.services import chat_mark_read

    chat = support_chat(customer)
    reply = message_send(sender=operator, chat=chat, text="hi").message
    chat_mark_read(user=customer, chat=chat, up_to=reply.pk)
    client.force_login(operator)
    assert page_data(client.get(url(chat)))["customer_read_up_to"] == reply.pk


def count_queries(client, chat) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(chat)).status_code == 200
    return len(queries)


def test_queries_do_not_grow_with_the_history(client, customer, operator, organization):
    client.force_login(operator)
    small = support_chat(customer)
    fill(small, customer, operator, 5)
    other = UserFactory(organization=organization, role=Role.CUSTOMER)
    big = support_chat(other)
    fill(big, other, operator, 50)
    for who in (customer, other):
        order_create(actor=operator, title="Lamp", customer_id=who.pk)
    count_queries(client, small)  # warm caches (content types, session)
    few, many = count_queries(client, small), count_queries(client, big)
    assert few == many
    assert many <= 16, many
    print(f"conversation page: {many} queries for 5 and 50 messages")  # noqa: T201 (reported)


def test_customers_are_sent_to_the_login(client, customer):
    chat = support_chat(customer)
    client.force_login(customer)
    response = client.get(url(chat))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_another_organizations_chat_is_not_found(client, operator, other_customer):
    chat = support_chat(other_customer)
    message_send(sender=other_customer, chat=chat, text="secret")
    client.force_login(operator)
    response = client.get(url(chat))
    assert response.status_code == 404
    assert "secret" not in response.content.decode()


def test_an_internal_chat_the_user_is_not_in_is_not_found(
    client, operator, admin_user, organization
):
    other = UserFactory(organization=organization, role=Role.OPERATOR)
    chat = internal_chat(ChatKind.GROUP, [admin_user, other], name="Managers")
    client.force_login(operator)
    assert client.get(url(chat)).status_code == 404
    client.force_login(admin_user)
    assert client.get(url(chat)).status_code == 200


def test_an_unknown_chat_is_not_found(client, operator):
    client.force_login(operator)
    assert client.get("/admin/inbox/999999/").status_code == 404
