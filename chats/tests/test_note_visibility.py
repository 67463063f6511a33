"""A note is invisible to the customer, and so is the moment it was written: their chat list's
order, ``last_message_at`` and ``last_activity_at`` follow only what they may read."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Inbox
from chats.services import message_send
from chats.tests.factories import support_chat

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _listing(client) -> list[dict]:
    response = client.get("/api/chats")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_note_does_not_move_the_customers_chat(organization, customer, operator, captured):
    older = support_chat(customer)
    message_send(sender=customer, chat=older, text="first question", kind="text")
    time.sleep(0.01)
    other_inbox = Inbox.objects.create(organization=organization, kind="api", name="Second")
    newer = support_chat(customer, inbox=other_inbox)
    message_send(sender=customer, chat=newer, text="second question", kind="text")
    client = _client(customer)
    before = _listing(client)
    assert [c["id"] for c in before] == [newer.id, older.id]
    detail_before = client.get(f"/api/chats/{older.id}").json()

    time.sleep(0.01)
    captured.clear()
    response = _client(operator).post(
        f"/api/chats/{older.id}/messages", {"text": "VIP, be nice", "kind": "note"}, format="json"
    )
    assert response.status_code == 201, response.content

    after = _listing(client)
    assert [c["id"] for c in after] == [newer.id, older.id]
    assert after == before
    detail_after = client.get(f"/api/chats/{older.id}").json()
    for field in ("last_message_at", "last_activity_at", "last_message"):
        assert detail_after[field] == detail_before[field]
    customer_groups = {f"user:{customer.id}", f"user.{customer.id}"}
    for _type, _data, groups in captured:
        assert not customer_groups & set(groups), (_type, groups)

    # Staff see the note move the chat.
    staff = _listing(_client(operator))
    assert staff[0]["id"] == older.id
    assert staff[0]["last_message"]["kind"] == "note"


def test_a_public_reply_still_moves_the_customers_chat(organization, customer, operator):
    older = support_chat(customer)
    message_send(sender=customer, chat=older, text="first", kind="text")
    other_inbox = Inbox.objects.create(organization=organization, kind="api", name="Second")
    newer = support_chat(customer, inbox=other_inbox)
    message_send(sender=customer, chat=newer, text="second", kind="text")
    time.sleep(0.01)
    message_send(sender=operator, chat=older, text="Hello!", kind="text")
    listing = _listing(_client(customer))
    assert [c["id"] for c in listing] == [older.id, newer.id]
    assert listing[0]["last_message_at"] == listing[0]["last_message"]["created_at"]


def test_customer_in_another_organization_sees_nothing(other_organization, customer):
    chat = support_chat(customer)
    stranger = UserFactory(organization=other_organization, role=Role.CUSTOMER)
    assert _client(stranger).get(f"/api/chats/{chat.id}").status_code == 404
