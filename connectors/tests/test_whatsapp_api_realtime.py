"""WhatsApp and the API channel with the real-time side: inbound reaches a staff WebSocket,
a reply over the WebSocket outside the window is refused like over HTTP, and copies of one
delivery racing on PostgreSQL store one message."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from chats.models import ChannelIdentity, Chat, Message
from chats.tests.realtime_fixtures import *  # noqa: F403 (ws, fresh_layer)
from chats.tests.realtime_fixtures import receive_type, request, sync
from connectors.conftest import WA_SECRET, wa_message, wa_payload
from connectors.models import WebhookUpdate
from connectors.tests.test_end_to_end import _race
from connectors.whatsapp import signature_of

pytestmark = pytest.mark.django_db(transaction=True)


def _post_wa(inbox_id: int, payload: dict) -> int:
    body = json.dumps(payload).encode()
    return (
        Client()
        .post(
            f"/api/webhooks/whatsapp/{inbox_id}",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_of(body, WA_SECRET),
        )
        .status_code
    )


def _post_api(inbox, payload: dict):
    return Client().post(
        f"/api/webhooks/api/{inbox.pk}",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {inbox.token}",
    )


async def test_whatsapp_inbound_reaches_staff_and_a_closed_window_refuses_a_ws_reply(
    ws, graph, operator, admin_user, whatsapp_inbox_for
):
    inbox = await sync(whatsapp_inbox_for)(admin_user)
    staff = await ws(operator)
    assert await sync(_post_wa)(inbox.pk, wa_payload(wa_message(text="Olá"))) == 200
    frame = await receive_type(staff, "message:new", wait=5)
    assert frame["data"]["text"] == "Olá"
    chat_id = frame["data"]["chat_id"]
    await sync(
        lambda: Chat.objects.filter(pk=chat_id).update(
            reply_window_ends_at=timezone.now() - timedelta(seconds=1)
        )
    )()
    count = await sync(Message.objects.count)()
    answer = await request(
        staff, "message:send", {"chat_id": chat_id, "text": "late reply", "client_id": "c-1"}
    )
    assert answer["type"] == "error" and answer["data"]["code"] == "reply_window_closed"
    assert await sync(Message.objects.count)() == count
    assert not graph.calls("messages")
    note = await request(
        staff, "message:send", {"chat_id": chat_id, "text": "note", "kind": "note"}, rid="r2"
    )
    assert note["type"] == "ack"


async def test_api_channel_inbound_reaches_staff(ws, sink, operator, admin_user, api_inbox_for):
    inbox = await sync(api_inbox_for)(admin_user)
    staff = await ws(operator)
    payload = {"message_id": "b-1", "contact": {"id": "c-9", "name": "Bob"}, "text": "hey"}
    response = await sync(_post_api)(inbox, payload)
    assert response.status_code == 200
    frame = await receive_type(staff, "message:new", wait=5)
    assert frame["data"]["id"] == response.json()["message_id"]


@pytest.mark.services
def test_racing_copies_of_a_whatsapp_delivery_store_one_message(
    graph, admin_user, whatsapp_inbox_for
):
    assert connection.vendor == "postgresql"
    inbox = whatsapp_inbox_for(admin_user)
    payload = wa_payload(wa_message(text="only once", message_id="wamid.RACE"))
    assert _race(lambda i: _post_wa(inbox.pk, payload)) == [200] * 5
    assert WebhookUpdate.objects.count() == 1
    assert Message.objects.filter(text="only once").count() == 1
    # the same message under deliveries of other shapes
    assert (
        _race(
            lambda i: _post_wa(
                inbox.pk,
                wa_payload(
                    wa_message(text="only once", message_id="wamid.RACE"),
                    wa_message(text=f"other {i}"),
                ),
            )
        )
        == [200] * 5
    )
    assert Message.objects.filter(text="only once").count() == 1
    assert ChannelIdentity.objects.count() == 1


@pytest.mark.services
def test_racing_copies_of_an_api_channel_message_store_one(sink, admin_user, api_inbox_for):
    assert connection.vendor == "postgresql"
    inbox = api_inbox_for(admin_user)
    payload = {"message_id": "dup-1", "contact": {"id": "c-1", "name": "Ann"}, "text": "once"}
    answers = _race(lambda i: _post_api(inbox, payload))
    assert [a.status_code for a in answers] == [200] * 5
    assert len({a.json()["message_id"] for a in answers}) == 1
    assert Message.objects.filter(text="once").count() == 1
    assert ChannelIdentity.objects.count() == 1
